import { createCommandClientConfig, withOverrides, type CommandClientConfig } from "./config.js";
import { CommandCancelledError, CommandError, InternalError, InvalidArgumentError, ServiceNotFoundError } from "./errors.js";
import { getStreamingService } from "./registry.js";
import { getRemoteRouterFactory, type RemoteRouter } from "./remote-router.js";
import { errorMessage, type AnyStreamingService, type ClientInfo } from "./streaming-service.js";

/** How a command client reaches its client right now. */
export type CommandClientMode =
  /** A streaming service in this process holds the connection: direct calls, no network. */
  | "same-process"
  /** Through the CommandRouter of the server process that holds it. */
  | "cross-process"
  /** Neither: no service of that name here and no remote target; `send` fails with `ServiceNotFoundError`. */
  | "unavailable";

/** Options of `createCommandClient`. */
export interface CommandClientOptions<TCommand, TReply> {
  /** The client (bot, agent, device) every command goes to. */
  clientId: string;
  /** A streaming service instance (always same-process) or the name it is registered under. */
  service: string | AnyStreamingService<TCommand, TReply>;
  /** The cross-process router to use when no service of that name is registered here. */
  remote?: RemoteRouter;
  /** Overrides of the defaults (and of `STREAMCMD_URL`); validated. */
  config?: Partial<CommandClientConfig>;
}

/** Per-call options; each falls back to the client's config. */
export interface CommandOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
  queueTimeoutMs?: number;
  waitForConnectMs?: number;
}

/**
 * Sends typed commands to one client and gets its replies, from anywhere: directly when the
 * streaming service lives in this process, through the CommandRouter otherwise.
 */
