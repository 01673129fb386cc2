import { create, createFileRegistry, ScalarType, toBinary, type DescField, type DescMessage, type Message } from "@bufbuild/protobuf";
import {
  DoubleValueSchema,
  FieldDescriptorProto_Label as Label,
  FieldDescriptorProto_Type as Type,
  file_google_protobuf_struct,
  file_google_protobuf_wrappers,
  FileDescriptorProtoSchema,
  FloatValueSchema,
  isWrapperDesc,
  anyPack,
  ApiSchema,
  StructSchema,
  TypeSchema,
} from "@bufbuild/protobuf/wkt";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import * as demoBot from "@streamcmd/demo-protocol";
import { coveredType, messageEncoder, pack } from "./message-encoder.js";
import { ExecuteStreamRequestSchema, ExecuteStreamResponseSchema } from "./gen/streamcmd/v1/command_router_pb.js";

/** A proto3 message with every scalar type, singular, optional and in lists, an enum, a oneof and a recursive child. */
const scalars: [string, Type][] = [
  ["d", Type.DOUBLE], ["f", Type.FLOAT], ["i64", Type.INT64], ["u64", Type.UINT64], ["i32", Type.INT32], ["fx64", Type.FIXED64],
  ["fx32", Type.FIXED32], ["b", Type.BOOL], ["s", Type.STRING], ["by", Type.BYTES], ["u32", Type.UINT32], ["sfx32", Type.SFIXED32],
  ["sfx64", Type.SFIXED64], ["s32", Type.SINT32], ["s64", Type.SINT64],
];
const field = (name: string, number: number, type: Type, more: object = {}) => ({ name, number, type, label: Label.OPTIONAL, jsonName: name, ...more });
const allTypesFile = create(FileDescriptorProtoSchema, {
  name: "encoder_test.proto",
  package: "encoder.test",
  dependency: ["google/protobuf/wrappers.proto", "google/protobuf/struct.proto"],
  syntax: "proto3",
  enumType: [{ name: "Colour", value: [{ name: "COLOUR_UNSPECIFIED", number: 0 }, { name: "COLOUR_RED", number: 1 }, { name: "COLOUR_BIG", number: 1000 }] }],
  messageType: [
    {
      name: "AllTypes",
      field: [
        ...scalars.map(([name, type], i) => field(name, i + 1, type)),
        ...scalars.map(([name, type], i) => field(`opt_${name}`, i + 101, type, { proto3Optional: true, oneofIndex: i + 1 })),
        ...scalars.map(([name, type], i) => field(`list_${name}`, i + 201, type, { label: Label.REPEATED })),
        field("colour", 300, Type.ENUM, { typeName: ".encoder.test.Colour" }),
        field("colours", 301, Type.ENUM, { typeName: ".encoder.test.Colour", label: Label.REPEATED }),
        field("child", 302, Type.MESSAGE, { typeName: ".encoder.test.AllTypes" }),
        field("children", 303, Type.MESSAGE, { typeName: ".encoder.test.AllTypes", label: Label.REPEATED }),
        field("pick_text", 304, Type.STRING, { oneofIndex: 0 }),
        field("pick_child", 305, Type.MESSAGE, { typeName: ".encoder.test.AllTypes", oneofIndex: 0 }),
        field("pick_number", 7, Type.SINT64, { oneofIndex: 0 }),
        field("pick_wrapped", 306, Type.MESSAGE, { typeName: ".google.protobuf.Int32Value", oneofIndex: 0 }),
        field("wrapped_int", 307, Type.MESSAGE, { typeName: ".google.protobuf.Int32Value" }),
        field("wrapped_text", 308, Type.MESSAGE, { typeName: ".google.protobuf.StringValue" }),
        field("wrapped_list", 309, Type.MESSAGE, { typeName: ".google.protobuf.BoolValue", label: Label.REPEATED }),
        field("config", 310, Type.MESSAGE, { typeName: ".google.protobuf.Struct" }),
        field("configs", 311, Type.MESSAGE, { typeName: ".google.protobuf.Struct", label: Label.REPEATED }),
      ],
      oneofDecl: [{ name: "pick" }, ...scalars.map(([name]) => ({ name: `_opt_${name}` }))],
    },
  ],
});
const wktFiles = new Map([file_google_protobuf_wrappers, file_google_protobuf_struct].map((file) => [file.proto.name, file]));
const AllTypesSchema = createFileRegistry(allTypesFile, (name) => wktFiles.get(name)).getMessage("encoder.test.AllTypes") as DescMessage;
const json = fc.dictionary(fc.string({ maxLength: 5 }), fc.oneof(fc.integer(), fc.string({ maxLength: 5 }), fc.boolean(), fc.constant(null), fc.array(fc.integer(), { maxLength: 2 })), { maxKeys: 3 });

/** Values protobuf-es accepts for a scalar type, zeros and extremes included. */
function scalarValue(scalar: ScalarType): fc.Arbitrary<unknown> {
  const int64 = fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n });
  const uint64 = fc.bigInt({ min: 0n, max: 2n ** 64n - 1n });
  switch (scalar) {
    case ScalarType.DOUBLE:
      return fc.oneof(fc.constant(0), fc.constant(-0), fc.double());
    case ScalarType.FLOAT:
      return fc.oneof(fc.constant(0), fc.constant(-0), fc.float());
    case ScalarType.INT64: case ScalarType.SFIXED64: case ScalarType.SINT64:
      return fc.oneof(fc.constant(0n), int64);
    case ScalarType.UINT64: case ScalarType.FIXED64:
      return fc.oneof(fc.constant(0n), uint64);
    case ScalarType.INT32: case ScalarType.SFIXED32: case ScalarType.SINT32:
      return fc.oneof(fc.constant(0), fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }));
    case ScalarType.UINT32: case ScalarType.FIXED32:
      return fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 2 ** 32 - 1 }));
    case ScalarType.BOOL:
      return fc.boolean();
    case ScalarType.STRING:
      return fc.oneof(fc.constant(""), fc.string({ unit: "grapheme", maxLength: 10 }));
    case ScalarType.BYTES:
      return fc.uint8Array({ maxLength: 20 });
  }
}

