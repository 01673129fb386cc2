import { create, fromBinary, toBinary, type MessageInitShape } from "@bufbuild/protobuf";
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { encodeStreamRequest, encodeStreamResponse, encoderOf } from "./router-codec.js";
import { ExecuteStreamRequestSchema, ExecuteStreamResponseSchema } from "./gen/streamcmd/v1/command_router_pb.js";

// Zero values, empty strings and non-ASCII text are the cases a hand-written encoder gets wrong.
const text = fc.oneof(fc.constant(""), fc.string({ maxLength: 12 }), fc.string({ unit: "grapheme", maxLength: 12 }));
const u32 = fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 0xffffffff }));
const u64 = fc.oneof(fc.constant(0n), fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }));
const bytes = fc.uint8Array({ maxLength: 40 });
const any = fc.option(fc.record({ typeUrl: text, value: bytes }, { requiredKeys: [] }), { nil: undefined });
const execute = fc.record(
  { service: text, clientId: text, command: any, timeoutMs: u32, waitForConnectMs: u32, queueTimeoutMs: u32, idempotencyKey: text, traceparent: text, tracestate: text },
  { requiredKeys: [] },
);
const call = fc.record(
  {
    callId: u64,
    kind: fc.oneof(
      fc.record({ case: fc.constant("execute" as const), value: execute }),
      fc.record({ case: fc.constant("cancel" as const), value: fc.constant({}) }),
      fc.constant({ case: undefined }),
    ),
  },
  { requiredKeys: [] },
);
const errorDetail = fc.record(
  { code: text, service: text, clientId: text, commandId: text, clientErrorCode: text, clientErrorMessage: text, reply: any },
  { requiredKeys: [] },
);
const result = fc.record(
  {
    callId: u64,
    outcome: fc.oneof(
      fc.record({ case: fc.constant("reply" as const), value: fc.record({ reply: any }, { requiredKeys: [] }) }),
      fc.record({ case: fc.constant("error" as const), value: errorDetail }),
      fc.constant({ case: undefined }),
    ),
    message: text,
  },
  { requiredKeys: [] },
);
const request = fc.record({ calls: fc.array(call, { maxLength: 5 }) }, { requiredKeys: [] });
const response = fc.record({ results: fc.array(result, { maxLength: 5 }) }, { requiredKeys: [] });

describe("the router stream's precomputed encoders write protobuf-es's bytes", () => {
  it("ExecuteStreamRequest, from init shapes and from messages", () => {
    fc.assert(
      fc.property(request, (init: MessageInitShape<typeof ExecuteStreamRequestSchema>) => {
        const message = create(ExecuteStreamRequestSchema, init);
        const expected = toBinary(ExecuteStreamRequestSchema, message);
        expect(encodeStreamRequest(init)).toEqual(expected);
        expect(encodeStreamRequest(message)).toEqual(expected);
      }),
      { numRuns: 500 },
    );
  });

  it("ExecuteStreamResponse, from init shapes and from messages", () => {
    fc.assert(
      fc.property(response, (init: MessageInitShape<typeof ExecuteStreamResponseSchema>) => {
        const message = create(ExecuteStreamResponseSchema, init);
        const expected = toBinary(ExecuteStreamResponseSchema, message);
        expect(encodeStreamResponse(init)).toEqual(expected);
        expect(encodeStreamResponse(message)).toEqual(expected);
      }),
      { numRuns: 500 },
    );
  });

  it("keeps the unknown fields of a decoded message where protobuf-es puts them", () => {
    const known = toBinary(ExecuteStreamResponseSchema, create(ExecuteStreamResponseSchema, { results: [{ callId: 7n, message: "m" }] }));
    // A newer peer's field 9 on the result and field 15 on the batch.
    const result = new BinaryWriter().tag(1, WireType.Varint).uint64(7n).tag(4, WireType.LengthDelimited).string("m").tag(9, WireType.Varint).uint32(42).finish();
    const withUnknown = new BinaryWriter().tag(1, WireType.LengthDelimited).bytes(result).tag(15, WireType.LengthDelimited).string("later").finish();
    const decoded = fromBinary(ExecuteStreamResponseSchema, withUnknown);
    expect(decoded.results[0]?.$unknown).toHaveLength(1);
    expect(encodeStreamResponse(decoded)).toEqual(toBinary(ExecuteStreamResponseSchema, decoded));
    expect(encodeStreamResponse(decoded)).not.toEqual(known);
  });

  it("a value out of range throws as toBinary does, and the next message is still right", () => {
    expect(() => encodeStreamRequest({ calls: [{ callId: 1n, kind: { case: "execute", value: { service: "s", timeoutMs: 2 ** 33 } } }] })).toThrow();
    const init = { calls: [{ callId: 2n, kind: { case: "cancel" as const, value: {} } }] };
    expect(encodeStreamRequest(init)).toEqual(toBinary(ExecuteStreamRequestSchema, create(ExecuteStreamRequestSchema, init)));
  });

  it("encoderOf picks the precomputed encoder for the router's stream messages only", () => {
    expect(encoderOf(ExecuteStreamRequestSchema)).toBe(encodeStreamRequest);
    expect(encoderOf(ExecuteStreamResponseSchema)).toBe(encodeStreamResponse);
  });
});
