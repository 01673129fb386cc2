/**
 * Typed errors. Every way a command can end other than with the client's success reply is one
 * small class with a stable `code`, so callers branch on the class (or the code) and a transport
 * can carry the code across a process boundary and rebuild the same class on the other side.
 */

/** The stable codes of every streamcmd error; a transport maps each to its own status. */
export type CommandErrorCode =
  | "client_not_connected"
  | "command_timeout"
  | "client_disconnected"
  | "command_failed"
  | "queue_full"
  | "command_cancelled"
  | "service_not_found"
  | "service_already_registered"
  | "service_closed"
  | "unauthenticated"
  | "permission_denied"
  | "invalid_argument"
  | "protocol_error"
  | "duplicate_client"
  | "heartbeat_timeout"
  | "client_replaced"
  | "rate_limited"
  | "router_unavailable"
  | "node_lost"
  | "closed"
  | "internal";

/** Where an error happened; every field is optional because not every error has every one. */
export interface CommandErrorContext {
  /** The streaming service's registered name. */
  service?: string;
  /** The client the command was for. */
  clientId?: string;
  /** The command's id, once one was assigned. */
  commandId?: string;
}

/** Options every error constructor takes. */
export interface CommandErrorOptions extends CommandErrorContext {
  /** The underlying error, kept for logs and debuggers. */
  cause?: unknown;
}

/** Marks streamcmd errors across module copies (two bundles, two versions): a registered symbol. */
const brand = Symbol.for("streamcmd.CommandError");

/** Our own classes and the code each stands for; `CommandError` itself stands for all of them. */
const ownClasses = new Map<abstract new (...args: never[]) => CommandError, CommandErrorCode | undefined>();

/**
 * Whether `value` is a streamcmd error — from this copy of the package or any other loaded in the
 * process — optionally of one `code`. Prefer it (or `instanceof`, which uses it) to comparing names.
 */
export function isCommandError<C extends CommandErrorCode>(value: unknown, code?: C): value is CommandError & { readonly code: C } {
  if (typeof value !== "object" || value === null || (value as { [brand]?: unknown })[brand] !== true) return false;
  return code === undefined || (value as { code?: unknown }).code === code;
}

/**
 * Base class of every streamcmd error. `instanceof` works across module copies: an error made by
 * another copy of `@streamcmd/core` is an instance of this copy's class with the same code.
 */
export class CommandError extends Error {
  override name = "CommandError";
  /** Stable, machine-readable code. */
  readonly code: CommandErrorCode;
  readonly service: string | undefined;
  readonly clientId: string | undefined;
  readonly commandId: string | undefined;

  constructor(code: CommandErrorCode, message: string, options: CommandErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.service = options.service;
    this.clientId = options.clientId;
    this.commandId = options.commandId;
  }

  static override [Symbol.hasInstance](this: unknown, value: unknown): boolean {
    if (typeof this !== "function") return false;
    if (Function.prototype[Symbol.hasInstance].call(this, value)) return true;
    if (!ownClasses.has(this as never)) return false; // a user's subclass: only its own instances
    const code = ownClasses.get(this as never);
    return isCommandError(value, code);
  }
}
Object.defineProperty(CommandError.prototype, brand, { value: true });
ownClasses.set(CommandError, undefined);

/** The client is not connected now (and did not connect within the wait, if one was asked). */
export class ClientNotConnectedError extends CommandError {
  override name = "ClientNotConnectedError";
  constructor(message: string, options?: CommandErrorOptions) {
    super("client_not_connected", message, options);
  }
}

/** No reply came by the deadline. */
export class CommandTimeoutError extends CommandError {
  override name = "CommandTimeoutError";
  constructor(message: string, options?: CommandErrorOptions) {
    super("command_timeout", message, options);
  }
}

/** The client went away while the command was pending; `cause` says why when known. */
export class ClientDisconnectedError extends CommandError {
  override name = "ClientDisconnectedError";
  constructor(message: string, options?: CommandErrorOptions) {
    super("client_disconnected", message, options);
  }
}

/** The client replied, with a failure. */
export class CommandFailedError extends CommandError {
  override name = "CommandFailedError";
  /** The client's own error code, e.g. `"already_running"`. */
  readonly clientErrorCode: string;
  /** The client's own message. */
  readonly clientErrorMessage: string;
  /** The client's whole reply, when its failure carried one. */
  readonly reply: unknown;

  constructor(
    clientErrorCode: string,
    clientErrorMessage: string,
    options: CommandErrorOptions & { reply?: unknown } = {},
  ) {
    super(
      "command_failed",
      `client ${options.clientId ?? "?"} failed the command: ${clientErrorCode}: ${clientErrorMessage}`,
      options,
    );
    this.clientErrorCode = clientErrorCode;
    this.clientErrorMessage = clientErrorMessage;
    this.reply = options.reply;
  }
}

/** The client's outbound queue is full (a slow consumer) and stayed full for the queue timeout. */
export class QueueFullError extends CommandError {
  override name = "QueueFullError";
  constructor(message: string, options?: CommandErrorOptions) {
    super("queue_full", message, options);
  }
}

/** The caller's `AbortSignal` fired; `cause` is the signal's reason. */
export class CommandCancelledError extends CommandError {
  override name = "CommandCancelledError";
  constructor(message: string, options?: CommandErrorOptions) {
    super("command_cancelled", message, options);
  }
}

/** No streaming service by that name here, and no remote router to ask. */
export class ServiceNotFoundError extends CommandError {
  override name = "ServiceNotFoundError";
  constructor(message: string, options?: CommandErrorOptions) {
    super("service_not_found", message, options);
  }
}

