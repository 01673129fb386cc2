import { create, fromJson, ScalarType, toBinary, type DescField, type DescMessage, type JsonObject, type Message } from "@bufbuild/protobuf";
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import { AnySchema, isWrapperDesc, StructSchema, ValueSchema, type Any } from "@bufbuild/protobuf/wkt";

/**
 * Internal: protobuf-es's binary encoding of a message, written into one writer reused for every
 * message. `toBinary` allocates a fresh buffer per message and a second for the result, which is
 * most of its cost for the small messages a stream carries (a ~100-byte command: 1.7 µs, most of it
 * those two allocations). The encoders here follow protobuf-es's compiled writer field by field —
 * field-number order, proto3 zero values and unset explicit fields left out, packed lists, oneofs,
 * unknown fields last, wrapper fields around their bare values — so the bytes are the same (a test
 * compares them on generated messages); a `Struct` field (a JSON object) is encoded by protobuf-es. A
 * message type reaching what they do not cover (maps, groups / delimited encoding, proto2 required
 * fields) is encoded by `toBinary` itself.
 */
const writer = new BinaryWriter();

type FieldWriter = (message: Record<string, unknown>) => void;
type MessageWriter = (message: Record<string, unknown>) => void;

/** Compiled writers by message type. */
const compiled = new WeakMap<DescMessage, MessageWriter>();
/** Whether every type a message type reaches is covered here, by type. */
const covered = new WeakMap<DescMessage, boolean>();

/** The encoder of `schema`'s messages (a message of another type is refused by `toBinary`'s own check). */
export function messageEncoder(schema: DescMessage): (message: Message) => Uint8Array {
  if (!coveredType(schema)) return (message) => toBinary(schema, message);
  const write = compile(schema);
  return (message) => {
    if (message.$typeName !== schema.typeName) return toBinary(schema, message);
    try {
      write(message as unknown as Record<string, unknown>);
    } catch (error) {
      writer.finish(); // leave the shared writer empty for the next message
      throw error;
    }
    return writer.finish();
  };
}

/** A `google.protobuf.Struct` field: protobuf-es holds it as a JSON object, not a message. */
const isJsonStruct = (field: DescField & { message: DescMessage }): boolean => field.message.typeName === StructSchema.typeName && field.parent.typeName !== ValueSchema.typeName;

/** A Struct field's value (a JSON object), encoded by protobuf-es as a length-delimited child. */
function jsonStruct(no: number): (value: unknown) => void {
  return (value) => void writer.tag(no, WireType.LengthDelimited).bytes(toBinary(StructSchema, fromJson(StructSchema, value as JsonObject)));
}
const legacyRequired = 3;
const implicit = 2;

/** Internal: whether the encoders here cover `schema` and every message type it reaches (else `toBinary` encodes it). */
export function coveredType(schema: DescMessage): boolean {
  let answer = covered.get(schema);
  if (answer !== undefined) return answer;
  answer = true;
  const seen = new Set<DescMessage>();
  const pending = [schema];
  for (let type = pending.pop(); type !== undefined && answer; type = pending.pop()) {
    if (seen.has(type)) continue;
    seen.add(type);
    for (const field of type.fields) {
      if (field.fieldKind === "map" || (field.fieldKind !== "list" && field.presence === legacyRequired)) answer = false;
      const child = field.fieldKind === "message" || (field.fieldKind === "list" && field.listKind === "message") ? field : undefined;
      if (child === undefined || isJsonStruct(child)) continue; // a Struct field is encoded by protobuf-es
      if (child.delimitedEncoding) answer = false;
      pending.push(child.message);
    }
  }
  covered.set(schema, answer);
  return answer;
}

/** The writer of a covered type, compiled on first use. */
function compile(schema: DescMessage): MessageWriter {
  const known = compiled.get(schema);
  if (known !== undefined) return known;
  const fieldWriters: FieldWriter[] = [];
  const write: MessageWriter = (message) => {
    for (const writeField of fieldWriters) writeField(message);
    const unknown = message.$unknown as { no: number; wireType: WireType; data: Uint8Array }[] | undefined;
    if (unknown !== undefined) for (const { no, wireType, data } of unknown) writer.tag(no, wireType).raw(data);
  };
  compiled.set(schema, write); // before the fields: a recursive type finds itself
  for (const field of [...schema.fields].sort((a, b) => a.number - b.number)) if (field.fieldKind !== "map") fieldWriters.push(compileField(field));
  return write;
}

function compileField(field: DescField & { fieldKind: "scalar" | "enum" | "message" | "list" }): FieldWriter {
  const name = field.localName;
  const no = field.number;
  switch (field.fieldKind) {
    case "list": {
      if (field.listKind === "message") {
        const child = isJsonStruct(field) ? jsonStruct(no) : childWriter(field.message, no);
        return (message) => void (message[name] as Record<string, unknown>[]).forEach(child);
      }
      const scalar = field.listKind === "enum" ? ScalarType.INT32 : field.scalar;
      const value = scalarWriter(scalar);
      if (field.packed) {
        return (message) => {
          const items = message[name] as unknown[];
          if (items.length === 0) return;
          writer.tag(no, WireType.LengthDelimited).fork();
          for (const item of items) value(item);
          writer.join();
        };
      }
      const wireType = wireTypeOf(scalar);
      return (message) => {
        for (const item of message[name] as unknown[]) (writer.tag(no, wireType), value(item));
      };
    }
    case "message": {
      if (isJsonStruct(field)) return present(field, jsonStruct(no));
      const child = childWriter(field.message, no);
      // A singular wrapper field outside a oneof holds the bare value: the wrapper is built around it.
      if (field.oneof === undefined && isWrapperDesc(field.message)) return present(field, (value) => child({ value }));
      return present(field, (value) => child(value as Record<string, unknown>));
    }
    case "scalar":
    case "enum": {
      const scalar = field.fieldKind === "enum" ? ScalarType.INT32 : field.scalar;
      const wireType = wireTypeOf(scalar);
      const value = scalarWriter(scalar);
      return present(field, (item) => (writer.tag(no, wireType), value(item)), zeroTest(field));
    }
  }
}

