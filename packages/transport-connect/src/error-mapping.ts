import { create, type DescMessage, type Message } from "@bufbuild/protobuf";
import { anyUnpack, type Any } from "@bufbuild/protobuf/wkt";
import { pack } from "./message-encoder.js";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  CommandCancelledError,
  CommandTimeoutError,
  InternalError,
  RouterUnavailableError,
  UnauthenticatedError,
  PermissionDeniedError,
  InvalidArgumentError,
  errorFromInfo,
  isCommandError,
  isCommandErrorCode,
  toErrorInfo,
  type CommandError,
  type CommandErrorCode,
  type CommandFailedError,
} from "@streamcmd/core";
import { CommandErrorDetailSchema, type CommandErrorDetail } from "./gen/streamcmd/v1/command_router_pb.js";
import { describeTlsFailure } from "./tls-options.js";

/** The Connect status each streamcmd error travels as. */
export const connectCodeOf: Readonly<Record<CommandErrorCode, Code>> = Object.freeze({
  client_not_connected: Code.NotFound,
  command_timeout: Code.DeadlineExceeded,
  // Not Unavailable: generic gRPC retry policies retry that, and the client may have run the command.
  client_disconnected: Code.Aborted,
  command_failed: Code.FailedPrecondition,
  queue_full: Code.ResourceExhausted,
  command_cancelled: Code.Canceled,
  service_not_found: Code.NotFound,
  service_already_registered: Code.AlreadyExists,
  service_closed: Code.Unavailable,
  unauthenticated: Code.Unauthenticated,
  permission_denied: Code.PermissionDenied,
  invalid_argument: Code.InvalidArgument,
  protocol_error: Code.InvalidArgument,
  duplicate_client: Code.AlreadyExists,
  heartbeat_timeout: Code.DeadlineExceeded,
  client_replaced: Code.Aborted,
  rate_limited: Code.ResourceExhausted,
  router_unavailable: Code.Unavailable,
  // Not Unavailable either: the node holding the client may have run the command before it went silent.
  node_lost: Code.Aborted,
  closed: Code.FailedPrecondition,
  internal: Code.Internal,
});

/**
 * Turns any error into the ConnectError to send: a streamcmd error keeps its class through a
 * `CommandErrorDetail`; a ConnectError (e.g. from a stricter interceptor) passes through; anything
 * else becomes Internal without leaking its message.
 */
export function toConnectError(error: unknown, replyOf?: (reply: unknown) => Any | undefined): ConnectError {
  if (error instanceof ConnectError) return error;
  if (!isCommandError(error)) {
    return new ConnectError("internal error", Code.Internal, undefined, undefined, error);
  }
  const detail = toErrorDetail(error, replyOf);
  return new ConnectError(error.message, connectCodeOf[error.code], undefined, [{ desc: CommandErrorDetailSchema, value: detail }], error);
}

/** The `CommandErrorDetail` describing `error` (anything not a streamcmd error is `internal`, its message withheld). */
export function toErrorDetail(error: unknown, replyOf?: (reply: unknown) => Any | undefined): CommandErrorDetail {
  const info = isCommandError(error) ? toErrorInfo(error) : { code: "internal" as const, message: "internal error" };
  const detail = create(CommandErrorDetailSchema, {
    code: info.code,
    service: info.service ?? "",
    clientId: info.clientId ?? "",
    commandId: info.commandId ?? "",
    clientErrorCode: info.clientErrorCode ?? "",
    clientErrorMessage: info.clientErrorMessage ?? "",
  });
  if (isCommandError(error, "command_failed") && replyOf !== undefined) {
    const reply = replyOf((error as CommandFailedError).reply);
    if (reply !== undefined) detail.reply = reply;
  }
  return detail;
}

/**
 * Rebuilds the typed error a `CommandErrorDetail` describes (a failure's reply decoded with
 * `replySchema`); undefined for a code this version does not know.
 */
export function fromErrorDetail(detail: CommandErrorDetail, message: string, replySchema?: DescMessage, cause?: unknown): CommandError | undefined {
  if (!isCommandErrorCode(detail.code)) return undefined;
  const extra: { cause: unknown; reply?: unknown } = { cause };
  if (detail.reply !== undefined && replySchema !== undefined) extra.reply = anyUnpack(detail.reply, replySchema);
  return errorFromInfo(
    {
      code: detail.code,
      message,
      ...(detail.service ? { service: detail.service } : {}),
      ...(detail.clientId ? { clientId: detail.clientId } : {}),
      ...(detail.commandId ? { commandId: detail.commandId } : {}),
      ...(detail.clientErrorCode ? { clientErrorCode: detail.clientErrorCode } : {}),
      ...(detail.clientErrorMessage ? { clientErrorMessage: detail.clientErrorMessage } : {}),
    },
    extra,
  );
}

/**
 * Rebuilds the typed streamcmd error a ConnectError stands for: from its `CommandErrorDetail` when
 * it has one (the same class the server threw), otherwise from the status code (the router could
 * not be reached, the deadline passed on the way, the call was cancelled, …).
 */
export function fromConnectError(error: unknown, replySchema?: DescMessage, call?: { signal?: AbortSignal | undefined }): CommandError {
  if (isCommandError(error)) return error;
  const connectError = ConnectError.from(error);
  const [detail] = connectError.findDetails(CommandErrorDetailSchema);
  const typed = detail === undefined ? undefined : fromErrorDetail(detail, connectError.rawMessage, replySchema, connectError);
  if (typed !== undefined) return typed;
  const options = { cause: connectError };
  const message = connectError.rawMessage;
  const tls = describeTlsFailure(connectError);
  if (tls !== undefined) return new RouterUnavailableError(`cannot reach the command router over TLS: ${tls}`, options);
  // No detail and the caller did not cancel: the connection broke (a peer killed mid-call, an HTTP/2
  // stream reset, a refused stream): the router was unreachable for this call, not cancelled by anyone.
  if (call !== undefined && call.signal?.aborted !== true && brokenConnection(connectError)) {
    return new RouterUnavailableError(`the connection to the command router broke: ${message}`, options);
  }
  switch (connectError.code) {
    case Code.Canceled:
      return new CommandCancelledError(`the call was cancelled: ${message}`, options);
    case Code.DeadlineExceeded:
      return new CommandTimeoutError(`the call's deadline passed: ${message}`, options);
    case Code.Unavailable:
      return new RouterUnavailableError(`the command router is unavailable: ${message}`, options);
    case Code.Unauthenticated:
      return new UnauthenticatedError(message, options);
    case Code.PermissionDenied:
      return new PermissionDeniedError(message, options);
    case Code.InvalidArgument:
      return new InvalidArgumentError(message, options);
    default:
      return new InternalError(`[${Code[connectError.code]}] ${message}`, options);
  }
}

/** A transport failure rather than a status the server sent: a reset or closed HTTP/2 stream, a dropped socket. */
function brokenConnection(error: ConnectError): boolean {
  if (error.code === Code.Canceled || error.code === Code.Unavailable) return true;
  return (error.code === Code.Internal || error.code === Code.Unknown || error.code === Code.Aborted) && /NGHTTP2_|stream closed|ECONNRESET|EPIPE|socket hang up/i.test(error.rawMessage);
}

/** Internal: packs a reply for a failure detail when it is a message of `schema`. */
export function packReply(schema: DescMessage | undefined, reply: unknown): Any | undefined {
  if (schema === undefined || typeof reply !== "object" || reply === null) return undefined;
  if ((reply as { $typeName?: string }).$typeName !== schema.typeName) return undefined;
  return pack(schema, reply as Message);
}
