import { InvalidArgumentError } from "./errors.js";
import { checkName } from "./validate.js";

/** Who a client is: read from its first message, or given by the transport after authentication. */
export interface ClientIdentity {
  /** The client's id, unique within one streaming service. */
  clientId: string;
  /** Anything else worth listing (version, region, …). */
  metadata?: Record<string, string>;
}

/** A client's answer to one command, as the binding reads it out of a client message. */
export type ReplyEnvelope<TReply> =
  | { commandId: string; ok: true; reply: TReply }
  | { commandId: string; ok: false; code: string; message: string; reply?: TReply };

/**
 * A command's W3C trace context (https://www.w3.org/TR/trace-context/): the span of the hub's send,
 * so the client's work on the command joins its caller's trace. The hub fills it from
 * `@opentelemetry/api`'s active context when a propagator is installed.
 */
export interface TraceContext {
  traceparent: string;
  tracestate?: string;
}

/**
 * The server side of the user's own protocol: a few pure functions over the user's message types.
 * `TIn` is what a client sends, `TOut` what the server sends, `TCommand` what callers pass to
 * `send`, `TReply` what `send` resolves with. A function that throws is treated as a malformed
 * message from the client: the client is dropped with a `ProtocolError`.
 */
export interface StreamBinding<TIn, TOut, TCommand, TReply> {
  /** The identity a first message carries (the hello), or undefined if it is not a hello. */
  identify(message: TIn): ClientIdentity | undefined;
  /**
   * The server message that carries `command` with `commandId` to the client. `deadline` (ms since
   * the epoch, for `send`; undefined for `post`) is the latest moment the caller still waits for
   * the reply: a protocol with room for it puts it on the wire, so the client can refuse a command
   * that arrives too late (after a stall, a network partition) instead of running it. `trace`, when
   * the caller is traced: a protocol with room for it (protoc-gen-streamcmd: `string traceparent` and
   * `string tracestate` on the server message) puts it on the wire.
   */
  wrapCommand(commandId: string, command: TCommand, deadline?: number, trace?: TraceContext): TOut;
  /** The reply inside a client message, or undefined for anything else (heartbeats, status, …). */
  readReply(message: TIn): ReplyEnvelope<TReply> | undefined;
  /**
   * The first message the hub sends a client, once it is admitted: the protocol-level
   * acknowledgement that tells the client it is connected (an agent reports `connected` on it).
   * Without it a client cannot know when the server has taken its hello.
   */
  welcome?(client: ClientIdentity): TOut;
  /**
   * The message telling a client to stop a command it was sent: its caller cancelled, or its reply
   * timeout passed. Optional: without it the client is not told (the command's deadline still
   * travels). A protocol made with protoc-gen-streamcmd has it when the server message's oneof has a
   * `cancel` member.
   */
  wrapCancel?(commandId: string): TOut;
}

/** What a client-side runtime (an agent) gives the handler of one command. */
export interface CommandContext {
  commandId: string;
  /**
   * Aborted when the server cancels the command (its caller gave up, or its timeout passed: with a
   * protocol that can say so), when the connection ends, or when the agent closes: stop working on it.
   */
  signal: AbortSignal;
  /** When the caller stops waiting (ms since the epoch), if the server sent it. */
  deadline?: number;
  /** The command's trace context, if the server sent one; the agent also runs the handler inside its span. */
  trace?: TraceContext;
}

/**
 * The client side of the same protocol, for whatever plays a client: the agent runtime of a
 * transport, the fake clients of `@streamcmd/testing`.
 */
export interface ClientBinding<TIn, TOut, TCommand, TReply> {
  /** The first message on every connection. */
  hello(identity: ClientIdentity): TIn;
  /**
   * The command inside a server message, or undefined for anything else (ignored). `deadline` (ms
   * since the epoch), when the message carries one: past it, the runtime refuses the command with a
   * `deadline_exceeded` failure and never runs it.
   */
  readCommand(message: TOut): { commandId: string; command: TCommand; deadline?: number; trace?: TraceContext } | undefined;
  /** The id of the command a server message cancels (see `StreamBinding.wrapCancel`), or undefined. */
  readCancel?(message: TOut): string | undefined;
  /** Whether a server message is the welcome (see `StreamBinding.welcome`). */
  isWelcome?(message: TOut): boolean;
  /** The message answering `commandId` with success. */
  success(commandId: string, reply: TReply): TIn;
  /** The message answering `commandId` with a failure. */
  failure(commandId: string, code: string, message: string): TIn;
  /** A liveness message; without it no heartbeats are sent. */
  heartbeat?(): TIn;
}

declare const commandType: unique symbol;
declare const replyType: unique symbol;

/**
 * Names a streaming service and carries its command and reply types, so that looking it up,
 * creating a command client for it and routing to it infer those types: no generic arguments and
 * no casts at the call site. A streaming service (hub) is its own key; so is its definition.
 */
export interface ServiceKey<TCommand, TReply> {
  /** The name it is registered and routed under. */
  readonly name: string;
  /** Type only, never set: what `send` takes. */
  readonly [commandType]?: TCommand;
  /** Type only, never set: what `send` resolves with. */
  readonly [replyType]?: TReply;
}

/** A streaming service's name and binding: what a protocol package exports. See `defineStreamingService`. */
export interface StreamingServiceDefinition<TIn, TOut, TCommand, TReply> extends ServiceKey<TCommand, TReply> {
  readonly binding: StreamBinding<TIn, TOut, TCommand, TReply>;
}

/** The command type of a key: `CommandOf<typeof botService>`. */
export type CommandOf<K> = K extends ServiceKey<infer C, unknown> ? C : never;
/** The reply type of a key: `ReplyOf<typeof botService>`. */
export type ReplyOf<K> = K extends ServiceKey<unknown, infer R> ? R : never;

/**
 * Defines a streaming service: its name and its binding, checked once here. Any other property
 * (e.g. the protobuf `schemas` a transport needs to carry commands across processes) is kept on
 * the definition as it is: the core never reads it, the transport that needs it does.
 */
export function defineStreamingService<TIn, TOut, TCommand, TReply, TExtra extends object = Record<never, never>>(
  definition: { readonly name: string; readonly binding: StreamBinding<TIn, TOut, TCommand, TReply> } & TExtra,
): StreamingServiceDefinition<TIn, TOut, TCommand, TReply> & TExtra {
  if (typeof definition !== "object" || definition === null) {
    throw new InvalidArgumentError("defineStreamingService needs { name, binding }");
  }
  checkName("a streaming service name", definition.name);
  checkBinding(definition.binding);
  return Object.freeze({ ...definition });
}

/** Internal: throws unless `binding` has the functions a hub calls. */
export function checkBinding(binding: unknown): void {
  const b = binding as Partial<Record<keyof StreamBinding<unknown, unknown, unknown, unknown>, unknown>> | null;
  for (const key of ["identify", "wrapCommand", "readReply"] as const) {
    if (typeof b?.[key] !== "function") throw new InvalidArgumentError(`a stream binding needs a function "${key}"`);
  }
  if (b?.welcome !== undefined && typeof b.welcome !== "function") throw new InvalidArgumentError(`a stream binding's "welcome" must be a function`);
}
