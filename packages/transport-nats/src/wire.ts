import { fromBinary, isMessage, toBinary, type DescMessage, type Message } from "@bufbuild/protobuf";
import type { GenMessage } from "@bufbuild/protobuf/codegenv2";
import { headers as natsHeaders, type Msg, type MsgHdrs } from "@nats-io/transport-node";
import { errorFromInfo, InternalError, InvalidArgumentError, isCommandError, toErrorInfo, type CommandError, type CommandErrorInfo, type CommandFailedError, type ServiceKey } from "@streamcmd/core";
import { isCommandErrorCode, type TraceContext } from "@streamcmd/core";

/** Internal: the headers of the cluster protocol (NATS headers, so the payload stays the bare protobuf). */
export const header = {
  kind: "Sc-Kind",
  timeoutMs: "Sc-Timeout-Ms",
  queueTimeoutMs: "Sc-Queue-Timeout-Ms",
  deadline: "Sc-Deadline",
  idempotencyKey: "Sc-Idempotency-Key",
  /** On an acknowledgement: the instance (this run of the node) that took the call, and its node id. */
  ack: "Sc-Ack",
  node: "Sc-Node",
  outcome: "Sc-Outcome",
  commandId: "Sc-Command-Id",
  /** The caller's W3C trace context, under its standard names. */
  traceparent: "traceparent",
  tracestate: "tracestate",
} as const;

/** Internal: what a request asks of the node holding the client. */
export type RequestKind = "execute" | "post" | "probe";

/** Internal: a request as the holding node reads it. */
export interface ClusterRequest {
  kind: RequestKind;
  timeoutMs: number;
  queueTimeoutMs: number;
  /** Wall-clock ms after which the caller no longer waits (execute only). */
  deadline: number | undefined;
  idempotencyKey: string | undefined;
  /** The caller's W3C trace context, when it is traced. */
  trace: TraceContext | undefined;
}

/** Internal: the protobuf message types of a service (its definition's `schemas`), required to cross nodes. */
export interface Schemas {
  readonly command: GenMessage<Message>;
  readonly reply: GenMessage<Message>;
}

function isMessageDesc(value: unknown): value is DescMessage {
  return typeof value === "object" && value !== null && (value as { kind?: unknown }).kind === "message";
}

/** Internal: the schemas of `service` (a definition or a hub), or a clear `InvalidArgumentError` saying how to add them. */
export function schemasOf(service: ServiceKey<unknown, unknown>): Schemas {
  // A definition carries them; a hub, on its definition.
  const holder = service as { schemas?: { command?: unknown; reply?: unknown }; definition?: { schemas?: { command?: unknown; reply?: unknown } } };
  const schemas = holder.schemas ?? holder.definition?.schemas;
  if (isMessageDesc(schemas?.command) && isMessageDesc(schemas.reply)) return schemas as Schemas;
  throw new InvalidArgumentError(
    `streaming service "${service.name}" has no protobuf schemas, so it cannot be reached across nodes: ` +
      `define it with defineStreamingService({ name, binding, schemas: { command: YourCommandSchema, reply: YourReplySchema } })`,
    { service: service.name },
  );
}

/** Internal: NATS headers from plain pairs (undefined values are left out). */
export function headersOf(values: Record<string, string | number | undefined>): MsgHdrs {
  const result = natsHeaders();
  for (const [key, value] of Object.entries(values)) if (value !== undefined) result.set(key, String(value));
  return result;
}