export interface StreamingCommandClient<TCommand, TReply> {
  readonly clientId: string;
  /** The streaming service's name. */
  readonly service: string;
  readonly config: CommandClientConfig;
  /** The mode the next call would use (a registry lookup, so it follows registrations). */
  readonly mode: CommandClientMode;
  /**
   * Sends `command` and resolves with the client's reply. Rejects with `ClientNotConnectedError`,
   * `CommandTimeoutError`, `ClientDisconnectedError`, `CommandFailedError`, `QueueFullError`,
   * `CommandCancelledError` or `ServiceNotFoundError`; never with anything untyped.
   */
  send(command: TCommand, options?: CommandOptions): Promise<TReply>;
  /** Fire-and-forget: resolves with the command id once the command is queued for the client. */
  post(command: TCommand, options?: Omit<CommandOptions, "timeoutMs">): Promise<string>;
  /** Whether the client is connected now (asks the remote router in cross-process mode). */
  isConnected(options?: { signal?: AbortSignal }): Promise<boolean>;
  /** Cancels every call still in flight through this client and refuses new ones. */
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Creates a command client bound to one client id; see `StreamingCommandClient`. */
export function createCommandClient<TCommand, TReply>(
  options: CommandClientOptions<TCommand, TReply>,
): StreamingCommandClient<TCommand, TReply> {
  const { clientId, service, remote } = options;
  if (typeof clientId !== "string" || clientId === "") {
    throw new InvalidArgumentError(`clientId must be a non-empty string, got ${JSON.stringify(clientId)}`);
  }
  if (typeof service !== "string" && (typeof service !== "object" || service === null || typeof service.send !== "function")) {
    throw new InvalidArgumentError("service must be a streaming service or the name it is registered under");
  }
  const config = createCommandClientConfig(options.config);
  const serviceName = typeof service === "string" ? service : service.name;
  // Aborted by close(): every call listens to it alongside its own signal.
  const lifetime = new AbortController();

  type Route =
    | { mode: "same-process"; hub: AnyStreamingService<TCommand, TReply> }
    | { mode: "cross-process"; router: RemoteRouter }
    | { mode: "unavailable" };

  function route(): Route {
    if (typeof service !== "string") return { mode: "same-process", hub: service };
    const local = getStreamingService<TCommand, TReply>(service);
    if (local !== undefined) return { mode: "same-process", hub: local };
    if (remote !== undefined) return { mode: "cross-process", router: remote };
    const factory = getRemoteRouterFactory();
    if (config.remoteTarget !== undefined && factory !== undefined) {
      return { mode: "cross-process", router: factory(config.remoteTarget) };
    }
    return { mode: "unavailable" };
  }

  function notFound(): ServiceNotFoundError {
    const why =
      config.remoteTarget === undefined
        ? "and no remote target is configured (config.remoteTarget or STREAMCMD_URL)"
        : `and no remote router is available for ${config.remoteTarget} (pass \`remote\`, or install a transport's factory with setRemoteRouterFactory)`;
    return new ServiceNotFoundError(`no streaming service "${serviceName}" is registered in this process ${why}`, {
      service: serviceName,
      clientId,
    });
  }

  function callSignal(signal: AbortSignal | undefined): AbortSignal {
    if (lifetime.signal.aborted) {
      throw new CommandCancelledError(`the command client for ${clientId} is closed`, { service: serviceName, clientId });
    }
    return signal === undefined ? lifetime.signal : AbortSignal.any([lifetime.signal, signal]);
  }

  const configured = { timeoutMs: config.replyTimeoutMs, queueTimeoutMs: config.queueTimeoutMs, waitForConnectMs: config.waitForConnectMs };

  function settings(call: CommandOptions) {
    // Most calls override nothing: skip building and validating a new config for them.
    if (call.timeoutMs === undefined && call.queueTimeoutMs === undefined && call.waitForConnectMs === undefined) return configured;
    const effective = withOverrides(config, {
      ...(call.timeoutMs !== undefined ? { replyTimeoutMs: call.timeoutMs } : {}),
      ...(call.queueTimeoutMs !== undefined ? { queueTimeoutMs: call.queueTimeoutMs } : {}),
      ...(call.waitForConnectMs !== undefined ? { waitForConnectMs: call.waitForConnectMs } : {}),
    });
    return {
      timeoutMs: effective.replyTimeoutMs,
      queueTimeoutMs: effective.queueTimeoutMs,
      waitForConnectMs: effective.waitForConnectMs,
    };
  }

  /** Every rejection is a CommandError; anything else from a router is a bug worth wrapping. */
  function typed(error: unknown): CommandError {
    if (error instanceof CommandError) return error;
    return new InternalError(`unexpected error from ${serviceName}: ${errorMessage(error)}`, {
      service: serviceName,
      clientId,
      cause: error,
    });
  }

  async function send(command: TCommand, call: CommandOptions = {}): Promise<TReply> {
    const signal = callSignal(call.signal);
    const { timeoutMs, queueTimeoutMs, waitForConnectMs } = settings(call);
    const current = route();
    try {
      switch (current.mode) {
        case "same-process":
          return await current.hub.send(clientId, command, { timeoutMs, queueTimeoutMs, waitForConnectMs, signal });
        case "cross-process":
          return (await current.router.execute(
            { service: serviceName, clientId, command, timeoutMs, queueTimeoutMs, waitForConnectMs },
            { signal },
          )) as TReply;
        case "unavailable":
          throw notFound();
      }
    } catch (error) {
      throw typed(error);
    }
  }

  async function post(command: TCommand, call: Omit<CommandOptions, "timeoutMs"> = {}): Promise<string> {
    const signal = callSignal(call.signal);
    const { queueTimeoutMs, waitForConnectMs } = settings(call);
    const current = route();
    try {
      switch (current.mode) {
        case "same-process":
          return await current.hub.post(clientId, command, { queueTimeoutMs, waitForConnectMs, signal });
        case "cross-process":
          return await current.router.post({ service: serviceName, clientId, command, queueTimeoutMs, waitForConnectMs }, { signal });
        case "unavailable":
          throw notFound();
      }
    } catch (error) {
      throw typed(error);
    }
  }

  async function isConnected(call: { signal?: AbortSignal } = {}): Promise<boolean> {
    const signal = callSignal(call.signal);
    const current = route();
    switch (current.mode) {
      case "same-process":
        return current.hub.isConnected(clientId);
      case "cross-process": {
        const clients: ClientInfo[] = await current.router.listClients(serviceName, { signal }).catch((error: unknown) => {
          throw typed(error);
        });
        return clients.some((client) => client.clientId === clientId);
      }
      case "unavailable":
        throw notFound();
    }
  }

  async function close(): Promise<void> {
    lifetime.abort(new CommandCancelledError(`the command client for ${clientId} was closed`, { service: serviceName, clientId }));
  }

  return {
    clientId,
    service: serviceName,
    config,
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