/** A length-delimited child message. */
function childWriter(schema: DescMessage, no: number): (child: Record<string, unknown>) => void {
  let write: MessageWriter | undefined;
  return (child) => {
    writer.tag(no, WireType.LengthDelimited).fork();
    // Compiled on first use: a recursive type is still compiling when its fields are.
    (write ??= compile(schema))(child);
    writer.join();
  };
}

/** The field's presence rule around `write`: the selected oneof member, an explicitly set value, or a value other than zero. */
function present(field: DescField & { fieldKind: "scalar" | "enum" | "message" }, write: (value: unknown) => void, isZero?: (value: unknown) => boolean): FieldWriter {
  const name = field.localName;
  if (field.oneof !== undefined) {
    const oneof = field.oneof.localName;
    return (message) => {
      const selected = message[oneof] as { case?: string; value?: unknown };
      if (selected.case === name) write(selected.value);
    };
  }
  if (field.presence !== implicit || isZero === undefined) {
    // Explicit presence: set on the message itself (defaults live on the prototype).
    return (message) => {
      const value = message[name];
      if (value !== undefined && Object.prototype.hasOwnProperty.call(message, name)) write(value);
    };
  }
  return (message) => {
    const value = message[name];
    if (!isZero(value)) write(value);
  };
}

/** protobuf-es's zero value test for an implicit-presence field. */
function zeroTest(field: DescField & { fieldKind: "scalar" | "enum" }): (value: unknown) => boolean {
  if (field.fieldKind === "enum") {
    const zero = field.enum.values[0]?.number;
    return (value) => value === zero;
  }
  switch (field.scalar) {
    case ScalarType.BOOL:
      return (value) => value === false;
    case ScalarType.STRING:
      return (value) => value === "";
    case ScalarType.BYTES:
      return (value) => value instanceof Uint8Array && value.byteLength === 0;
    case ScalarType.DOUBLE:
    case ScalarType.FLOAT:
      return (value) => Object.is(value, 0);
    default:
      // Loose, as protobuf-es's: 0n, 0 and "0" are all zero.
      return (value) => value == 0;
  }
}

function wireTypeOf(scalar: ScalarType): WireType {
  switch (scalar) {
    case ScalarType.STRING:
    case ScalarType.BYTES:
      return WireType.LengthDelimited;
    case ScalarType.DOUBLE:
    case ScalarType.FIXED64:
    case ScalarType.SFIXED64:
      return WireType.Bit64;
    case ScalarType.FLOAT:
    case ScalarType.FIXED32:
    case ScalarType.SFIXED32:
      return WireType.Bit32;
    default:
      return WireType.Varint;
  }
}

/** The writer call for one scalar value (the writer checks ranges, as in `toBinary`). */
function scalarWriter(scalar: ScalarType): (value: unknown) => void {
  type Value = never;
  const calls: Record<ScalarType, (value: Value) => unknown> = {
    [ScalarType.DOUBLE]: (value) => writer.double(value),
    [ScalarType.FLOAT]: (value) => writer.float(value),
    [ScalarType.INT64]: (value) => writer.int64(value),
    [ScalarType.UINT64]: (value) => writer.uint64(value),
    [ScalarType.INT32]: (value) => writer.int32(value),
    [ScalarType.FIXED64]: (value) => writer.fixed64(value),
    [ScalarType.FIXED32]: (value) => writer.fixed32(value),
    [ScalarType.BOOL]: (value) => writer.bool(value),
    [ScalarType.STRING]: (value) => writer.string(value),
    [ScalarType.BYTES]: (value) => writer.bytes(value),
    [ScalarType.UINT32]: (value) => writer.uint32(value),
    [ScalarType.SFIXED32]: (value) => writer.sfixed32(value),
    [ScalarType.SFIXED64]: (value) => writer.sfixed64(value),
    [ScalarType.SINT32]: (value) => writer.sint32(value),
    [ScalarType.SINT64]: (value) => writer.sint64(value),
  };
  return calls[scalar] as (value: unknown) => void;
}

/** Encoders by message type, for `pack`. */
const encoders = new WeakMap<DescMessage, (message: Message) => Uint8Array>();

/** Internal: `anyPack(schema, message)` — the same `Any` — with the message encoded by `messageEncoder`. */
export function pack(schema: DescMessage, message: Message): Any {
  let encode = encoders.get(schema);
  if (encode === undefined) encoders.set(schema, (encode = messageEncoder(schema)));
  return create(AnySchema, { typeUrl: `type.googleapis.com/${schema.typeName}`, value: encode(message) });
}