/** Internal: reads a request's headers; a malformed one is an `InvalidArgumentError` (answered, never thrown past the node). */
export function readRequest(msg: Msg): ClusterRequest {
  const get = (name: string) => msg.headers?.get(name) ?? "";
  const kind = get(header.kind);
  if (kind !== "execute" && kind !== "post" && kind !== "probe") throw new InvalidArgumentError(`unknown request kind ${JSON.stringify(kind)}`);
  const count = (name: string) => {
    const value = Number(get(name) || "0");
    if (!Number.isSafeInteger(value) || value < 0) throw new InvalidArgumentError(`${name} must be a whole number of ms, got ${JSON.stringify(get(name))}`);
    return value;
  };
  const deadline = get(header.deadline) === "" ? undefined : count(header.deadline);
  const key = get(header.idempotencyKey);
  const traceparent = get(header.traceparent);
  const tracestate = get(header.tracestate);
  const trace = traceparent === "" ? undefined : tracestate === "" ? { traceparent } : { traceparent, tracestate };
  return { kind, timeoutMs: count(header.timeoutMs), queueTimeoutMs: count(header.queueTimeoutMs), deadline, idempotencyKey: key === "" ? undefined : key, trace };
}

/** Internal: an error as plain data, with the failure's reply (protobuf, base64) when it has one. */
export interface ErrorBody {
  info: CommandErrorInfo;
  reply?: string;
}

/** Internal: `error` as an `ErrorBody`. */
export function errorBody(error: unknown, schemas: Schemas | undefined): ErrorBody {
  const body: ErrorBody = { info: toErrorInfo(error) };
  const reply = isCommandError(error, "command_failed") ? (error as CommandFailedError).reply : undefined;
  if (schemas !== undefined && (reply as Message | undefined)?.$typeName === schemas.reply.typeName) {
    body.reply = Buffer.from(toBinary(schemas.reply, reply as Message)).toString("base64");
  }
  return body;
}

/** Internal: the typed error an `ErrorBody` stands for (an unreadable one is an `InternalError`). */
export function errorFromBody(body: Partial<ErrorBody> | undefined, schemas: Schemas, where: { service: string; clientId: string }): CommandError {
  try {
    const info = body?.info;
    if (info === undefined || !isCommandErrorCode(info.code) || typeof info.message !== "string") throw new Error("not an error answer");
    const reply = typeof body?.reply === "string" ? fromBinary(schemas.reply, Buffer.from(body.reply, "base64")) : undefined;
    return errorFromInfo(info, reply === undefined ? {} : { reply });
  } catch (cause) {
    return new InternalError("the node holding the client answered with an unreadable error", { ...where, cause });
  }
}

/** Internal: the body of an error answer. */
export function encodeError(error: unknown, schemas: Schemas | undefined): Uint8Array {
  return Buffer.from(JSON.stringify(errorBody(error, schemas)));
}

/** Internal: the typed error an error answer stands for. */
export function decodeError(data: Uint8Array, schemas: Schemas, where: { service: string; clientId: string }): CommandError {
  let body: Partial<ErrorBody> | undefined;
  try {
    body = JSON.parse(Buffer.from(data).toString("utf8")) as Partial<ErrorBody>;
  } catch {
    body = undefined;
  }
  return errorFromBody(body, schemas, where);
}

/** Internal: the service's schemas and the command as bytes; refuses (before anything is sent) a command of the wrong type. */
export function packCommand(service: ServiceKey<unknown, unknown>, command: unknown): { schemas: Schemas; body: Uint8Array } {
  const schemas = schemasOf(service);
  if (!isMessage(command, schemas.command)) {
    const got = (command as { $typeName?: unknown } | null)?.$typeName;
    throw new InvalidArgumentError(`a command of "${service.name}" must be a ${schemas.command.typeName}${typeof got === "string" ? `, got a ${got}` : ""}`, { service: service.name });
  }
  return { schemas, body: toBinary(schemas.command, command) };
}

/** Internal: a reply's bytes as the service's reply message. */
export function unpackReply(schemas: Schemas, data: Uint8Array, where: { service: string; clientId: string }): Message {
  try {
    return fromBinary(schemas.reply, data);
  } catch (cause) {
    throw new InternalError(`the node holding the client answered with something that is not a ${schemas.reply.typeName}`, { ...where, cause });
  }
}
