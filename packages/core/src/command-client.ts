import { restack } from "./caller-stack.js";
import { ClosedError, InternalError, InvalidArgumentError, isCommandError, ServiceNotFoundError, type CommandError } from "./errors.js";
import { getStreamingService } from "./registry.js";
import { getRemoteRouter, type RemoteRouter } from "./remote-router.js";
import type { ServiceKey } from "./service-definition.js";
import type { CallOptions, CommandTarget, PostOptions } from "./streaming-service-types.js";
import { checkDuration, errorMessage } from "./validate.js";

/** How a command client reaches its client right now. */
export type CommandClientMode =
  /** A streaming service in this process holds the connection: direct calls, no network. */
  | "same-process"
  /** Through the CommandRouter of the server process that holds it. */
  | "cross-process"
  /** Neither: no service of that name here and no router; calls fail with `ServiceNotFoundError`. */
  | "unavailable";

/** Options of `createCommandClient`. */
export interface CommandClientOptions {
  /** The client (bot, agent, device) every command goes to. */
  clientId: string;
  /** The router to use when the service is not in this process. Default: the one installed with `setRemoteRouter`. */
  router?: RemoteRouter;
  /** Reply timeout of a call that gives none, in ms (at least 1). Default 5000. */
  defaultTimeoutMs?: number;
  /** Default `queueTimeoutMs` of a call, in ms. Default 0: a full queue fails at once with `QueueFullError`. */
  queueTimeoutMs?: number;
  /** Default `waitForConnectMs` of a call, in ms. Default 0: a missing client fails at once with `ClientNotConnectedError`. */
  waitForConnectMs?: number;
}

/**
 * Sends typed commands to one client and gets its replies, from anywhere: directly when the
 * streaming service lives in this process, through a remote router otherwise.
 */