/** The registry already has a service by that name and replacing was not asked for. */
export class ServiceAlreadyRegisteredError extends CommandError {
  override name = "ServiceAlreadyRegisteredError";
  constructor(message: string, options?: CommandErrorOptions) {
    super("service_already_registered", message, options);
  }
}

/** The streaming service was closed: it takes no new commands or clients. */
export class ServiceClosedError extends CommandError {
  override name = "ServiceClosedError";
  constructor(message: string, options?: CommandErrorOptions) {
    super("service_closed", message, options);
  }
}

/** Missing or wrong credentials. */
export class UnauthenticatedError extends CommandError {
  override name = "UnauthenticatedError";
  constructor(message: string, options?: CommandErrorOptions) {
    super("unauthenticated", message, options);
  }
}

/** Valid credentials that do not allow this (e.g. a client claiming another client's id). */
export class PermissionDeniedError extends CommandError {
  override name = "PermissionDeniedError";
  constructor(message: string, options?: CommandErrorOptions) {
    super("permission_denied", message, options);
  }
}

/** A bad value from the caller: an invalid option, an empty id, a payload of the wrong type or size. */
export class InvalidArgumentError extends CommandError {
  override name = "InvalidArgumentError";
  constructor(message: string, options?: CommandErrorOptions) {
    super("invalid_argument", message, options);
  }
}

/** The client broke the protocol: no hello, an unreadable message. Its connection is dropped. */
export class ProtocolError extends CommandError {
  override name = "ProtocolError";
  constructor(message: string, options?: CommandErrorOptions) {
    super("protocol_error", message, options);
  }
}

/** A second connection claimed an id that is connected, and the service refuses duplicates. */
export class DuplicateClientError extends CommandError {
  override name = "DuplicateClientError";
  constructor(message: string, options?: CommandErrorOptions) {
    super("duplicate_client", message, options);
  }
}

/** The client sent nothing for longer than the heartbeat timeout and was dropped. */
export class HeartbeatTimeoutError extends CommandError {
  override name = "HeartbeatTimeoutError";
  constructor(message: string, options?: CommandErrorOptions) {
    super("heartbeat_timeout", message, options);
  }
}

/** A newer connection with the same id replaced this one. */
export class ClientReplacedError extends CommandError {
  override name = "ClientReplacedError";
  constructor(message: string, options?: CommandErrorOptions) {
    super("client_replaced", message, options);
  }
}

/** A client sent more messages than the service allows per second and was dropped. */
export class RateLimitedError extends CommandError {
  override name = "RateLimitedError";
  constructor(message: string, options?: CommandErrorOptions) {
    super("rate_limited", message, options);
  }
}

/** The cross-process router could not be reached (server down, connection refused, TLS failure). */
export class RouterUnavailableError extends CommandError {
  override name = "RouterUnavailableError";
  constructor(message: string, options?: CommandErrorOptions) {
    super("router_unavailable", message, options);
  }
}

/**
 * The server node holding the client went silent (killed, hung, cut off) while the command was on
 * it, in a cluster: the command may have run. Raised within the cluster's node-loss window, not at
 * the command's deadline.
 */
export class NodeLostError extends CommandError {
  override name = "NodeLostError";
  constructor(message: string, options?: CommandErrorOptions) {
    super("node_lost", message, options);
  }
}

/** An unexpected failure inside streamcmd or a transport; `cause` holds the original. */
export class InternalError extends CommandError {
  override name = "InternalError";
  constructor(message: string, options?: CommandErrorOptions) {
    super("internal", message, options);
  }
}

/**
 * The object called was closed (a command client, a remote router, an agent): it takes no new
 * calls. Calls in flight when it closed end with `CommandCancelledError` whose cause is this.
 */
export class ClosedError extends CommandError {
  override name = "ClosedError";
  constructor(message: string, options?: CommandErrorOptions) {
    super("closed", message, options);
  }
}

/** The classes whose constructor is `(message, options)`, by code: every one but `CommandFailedError`. */
type SimpleErrorClass = new (message: string, options?: CommandErrorOptions) => CommandError;
const simpleClasses: Readonly<Record<Exclude<CommandErrorCode, "command_failed">, SimpleErrorClass>> = {
  client_not_connected: ClientNotConnectedError,
  command_timeout: CommandTimeoutError,
  client_disconnected: ClientDisconnectedError,
  queue_full: QueueFullError,
  command_cancelled: CommandCancelledError,
  service_not_found: ServiceNotFoundError,
  service_already_registered: ServiceAlreadyRegisteredError,
  service_closed: ServiceClosedError,
  unauthenticated: UnauthenticatedError,
  permission_denied: PermissionDeniedError,
  invalid_argument: InvalidArgumentError,
  protocol_error: ProtocolError,
  duplicate_client: DuplicateClientError,
  heartbeat_timeout: HeartbeatTimeoutError,
  client_replaced: ClientReplacedError,
  rate_limited: RateLimitedError,
  router_unavailable: RouterUnavailableError,
  node_lost: NodeLostError,
  closed: ClosedError,
  internal: InternalError,
};
// `instanceof` across module copies compares codes (see CommandError[Symbol.hasInstance]).
for (const [code, ErrorClass] of Object.entries(simpleClasses)) ownClasses.set(ErrorClass, code as CommandErrorCode);
ownClasses.set(CommandFailedError, "command_failed");

/** Whether `code` is one of streamcmd's error codes (for input read off the wire). */
export function isCommandErrorCode(code: string): code is CommandErrorCode {
  return code === "command_failed" || Object.hasOwn(simpleClasses, code);
}

/** Internal: the class of a code (`InternalError` for `command_failed`, whose constructor differs). */
export function errorClassOf(code: CommandErrorCode): SimpleErrorClass {
  return code === "command_failed" ? InternalError : simpleClasses[code];
}
