import { create, isMessage, type DescMessage, type MessageInitShape } from "@bufbuild/protobuf";
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import type { Any } from "@bufbuild/protobuf/wkt";
import { messageEncoder } from "./message-encoder.js";
import type { CommandErrorDetailSchema, ExecuteRequestSchema, ExecuteStreamRequestSchema, ExecuteStreamResponseSchema } from "./gen/streamcmd/v1/command_router_pb.js";

/**
 * Internal: encoders for the messages the router's `ExecuteStream` carries per call — the stream's own
 * envelope, written by the library on every command and answer. They write the bytes protobuf-es's
 * `toBinary(schema, create(schema, init))` writes (field order, proto3 zero values left out, unknown
 * fields last; a test compares them on generated messages), from the init shape itself and into one
 * writer reused for every message: `toBinary` spends most of its time on the two buffers it allocates
 * per message and `create` on copying the init into a message. The commands and replies inside (the
 * packed `Any` bytes) are encoded by protobuf-es as before.
 */
const writer = new BinaryWriter();

type StreamRequestInit = MessageInitShape<typeof ExecuteStreamRequestSchema>;
type StreamResponseInit = MessageInitShape<typeof ExecuteStreamResponseSchema>;
type ExecuteInit = MessageInitShape<typeof ExecuteRequestSchema>;
type ErrorDetailInit = MessageInitShape<typeof CommandErrorDetailSchema>;
/** A packed message: as `anyPack` gives it, or as an init shape. */
type AnyInit = Partial<Pick<Any, "typeUrl" | "value">>;
interface UnknownField {
  readonly no: number;
  readonly wireType: WireType;
  readonly data: Uint8Array;
}

/** `ExecuteStreamRequest` (a batch of calls) as protobuf bytes. */
export function encodeStreamRequest(init: StreamRequestInit): Uint8Array {
  return encoded(() => streamRequest(init));
}

/** `ExecuteStreamResponse` (a batch of answers) as protobuf bytes. */
export function encodeStreamResponse(init: StreamResponseInit): Uint8Array {
  return encoded(() => streamResponse(init));
}

/** What `write` wrote; the shared writer is left empty also when `write` throws (a value out of range). */
function encoded(write: () => void): Uint8Array {
  try {
    write();
  } catch (error) {
    writer.finish();
    throw error;
  }
  return writer.finish();
}

function streamRequest(init: StreamRequestInit): void {
  for (const call of init.calls ?? []) {
    writer.tag(1, WireType.LengthDelimited).fork();
    uint64(1, call.callId);
    const kind = call.kind;
    if (kind?.case === "execute") {
      writer.tag(2, WireType.LengthDelimited).fork();
      executeRequest(kind.value);
      writer.join();
    } else if (kind?.case === "cancel") {
      writer.tag(3, WireType.LengthDelimited).fork();
      unknown(kind.value);
      writer.join();
    }
    unknown(call);
    writer.join();
  }
  unknown(init);
}

function streamResponse(init: StreamResponseInit): void {
  for (const result of init.results ?? []) {
    writer.tag(1, WireType.LengthDelimited).fork();
    uint64(1, result.callId);
    const outcome = result.outcome;
    if (outcome?.case === "reply") {
      writer.tag(2, WireType.LengthDelimited).fork();
      packed(1, outcome.value.reply);
      unknown(outcome.value);
      writer.join();
    } else if (outcome?.case === "error") {
      writer.tag(3, WireType.LengthDelimited).fork();
      errorDetail(outcome.value);
      writer.join();
    }
    string(4, result.message);
    unknown(result);
    writer.join();
  }
  unknown(init);
}

function executeRequest(init: ExecuteInit): void {
  string(1, init.service);
  string(2, init.clientId);
  packed(3, init.command);
  uint32(4, init.timeoutMs);
  uint32(5, init.waitForConnectMs);
  uint32(6, init.queueTimeoutMs);
  string(7, init.idempotencyKey);
  string(8, init.traceparent);
  string(9, init.tracestate);
  unknown(init);
}

function errorDetail(init: ErrorDetailInit): void {
  string(1, init.code);
  string(2, init.service);
  string(3, init.clientId);
  string(4, init.commandId);
  string(5, init.clientErrorCode);
  string(6, init.clientErrorMessage);
  packed(7, init.reply);
  unknown(init);
}

/** A `google.protobuf.Any` field: written when set (explicit presence), empty or not. */
function packed(field: number, any: AnyInit | undefined): void {
  if (any === undefined) return;
  writer.tag(field, WireType.LengthDelimited).fork();
  string(1, any.typeUrl);
  if (any.value !== undefined && any.value.byteLength > 0) writer.tag(2, WireType.LengthDelimited).bytes(any.value);
  unknown(any);
  writer.join();
}

function string(field: number, value: string | undefined): void {
  if (value !== undefined && value !== "") writer.tag(field, WireType.LengthDelimited).string(value);
}

function uint32(field: number, value: number | undefined): void {
  if (value !== undefined && value !== 0) writer.tag(field, WireType.Varint).uint32(value);
}

function uint64(field: number, value: bigint | number | string | undefined): void {
  // Loose comparison, as protobuf-es's: 0n, 0 and "0" are all zero.
  if (value !== undefined && value != 0) writer.tag(field, WireType.Varint).uint64(value);
}

/** Fields `message` was decoded with but does not know (a message has them, an init shape not), written after its own, as protobuf-es does. */
function unknown(message: object): void {
  if (!("$unknown" in message) || !Array.isArray(message.$unknown)) return;
  for (const { no, wireType, data } of message.$unknown as UnknownField[]) writer.tag(no, wireType).raw(data);
}

/**
 * Internal: the encoder of `schema`'s messages (given as messages or init shapes) for a stream's
 * frames: the precomputed one of a router stream message, `messageEncoder`'s for any other.
 */
export function encoderOf<T extends DescMessage>(schema: T): (value: MessageInitShape<T>) => Uint8Array {
  const precomputed: ((value: never) => Uint8Array) | undefined =
    schema.typeName === "streamcmd.v1.ExecuteStreamRequest" ? encodeStreamRequest : schema.typeName === "streamcmd.v1.ExecuteStreamResponse" ? encodeStreamResponse : undefined;
  if (precomputed !== undefined) return precomputed as (value: MessageInitShape<T>) => Uint8Array;
  const encode = messageEncoder(schema);
  return (value) => encode(isMessage(value, schema) ? value : create(schema, value));
}