export interface StreamingCommandClient<TCommand, TReply> {
  readonly clientId: string;
  /** The streaming service's name. */
  readonly service: string;
  /** The per-call defaults it applies. */
  readonly defaults: { readonly timeoutMs: number; readonly queueTimeoutMs: number; readonly waitForConnectMs: number };
  /** The mode the next call would use (a registry lookup, so it follows registrations). */
  readonly mode: CommandClientMode;
  /**
   * Sends `command` and resolves with the client's reply. Rejects with a typed `CommandError`
   * (`ClientNotConnectedError`, `CommandTimeoutError`, `ClientDisconnectedError`,
   * `CommandFailedError`, `QueueFullError`, `CommandCancelledError`, `ServiceNotFoundError`, …),
   * never with anything untyped, and with the caller's stack.
   */
  send(command: TCommand, options?: CallOptions): Promise<TReply>;
  /** Fire-and-forget: resolves with the command id once the command is queued for the client. */
  post(command: TCommand, options?: PostOptions): Promise<string>;
  /** Whether the client is connected now (asks the router in cross-process mode). */
  isConnected(options?: { signal?: AbortSignal }): Promise<boolean>;
  /** Cancels every call in flight (`CommandCancelledError`, cause `ClosedError`); later calls fail with `ClosedError`. */
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

type Route<TCommand, TReply> =
  | { mode: "same-process"; hub: CommandTarget<TCommand, TReply> }
  | { mode: "cross-process"; router: RemoteRouter }
  | { mode: "unavailable" };

function isTarget<TCommand, TReply>(service: ServiceKey<TCommand, TReply>): service is CommandTarget<TCommand, TReply> {
  return typeof (service as Partial<CommandTarget<TCommand, TReply>>).send === "function";
}

/**
 * Creates a command client for one client of `service` — a definition (routed as below on every
 * call) or a hub (always same-process). Routing has one rule: a hub registered in this process
 * under the service's name → same-process; otherwise `options.router`, or the router installed
 * with `setRemoteRouter` → cross-process; otherwise calls fail with `ServiceNotFoundError`.
 */
export function createCommandClient<TCommand, TReply>(
  service: ServiceKey<TCommand, TReply>,
  options: CommandClientOptions,
): StreamingCommandClient<TCommand, TReply> {
  const { clientId } = options;
  if (typeof service !== "object" || service === null || typeof service.name !== "string") {
    throw new InvalidArgumentError("service must be a streaming service definition or a streaming service");
  }
  if (typeof clientId !== "string" || clientId === "") throw new InvalidArgumentError(`clientId must be a non-empty string, got ${JSON.stringify(clientId)}`);
  const defaults = Object.freeze({
    timeoutMs: checkDuration("defaultTimeoutMs", options.defaultTimeoutMs ?? 5_000, 1),
    queueTimeoutMs: checkDuration("queueTimeoutMs", options.queueTimeoutMs ?? 0),
    waitForConnectMs: checkDuration("waitForConnectMs", options.waitForConnectMs ?? 0),
  });
  const name = service.name;
  const where = { service: name, clientId };
  // Aborted by close(): every call listens to it alongside its own signal.
  const lifetime = new AbortController();

  function route(): Route<TCommand, TReply> {
    if (isTarget(service)) return { mode: "same-process", hub: service };
    const local = getStreamingService(service);
    if (local !== undefined) return { mode: "same-process", hub: local };
    const router = options.router ?? getRemoteRouter();
    return router === undefined ? { mode: "unavailable" } : { mode: "cross-process", router };
  }

  function notFound(): ServiceNotFoundError {
    return new ServiceNotFoundError(
      `no streaming service "${name}" is registered in this process and there is no remote router: pass { router } to createCommandClient, or install one (transport-connect's installRemoteRouter)`,
      where,
    );
  }

  function callSignal(signal: AbortSignal | undefined): AbortSignal {
    if (lifetime.signal.aborted) throw new ClosedError(`the command client for ${clientId} is closed`, where);
    return signal === undefined ? lifetime.signal : AbortSignal.any([lifetime.signal, signal]);
  }

  function settings(call: PostOptions & { timeoutMs?: number }) {
    return {
      timeoutMs: call.timeoutMs === undefined ? defaults.timeoutMs : checkDuration("timeoutMs", call.timeoutMs, 1),
      queueTimeoutMs: call.queueTimeoutMs === undefined ? defaults.queueTimeoutMs : checkDuration("queueTimeoutMs", call.queueTimeoutMs),
      waitForConnectMs: call.waitForConnectMs === undefined ? defaults.waitForConnectMs : checkDuration("waitForConnectMs", call.waitForConnectMs),
    };
  }

  /** Every rejection is a CommandError; anything else from a router is a bug worth wrapping. */
  function typed(error: unknown): CommandError {
    return isCommandError(error) ? error : new InternalError(`unexpected error from ${name}: ${errorMessage(error)}`, { ...where, cause: error });
  }

  async function send(command: TCommand, call: CallOptions = {}): Promise<TReply> {
    try {
      const signal = callSignal(call.signal);
      const { timeoutMs, queueTimeoutMs, waitForConnectMs } = settings(call);
      const current = route();
      const key = call.idempotencyKey === undefined ? {} : { idempotencyKey: call.idempotencyKey };
      const caller = call.caller === undefined ? {} : { caller: call.caller };
      if (current.mode === "same-process") return await current.hub.send(clientId, command, { timeoutMs, queueTimeoutMs, waitForConnectMs, signal, ...key, ...caller });
      if (current.mode === "cross-process") {
        return await current.router.execute(service, { clientId, command, timeoutMs, queueTimeoutMs, waitForConnectMs, ...key }, { signal });
      }
      throw notFound();
    } catch (error) {
      // Here, where the caller's await resumes: the stack is the caller's, not a timer's or a socket's.
      throw restack(typed(error), send);
    }
  }

  async function post(command: TCommand, call: PostOptions = {}): Promise<string> {
    try {
      const signal = callSignal(call.signal);
      const { queueTimeoutMs, waitForConnectMs } = settings(call);
      const current = route();
      if (current.mode === "same-process") return await current.hub.post(clientId, command, { queueTimeoutMs, waitForConnectMs, signal });
      if (current.mode === "cross-process") return await current.router.post(service, { clientId, command, queueTimeoutMs, waitForConnectMs }, { signal });
      throw notFound();
    } catch (error) {
      throw restack(typed(error), post);
    }
  }

  async function isConnected(call: { signal?: AbortSignal } = {}): Promise<boolean> {
    try {
      const signal = callSignal(call.signal);
      const current = route();
      if (current.mode === "same-process") return current.hub.isConnected(clientId);
      if (current.mode === "cross-process") return (await current.router.listClients(service, { signal })).some((client) => client.clientId === clientId);
      throw notFound();
    } catch (error) {
      throw restack(typed(error), isConnected);
    }
  }

  async function close(): Promise<void> {
    if (lifetime.signal.aborted) return;
    lifetime.abort(new ClosedError(`the command client for ${clientId} was closed`, where));
  }

  return {
    clientId,
    service: name,
    defaults,
    get mode() {
      return route().mode;
    },
    send,
    post,
    isConnected,
    close,
    [Symbol.asyncDispose]: close,
  };
}

/**
 * `client` with extra methods beside its own (`mode` and the rest still read through to it): what
 * the command clients generated by protoc-gen-streamcmd return, one method per command.
 */
export function withCommandMethods<TCommand, TReply, TMethods extends object>(
  client: StreamingCommandClient<TCommand, TReply>,
  methods: TMethods,
): StreamingCommandClient<TCommand, TReply> & TMethods {
  const extended: StreamingCommandClient<TCommand, TReply> = Object.create(client);
  return Object.assign(extended, methods);
}