/** Init shapes of `schema`, `depth` levels of nesting at most. */
function initOf(schema: DescMessage, depth = 2): fc.Arbitrary<Record<string, unknown>> {
  const parts: Record<string, fc.Arbitrary<unknown>> = {};
  const valueOf = (f: DescField): fc.Arbitrary<unknown> | undefined => {
    if (f.fieldKind === "scalar") return scalarValue(f.scalar);
    if (f.fieldKind === "enum") return fc.constantFrom(...f.enum.values.map((value) => value.number));
    if (f.fieldKind === "message" && f.message.typeName === StructSchema.typeName) return json;
    if (f.fieldKind === "message" && f.oneof === undefined && isWrapperDesc(f.message)) {
      const value = f.message.fields[0];
      return value?.fieldKind === "scalar" ? fc.option(scalarValue(value.scalar), { nil: undefined }) : undefined;
    }
    if (f.fieldKind === "message") return depth > 0 ? initOf(f.message, depth - 1) : undefined;
    if (f.fieldKind === "list") {
      if (f.listKind === "message" && f.message.typeName === StructSchema.typeName) return fc.array(json, { maxLength: 2 });
      const item = f.listKind === "scalar" ? scalarValue(f.scalar) : f.listKind === "enum" ? fc.constantFrom(...f.enum.values.map((value) => value.number)) : depth > 0 ? initOf(f.message, depth - 1) : undefined;
      return item === undefined ? undefined : fc.array(item, { maxLength: 3 });
    }
    return undefined;
  };
  for (const f of schema.fields) {
    if (f.oneof !== undefined && !f.proto.proto3Optional) continue;
    const value = valueOf(f);
    if (value !== undefined) parts[f.localName] = value;
  }
  for (const oneof of schema.oneofs.filter((o) => !o.fields.some((f) => f.proto.proto3Optional))) {
    const members = oneof.fields.flatMap((f) => {
      const value = valueOf(f);
      return value === undefined ? [] : [value.map((v) => ({ case: f.localName, value: v }))];
    });
    parts[oneof.localName] = fc.oneof(fc.constant({ case: undefined }), ...members);
  }
  return fc.record(parts, { requiredKeys: [] });
}

function sameBytes(schema: DescMessage, runs: number): void {
  expect(coveredType(schema)).toBe(true); // encoded here, not by toBinary
  const encode = messageEncoder(schema);
  fc.assert(
    fc.property(initOf(schema), (init) => {
      const message: Message = create(schema, init);
      expect(encode(message)).toEqual(toBinary(schema, message));
    }),
    { numRuns: runs },
  );
}

describe("messageEncoder writes the bytes protobuf-es's toBinary writes", () => {
  it("every scalar type, implicit and optional, packed lists, enums, a oneof, recursion, wrapper and Struct fields", () => sameBytes(AllTypesSchema, 1_000));
  it("the demo protocol's stream messages", () => {
    sameBytes(demoBot.ConnectRequestSchema, 300);
    sameBytes(demoBot.ConnectResponseSchema, 300);
  });
  it("the router's stream messages and well-known types", () => {
    for (const schema of [ExecuteStreamRequestSchema, ExecuteStreamResponseSchema, TypeSchema, ApiSchema, DoubleValueSchema, FloatValueSchema]) sameBytes(schema, 200);
  });
  it("types it does not cover (maps, proto2 required fields) go to toBinary, with the same result", () => {
    expect(coveredType(StructSchema)).toBe(false);
    expect(coveredType(FileDescriptorProtoSchema)).toBe(false);
    const struct = create(StructSchema, { fields: { a: { kind: { case: "numberValue", value: 1 } } } });
    expect(messageEncoder(StructSchema)(struct)).toEqual(toBinary(StructSchema, struct));
    expect(messageEncoder(FileDescriptorProtoSchema)(allTypesFile)).toEqual(toBinary(FileDescriptorProtoSchema, allTypesFile));
  });
  it("keeps unknown fields, last, and refuses a message of another type as toBinary does", () => {
    const message = create(AllTypesSchema, { s: "known" });
    message.$unknown = [{ no: 999, wireType: 2, data: new Uint8Array([3, 97, 98, 99]) }];
    expect(messageEncoder(AllTypesSchema)(message)).toEqual(toBinary(AllTypesSchema, message));
    const other = create(DoubleValueSchema, { value: 1 });
    expect(() => messageEncoder(AllTypesSchema)(other)).toThrow();
  });
  it("pack gives the Any anyPack gives", () => {
    const command = create(demoBot.ConnectResponseSchema, { commandId: "c-1", command: { case: "start", value: { reason: "r" } } });
    expect(pack(demoBot.ConnectResponseSchema, command)).toEqual(anyPack(demoBot.ConnectResponseSchema, command));
  });
  it("a value out of range throws, and the next message is still right", () => {
    const bad = create(AllTypesSchema, { u32: 2 ** 33 });
    expect(() => messageEncoder(AllTypesSchema)(bad)).toThrow();
    const good = create(AllTypesSchema, { u32: 7, child: { s: "x" } });
    expect(messageEncoder(AllTypesSchema)(good)).toEqual(toBinary(AllTypesSchema, good));
  });
});
