import { validateDuration } from "./config.js";
import {
  ClientDisconnectedError,
  ClientNotConnectedError,
  ClientReplacedError,
  CommandCancelledError,
  CommandError,
  CommandFailedError,
  CommandTimeoutError,
  DuplicateClientError,
  HeartbeatTimeoutError,
  InternalError,
  InvalidArgumentError,
  PermissionDeniedError,
  ProtocolError,
  QueueFullError,
  RateLimitedError,
  ServiceClosedError,
} from "./errors.js";
import { silentLogger, type Logger } from "./logger.js";
import { OutboundQueue } from "./outbound-queue.js";

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
 * How the hub speaks the user's own protocol: a few pure functions over the user's message types.
 * `TIn` is what a client sends, `TOut` what the server sends, `TCommand` what callers pass to
 * `send`, `TReply` what `send` resolves with. A function that throws is treated as a malformed
 * message from the client: the client is dropped with a `ProtocolError`.
 */
export interface StreamBinding<TIn, TOut, TCommand, TReply> {
  /** The identity a first message carries (the hello), or undefined if it is not a hello. */
  identify(message: TIn): ClientIdentity | undefined;
  /** The server message that carries `command` with `commandId` to the client. */
  wrapCommand(commandId: string, command: TCommand): TOut;
  /** The reply inside a client message, or undefined for anything else (heartbeats, status, …). */
  readReply(message: TIn): ReplyEnvelope<TReply> | undefined;
  /**
   * Opaque descriptions of the command and reply types, for transports that must (de)serialise
   * them (the Connect CommandRouter reads protobuf schemas from here). The core never reads them.
   */
  readonly schemas?: { readonly command: unknown; readonly reply: unknown };
}

/** What to do when a client connects with an id that is connected already. */
export type DuplicatePolicy = "replace" | "reject";

/** Options of `createStreamingService`. */
export interface StreamingServiceOptions {
  /** The name used in errors and logs; usually the name it is registered under. Default "default". */
  name?: string;
  /** `"replace"` (default): the new connection wins, the old one is closed. `"reject"`: the new one is refused. */
  duplicatePolicy?: DuplicatePolicy;
  /** Messages that may wait in one client's outbound queue. Default 256. */
  maxQueueSize?: number;
  /** Reply timeout when `send` is given none, in ms. Default 5000. */
  defaultTimeoutMs?: number;
  /** A client silent for longer than this is dropped, in ms; 0 turns it off. Default 45000. */
  heartbeatTimeoutMs?: number;
  /** A client that does not identify itself within this is dropped, in ms (at least 1). Default 10000. */
  helloTimeoutMs?: number;
  /**
   * Commands one client may have waiting for replies; one more fails with `QueueFullError`. This
   * bounds a client that reads commands but never answers. Default 1024.
   */
  maxPendingPerClient?: number;
  /**
   * A client that sends more than this many messages in one second (a burst of up to this many is
   * fine) is dropped with a `RateLimitedError`; replies to pending commands do not count. 0 turns
   * it off. Default 0.
   */
  maxMessagesPerSecond?: number;
  /** Where diagnostics go. Default: nowhere. */
  logger?: Logger;
  /** The clock; tests may pass a fake one. Default `Date.now`. */
  now?: () => number;
}

/** Options of `handleStream`. */
export interface HandleStreamOptions {
  /** Aborted by the transport when the stream ends from its side (cancel, reset, deadline). */
  signal?: AbortSignal;
  /**
   * The identity the transport established (e.g. from a verified token). When given, the client is
   * connected at once, and a hello naming another id is refused with `PermissionDeniedError`.
   */
  identity?: ClientIdentity;
}

/** Per-call options of `send`, `post` and `broadcast`. */
export interface SendOptions {
  /** How long to wait for the reply once the command is queued, in ms. Default: the service's. */
  timeoutMs?: number;
  /** Cancels the wait; the command settles with `CommandCancelledError`. */
  signal?: AbortSignal;
  /** How long to wait for room in a full queue, in ms; 0 (default) fails at once with `QueueFullError`. */
  queueTimeoutMs?: number;
  /** How long to wait for a missing client to connect, in ms; 0 (default) fails at once. */
  waitForConnectMs?: number;
}

/** A connected client, as listed by `clients()`. */
export interface ClientInfo {
  clientId: string;
  connectedAt: Date;
  lastSeenAt: Date;
  metadata: Record<string, string>;
  /** Commands sent and still waiting for a reply. */
  pendingCommands: number;
  /** Messages queued and not yet taken by the transport. */
  queuedMessages: number;
}

/** Why a client's connection ended. */
export type DisconnectReason =
  | "client_closed"
  | "transport_error"
  | "cancelled"
  | "protocol_error"
  | "heartbeat_timeout"
  | "replaced"
  | "service_closed";

/** What `onDisconnect` listeners get. */
export interface DisconnectEvent {
  client: ClientInfo;
  reason: DisconnectReason;
  /** The error behind the reason, when there is one. */
  error?: unknown;
}

/** One client's outcome in a broadcast. */
export type BroadcastOutcome<TReply> =
  | { clientId: string; ok: true; reply: TReply }
  | { clientId: string; ok: false; error: CommandError };

/** Counters for monitoring and for tests; every number only grows except the first three. */
export interface StreamingServiceStats {
  connectedClients: number;
  pendingCommands: number;
  queuedMessages: number;
  commandsSent: number;
  repliesOk: number;
  repliesFailed: number;
  timeouts: number;
  cancellations: number;
  disconnectRejections: number;
  /** Replies that came after their command had timed out or been cancelled: dropped. */
  lateReplies: number;
  /** Replies whose id this service never issued (or forgot): dropped and logged. */
  unknownReplies: number;
}

/**
 * The hub of one bidi method: which clients are connected, one bounded outbound queue each, the
 * commands waiting for replies. Transport-agnostic: a transport hands each incoming stream to
 * `handleStream` and writes out what it returns.
 */
export interface StreamingService<TCommand, TReply, TIn = unknown, TOut = unknown> {
  readonly name: string;
  readonly binding: StreamBinding<TIn, TOut, TCommand, TReply>;
  /** Whether `close()` was called. */
  readonly closed: boolean;
  /**
   * Serves one client connection: reads `incoming` in its own loop and returns the messages to
   * write to the client. The returned stream ends when the connection ends; it throws a
   * `CommandError` when the hub dropped the client (protocol error, heartbeat timeout, replaced,
   * duplicate refused) so the transport can tell the client why.
   */
  handleStream(incoming: AsyncIterable<TIn>, options?: HandleStreamOptions): AsyncIterable<TOut>;
  /** Sends `command` to the client and resolves with its reply; rejects with a typed error. */
  send(clientId: string, command: TCommand, options?: SendOptions): Promise<TReply>;
  /** Queues `command` for the client without waiting for a reply; resolves with the command id once queued. */
  post(clientId: string, command: TCommand, options?: Omit<SendOptions, "timeoutMs">): Promise<string>;
  /**
   * Sends `command` to every connected client (or those `filter` keeps); one outcome per client.
   * A client's failure is its outcome; it rejects only if the service is closed or `filter` throws.
   */
  broadcast(
    command: TCommand,
    options?: SendOptions & { filter?: (client: ClientInfo) => boolean },
  ): Promise<BroadcastOutcome<TReply>[]>;
  isConnected(clientId: string): boolean;
  /** The connected client with this id, or undefined. */
  client(clientId: string): ClientInfo | undefined;
  /** Every connected client. */
  clients(): ClientInfo[];
  /** Resolves when the client is connected (at once if it is); rejects with `ClientNotConnectedError` after `timeoutMs`. */
  waitForClient(clientId: string, options: { timeoutMs: number; signal?: AbortSignal }): Promise<ClientInfo>;
  /** Called after a client is connected and identified. Returns the unsubscribe. */
  onConnect(listener: (client: ClientInfo) => void): () => void;
  /** Called after a client's connection ended and its pending commands were rejected. Returns the unsubscribe. */
  onDisconnect(listener: (event: DisconnectEvent) => void): () => void;
  /** Called for every client message that is neither the hello nor a reply (heartbeats, status, logs). */
  onMessage(listener: (clientId: string, message: TIn) => void): () => void;
  stats(): StreamingServiceStats;
  /** Rejects every pending command, ends every stream, refuses new ones. Idempotent. */
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * A streaming service whatever its wire message types: what command clients, the registry and
 * routers hold, since they only send commands and never touch the stream.
 */
export type AnyStreamingService<TCommand = any, TReply = any> = StreamingService<TCommand, TReply, any, any>;

/** Internal: one stream, from accept to drop. */
interface Connection<TOut> {
  clientId: string | undefined;
  metadata: Record<string, string>;
  state: "handshake" | "open" | "closed";
  connectedAt: number;
  lastSeenAt: number;
  readonly queue: OutboundQueue<TOut>;
  readonly pending: Set<Pending<unknown>>;
  helloTimer: ReturnType<typeof setTimeout> | undefined;
  /** Ends the read loop when the hub drops the connection itself. */
  readonly stopReading: AbortController;
  /** Why it ended, once it has: what pending commands are rejected with. */
  closedBy: { reason: DisconnectReason; cause: unknown } | undefined;
  /** Token bucket for `maxMessagesPerSecond`: tokens left and when they were last refilled. */
  tokens: number;
  refilledAt: number;
}

/** Internal: one command waiting for its reply. */
interface Pending<TReply> {
  readonly commandId: string;
  readonly connection: Connection<unknown>;
  readonly resolve: (reply: TReply) => void;
  readonly reject: (error: CommandError) => void;
  timer: ReturnType<typeof setTimeout> | undefined;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

const recentIdsLimit = 4096;
const maxClientIdLength = 256;

/**
 * Creates a streaming service (hub) for one bidi method, speaking the user's protocol through
 * `binding`. Register it with `registerStreamingService` to reach it by name.
 */
export function createStreamingService<TIn, TOut, TCommand, TReply>(
  binding: StreamBinding<TIn, TOut, TCommand, TReply>,
  options: StreamingServiceOptions = {},
): StreamingService<TCommand, TReply, TIn, TOut> {
  checkBinding(binding);
  const name = options.name ?? "default";
  const duplicatePolicy = options.duplicatePolicy ?? "replace";
  if (duplicatePolicy !== "replace" && duplicatePolicy !== "reject") {
    throw new InvalidArgumentError(`duplicatePolicy must be "replace" or "reject", got ${JSON.stringify(duplicatePolicy)}`);
  }
  const maxQueueSize = options.maxQueueSize ?? 256;
  if (!Number.isInteger(maxQueueSize) || maxQueueSize < 1) {
    throw new InvalidArgumentError(`maxQueueSize must be a whole number of at least 1, got ${String(maxQueueSize)}`);
  }
  const defaultTimeoutMs = validateDuration("defaultTimeoutMs", options.defaultTimeoutMs ?? 5_000, 1);
  const heartbeatTimeoutMs = validateDuration("heartbeatTimeoutMs", options.heartbeatTimeoutMs ?? 45_000);
  const helloTimeoutMs = validateDuration("helloTimeoutMs", options.helloTimeoutMs ?? 10_000, 1);
  const maxPendingPerClient = options.maxPendingPerClient ?? 1024;
  if (!Number.isInteger(maxPendingPerClient) || maxPendingPerClient < 1) {
    throw new InvalidArgumentError(`maxPendingPerClient must be a whole number of at least 1, got ${String(maxPendingPerClient)}`);
  }
  const maxMessagesPerSecond = options.maxMessagesPerSecond ?? 0;
  if (!Number.isInteger(maxMessagesPerSecond) || maxMessagesPerSecond < 0) {
    throw new InvalidArgumentError(`maxMessagesPerSecond must be a whole number, 0 for no limit, got ${String(maxMessagesPerSecond)}`);
  }
  const logger = options.logger ?? silentLogger;
  const now = options.now ?? ((): number => Date.now());

  const connections = new Set<Connection<TOut>>();
  const clientsById = new Map<string, Connection<TOut>>();
  const pendingById = new Map<string, Pending<TReply>>();
  /** Ids whose replies are expected to be dropped: timed out or cancelled ("late"), or posted. */
  const recentIds = new Map<string, "late" | "posted">();
  const connectWaiters = new Map<string, Set<(error?: CommandError) => void>>();
  const connectListeners = new Set<(client: ClientInfo) => void>();
  const disconnectListeners = new Set<(event: DisconnectEvent) => void>();
  const messageListeners = new Set<(clientId: string, message: TIn) => void>();
  const counters = {
    commandsSent: 0,
    repliesOk: 0,
    repliesFailed: 0,
    timeouts: 0,
    cancellations: 0,
    disconnectRejections: 0,
    lateReplies: 0,
    unknownReplies: 0,
  };
  let closed = false;
  let heartbeatTimer: ReturnType<typeof setInterval> | undefined;
  // Unique across services and restarts, cheap per command: a random prefix and a counter.
  const idPrefix = globalThis.crypto.randomUUID().slice(0, 8);
  let idCounter = 0;
  const nextCommandId = (): string => `${idPrefix}-${(idCounter++).toString(36)}`;

  const context = (clientId?: string, commandId?: string) => ({ service: name, clientId, commandId });

  function info(connection: Connection<TOut>): ClientInfo {
    return {
      clientId: connection.clientId ?? "",
      connectedAt: new Date(connection.connectedAt),
      lastSeenAt: new Date(connection.lastSeenAt),
      metadata: { ...connection.metadata },
      pendingCommands: connection.pending.size,
      queuedMessages: connection.queue.size,
    };
  }

  function emit<A>(listeners: Set<(arg: A) => void>, arg: A, what: string): void {
    for (const listener of listeners) {
      try {
        listener(arg);
      } catch (error) {
        logger.error({ service: name, error }, `${what} listener threw; ignored`);
      }
    }
  }

  function remember(commandId: string, kind: "late" | "posted"): void {
    recentIds.set(commandId, kind);
    if (recentIds.size > recentIdsLimit) {
      const oldest = recentIds.keys().next();
      if (!oldest.done) recentIds.delete(oldest.value);
    }
  }

  /** The one way a pending command ends; everything it holds is released here. */
  function settle(pending: Pending<TReply>, outcome: { reply: TReply } | { error: CommandError }): void {
    if (!pendingById.delete(pending.commandId)) return; // settled already: exactly once
    pending.connection.pending.delete(pending as Pending<unknown>);
    if (pending.timer !== undefined) clearTimeout(pending.timer);
    if (pending.onAbort !== undefined) pending.signal?.removeEventListener("abort", pending.onAbort);
    if ("reply" in outcome) pending.resolve(outcome.reply);
    else pending.reject(outcome.error);
  }

  function drop(connection: Connection<TOut>, reason: DisconnectReason, error?: CommandError): void {
    if (connection.state === "closed") return;
    const wasOpen = connection.state === "open";
    connection.state = "closed";
    connections.delete(connection);
    if (connection.helloTimer !== undefined) clearTimeout(connection.helloTimer);
    const clientId = connection.clientId;
    if (clientId !== undefined && clientsById.get(clientId) === connection) clientsById.delete(clientId);
    connection.stopReading.abort();
    // Streams that end because the client or the service ended them close cleanly; the others
    // close with the error, so the transport can tell the client why.
    connection.queue.close(error);
    connection.closedBy = { reason, cause: error ?? (reason === "service_closed" ? serviceClosed() : undefined) };
    const snapshot = info(connection);
    const pending = [...connection.pending] as Pending<TReply>[];
    for (const entry of pending) {
      counters.disconnectRejections++;
      settle(entry, { error: disconnectedError(connection, entry.commandId) });
    }
    if (clientsById.size === 0) stopHeartbeat();
    if (wasOpen) {
      logger.info({ service: name, clientId, reason, rejected: pending.length }, "client disconnected");
      const event: DisconnectEvent = { client: snapshot, reason };
      if (error !== undefined) event.error = error;
      emit(disconnectListeners, event, "onDisconnect");
    } else if (error !== undefined) {
      logger.warn({ service: name, reason, error: error.message }, "connection refused");
    }
  }

  function serviceClosed(): ServiceClosedError {
    return new ServiceClosedError(`streaming service ${name} was closed`, context());
  }

  /** The error for a command whose client's connection ended (or was found ended). */
  function disconnectedError(connection: Connection<TOut>, commandId: string): ClientDisconnectedError {
    const clientId = connection.clientId ?? "?";
    const closedBy = connection.closedBy ?? { reason: "client_closed" as const, cause: undefined };
    const message =
      closedBy.reason === "service_closed"
        ? `streaming service ${name} closed before client ${clientId} replied to command ${commandId}`
        : `client ${clientId} disconnected (${closedBy.reason}) before replying to command ${commandId}`;
    return new ClientDisconnectedError(message, { ...context(connection.clientId, commandId), cause: closedBy.cause });
  }

  function admit(connection: Connection<TOut>, identity: ClientIdentity): void {
    const clientId = identity.clientId;
    if (typeof clientId !== "string" || clientId === "" || clientId.length > maxClientIdLength) {
      drop(
        connection,
        "protocol_error",
        new ProtocolError(`client id must be a non-empty string of at most ${maxClientIdLength} characters`, context()),
      );
      return;
    }
    const existing = clientsById.get(clientId);
    if (existing !== undefined) {
      if (duplicatePolicy === "reject") {
        drop(
          connection,
          "protocol_error",
          new DuplicateClientError(`client ${clientId} is already connected`, context(clientId)),
        );
        return;
      }
      drop(existing, "replaced", new ClientReplacedError(`client ${clientId} connected again, this connection was replaced`, context(clientId)));
    }
    if (connection.helloTimer !== undefined) clearTimeout(connection.helloTimer);
    connection.helloTimer = undefined;
    connection.clientId = clientId;
    connection.metadata = { ...identity.metadata };
    connection.state = "open";
    connection.connectedAt = now();
    clientsById.set(clientId, connection);
    startHeartbeat();
    logger.info({ service: name, clientId }, "client connected");
    const snapshot = info(connection);
    emit(connectListeners, snapshot, "onConnect");
    const waiters = connectWaiters.get(clientId);
    if (waiters !== undefined) {
      connectWaiters.delete(clientId);
      for (const wake of waiters) wake();
    }
  }

  /** Internal: takes one token for `maxMessagesPerSecond`; throws RateLimitedError when none is left. */
  function spendToken(connection: Connection<TOut>, at: number): void {
    connection.tokens = Math.min(maxMessagesPerSecond, connection.tokens + ((at - connection.refilledAt) * maxMessagesPerSecond) / 1_000);
    connection.refilledAt = at;
    if (connection.tokens < 1) {
      throw new RateLimitedError(
        `client ${connection.clientId ?? "?"} sent more than ${maxMessagesPerSecond} messages per second`,
        context(connection.clientId),
      );
    }
    connection.tokens -= 1;
  }

  function onClientMessage(connection: Connection<TOut>, message: TIn): void {
    const at = now();
    connection.lastSeenAt = at;
    if (connection.state === "handshake") {
      if (maxMessagesPerSecond > 0) spendToken(connection, at);
      const identity = binding.identify(message);
      if (identity === undefined) {
        drop(connection, "protocol_error", new ProtocolError("the first message must identify the client (hello)", context()));
        return;
      }
      admit(connection, identity);
      return;
    }
    const reply = binding.readReply(message);
    // Answers to our own commands are never limited: the server decides how many it sends.
    const answersPending = reply !== undefined && pendingById.get(reply.commandId)?.connection === (connection as Connection<unknown>);
    if (maxMessagesPerSecond > 0 && !answersPending) spendToken(connection, at);
    if (reply === undefined) {
      for (const listener of messageListeners) {
        try {
          listener(connection.clientId ?? "", message);
        } catch (error) {
          logger.error({ service: name, error }, "onMessage listener threw; ignored");
        }
      }
      return;
    }
    onReply(connection, reply);
  }

  function onReply(connection: Connection<TOut>, reply: ReplyEnvelope<TReply>): void {
    const { commandId } = reply;
    if (typeof commandId !== "string" || commandId === "") {
      throw new ProtocolError("a reply must carry the command id it answers", context(connection.clientId));
    }
    const pending = pendingById.get(commandId);
    if (pending === undefined || pending.connection !== (connection as Connection<unknown>)) {
      const known = recentIds.get(commandId);
      if (known === "late") {
        counters.lateReplies++;
        recentIds.delete(commandId);
        logger.debug({ service: name, clientId: connection.clientId, commandId }, "late reply dropped");
      } else if (known === "posted") {
        recentIds.delete(commandId);
      } else {
        counters.unknownReplies++;
        logger.warn({ service: name, clientId: connection.clientId, commandId }, "reply to an unknown command id ignored");
      }
      return;
    }
    if (reply.ok) {
      counters.repliesOk++;
      settle(pending, { reply: reply.reply });
      return;
    }
    counters.repliesFailed++;
    settle(pending, {
      error: new CommandFailedError(String(reply.code), String(reply.message), {
        ...context(connection.clientId, commandId),
        reply: reply.reply,
      }),
    });
  }

  async function readLoop(connection: Connection<TOut>, incoming: AsyncIterable<TIn>): Promise<void> {
    const iterator = incoming[Symbol.asyncIterator]();
    // When the hub drops the connection, ask the transport to stop the read it may be waiting on.
    // (Not a race against a "stopped" promise per message: every race would leave a reaction on
    // that promise for the whole life of the connection.)
    connection.stopReading.signal.addEventListener("abort", () => void iterator.return?.()?.catch(() => {}), { once: true });
    try {
      for (;;) {
        const result = await iterator.next();
        if (isClosed(connection)) break;
        if (result.done === true) {
          drop(connection, "client_closed");
          return;
        }
        try {
          onClientMessage(connection, result.value);
        } catch (cause) {
          const error =
            cause instanceof CommandError
              ? cause
              : new ProtocolError(`malformed message from client: ${errorMessage(cause)}`, { ...context(connection.clientId), cause });
          drop(connection, "protocol_error", error);
        }
        if (connection.state === "closed") break;
      }
    } catch (cause) {
      if (isClosed(connection)) return; // our own return() above, or a failure after the drop
      // The transport could not read the client's stream (undecodable bytes, an oversized message,
      // a reset). If the client is still listening, the error tells it why.
      logger.debug({ service: name, clientId: connection.clientId, error: errorMessage(cause) }, "client stream failed");
      drop(
        connection,
        "transport_error",
        new ProtocolError(`the client's stream failed: ${errorMessage(cause)}`, { ...context(connection.clientId), cause }),
      );
      return;
    }
  }

  function startHeartbeat(): void {
    if (heartbeatTimeoutMs === 0 || heartbeatTimer !== undefined) return;
    const every = Math.max(10, Math.min(1_000, Math.floor(heartbeatTimeoutMs / 4)));
    heartbeatTimer = setInterval(() => {
      const deadline = now() - heartbeatTimeoutMs;
      for (const connection of [...clientsById.values()]) {
        if (connection.lastSeenAt < deadline) {
          drop(
            connection,
            "heartbeat_timeout",
            new HeartbeatTimeoutError(
              `client ${connection.clientId ?? "?"} sent nothing for ${heartbeatTimeoutMs} ms`,
              context(connection.clientId),
            ),
          );
        }
      }
    }, every);
    // A hub must not keep the process alive on its own.
    (heartbeatTimer as { unref?: () => void }).unref?.();
  }

  function stopHeartbeat(): void {
    if (heartbeatTimer !== undefined) clearInterval(heartbeatTimer);
    heartbeatTimer = undefined;
  }

  function handleStream(incoming: AsyncIterable<TIn>, streamOptions: HandleStreamOptions = {}): AsyncIterable<TOut> {
    const startedAt = now();
    const connection: Connection<TOut> = {
      clientId: undefined,
      metadata: {},
      state: "handshake",
      connectedAt: startedAt,
      lastSeenAt: startedAt,
      queue: new OutboundQueue<TOut>(maxQueueSize),
      pending: new Set(),
      helloTimer: undefined,
      stopReading: new AbortController(),
      closedBy: undefined,
      tokens: maxMessagesPerSecond,
      refilledAt: startedAt,
    };
    const outgoing: AsyncIterableIterator<TOut> = {
      next: () => connection.queue.next(),
      return: (value?: unknown) => {
        // The transport stopped writing (client cancelled, response closed).
        drop(connection, "cancelled");
        return Promise.resolve({ value: value as TOut, done: true });
      },
      [Symbol.asyncIterator]() {
        return this;
      },
    };
    if (closed) {
      connection.queue.close(new ServiceClosedError(`streaming service ${name} is closed`, context()));
      connection.state = "closed";
      return outgoing;
    }
    connections.add(connection);
    const signal = streamOptions.signal;
    if (signal !== undefined) {
      if (signal.aborted) {
        drop(connection, "cancelled");
        return outgoing;
      }
      const onAbort = (): void => drop(connection, "cancelled");
      signal.addEventListener("abort", onAbort, { once: true });
      connection.stopReading.signal.addEventListener("abort", () => signal.removeEventListener("abort", onAbort), { once: true });
    }
    if (streamOptions.identity !== undefined) {
      const authenticated = streamOptions.identity;
      admit(connection, authenticated);
      // An authenticated client may still say hello first; it must not claim someone else's id.
      const wrapped = checkHello(incoming, authenticated.clientId, connection);
      void readLoop(connection, wrapped);
    } else {
      connection.helloTimer = setTimeout(() => {
        drop(connection, "protocol_error", new ProtocolError(`no hello within ${helloTimeoutMs} ms`, context()));
      }, helloTimeoutMs);
      void readLoop(connection, incoming);
    }
    return outgoing;
  }

  /** Internal: passes `incoming` through, refusing a first-message hello that names another id. */
  async function* checkHello(incoming: AsyncIterable<TIn>, clientId: string, connection: Connection<TOut>): AsyncGenerator<TIn> {
    let first = true;
    for await (const message of incoming) {
      if (first) {
        first = false;
        const claimed = binding.identify(message);
        if (claimed !== undefined) {
          if (claimed.clientId !== clientId) {
            drop(
              connection,
              "protocol_error",
              new PermissionDeniedError(
                `client authenticated as ${clientId} claimed to be ${String(claimed.clientId)}`,
                context(clientId),
              ),
            );
            return;
          }
          connection.lastSeenAt = now();
          if (claimed.metadata !== undefined) connection.metadata = { ...connection.metadata, ...claimed.metadata };
          continue;
        }
      }
      yield message;
    }
  }

  function checkTarget(clientId: unknown): asserts clientId is string {
    if (typeof clientId !== "string" || clientId === "") {
      throw new InvalidArgumentError(`client id must be a non-empty string, got ${JSON.stringify(clientId)}`, context());
    }
  }

  async function connectionFor(clientId: string, sendOptions: SendOptions): Promise<Connection<TOut>> {
    const connection = clientsById.get(clientId);
    if (connection !== undefined) return connection;
    const waitMs = sendOptions.waitForConnectMs ?? 0;
    if (waitMs > 0) {
      await waitForClient(clientId, { timeoutMs: waitMs, ...(sendOptions.signal ? { signal: sendOptions.signal } : {}) });
      const connected = clientsById.get(clientId);
      if (connected !== undefined) return connected;
    }
    throw new ClientNotConnectedError(
      waitMs > 0 ? `client ${clientId} did not connect within ${waitMs} ms` : `client ${clientId} is not connected`,
      context(clientId),
    );
  }

  /** Internal: puts `message` into the client's queue, waiting for room up to the queue timeout. */
  async function enqueue(connection: Connection<TOut>, message: TOut, sendOptions: SendOptions, commandId: string): Promise<void> {
    const queueTimeoutMs = sendOptions.queueTimeoutMs ?? 0;
    const deadline = now() + queueTimeoutMs;
    const clientId = connection.clientId;
    for (;;) {
      if (connection.state === "closed") throw disconnectedError(connection, commandId);
      if (connection.queue.tryPush(message)) return;
      const left = deadline - now();
      const full = () =>
        new QueueFullError(
          `client ${clientId ?? "?"} has ${connection.queue.size} messages queued (limit ${maxQueueSize})` +
            (queueTimeoutMs > 0 ? ` and no room came within ${queueTimeoutMs} ms` : ""),
          context(clientId, commandId),
        );
      if (left <= 0) throw full();
      await connection.queue.waitForRoom(left, sendOptions.signal, full);
    }
  }

  function cancelled(signal: AbortSignal, clientId: string, commandId?: string): CommandCancelledError {
    return new CommandCancelledError(`command to client ${clientId} was cancelled: ${errorMessage(signal.reason)}`, {
      ...context(clientId, commandId),
      cause: signal.reason,
    });
  }

  function checkOpen(): void {
    if (closed) throw new ServiceClosedError(`streaming service ${name} is closed`, context());
  }

  interface Prepared {
    connection: Connection<TOut>;
    commandId: string;
    message: TOut;
  }

  /**
   * Internal: the part `send` and `post` share before queueing. Validates the call, finds (or
   * waits for) the client and wraps the command with a fresh id. Synchronous when the client is
   * connected (the common case): no promise hops on the hot path.
   */
  function prepare(clientId: string, command: TCommand, sendOptions: SendOptions): Prepared | Promise<Prepared> {
    checkOpen();
    checkTarget(clientId);
    const signal = sendOptions.signal;
    if (signal?.aborted) throw cancelled(signal, clientId);
    const commandId = nextCommandId();
    const connected = clientsById.get(clientId);
    if (connected !== undefined) return { connection: connected, commandId, message: wrap(clientId, commandId, command) };
    return (async () => {
      try {
        const connection = await connectionFor(clientId, sendOptions);
        return { connection, commandId, message: wrap(clientId, commandId, command) };
      } catch (error) {
        if (signal?.aborted) throw cancelled(signal, clientId, commandId);
        throw error;
      }
    })();
  }

  /** Internal: the binding's wrapCommand; a binding that throws fails only this call, typed. */
  function wrap(clientId: string, commandId: string, command: TCommand): TOut {
    try {
      return binding.wrapCommand(commandId, command);
    } catch (error) {
      if (error instanceof CommandError) throw error;
      throw new InvalidArgumentError(`the binding could not wrap the command: ${errorMessage(error)}`, {
        ...context(clientId, commandId),
        cause: error,
      });
    }
  }

  async function send(clientId: string, command: TCommand, sendOptions: SendOptions = {}): Promise<TReply> {
    const timeoutMs = validateDuration("timeoutMs", sendOptions.timeoutMs ?? defaultTimeoutMs, 1);
    const signal = sendOptions.signal;
    const prepared = prepare(clientId, command, sendOptions);
    const { connection, commandId, message } = prepared instanceof Promise ? await prepared : prepared;
    if (connection.pending.size >= maxPendingPerClient) {
      throw new QueueFullError(
        `client ${clientId} has ${connection.pending.size} commands waiting for replies (limit ${maxPendingPerClient})`,
        context(clientId, commandId),
      );
    }
    let resolve!: (reply: TReply) => void;
    let reject!: (error: CommandError) => void;
    const promise = new Promise<TReply>((onReply, onError) => {
      resolve = onReply;
      reject = onError;
    });
    // Registered before the message is queued: a fast client cannot answer an id we do not know yet.
    const pending: Pending<TReply> = {
      commandId,
      connection: connection as Connection<unknown>,
      resolve,
      reject,
      timer: undefined,
      signal,
      onAbort: undefined,
    };
    pendingById.set(commandId, pending);
    connection.pending.add(pending as Pending<unknown>);
    if (connection.state === "closed") {
      settle(pending, { error: disconnectedError(connection, commandId) });
      return promise;
    }
    if (signal !== undefined) {
      pending.onAbort = () => {
        counters.cancellations++;
        remember(commandId, "late");
        settle(pending, { error: cancelled(signal, clientId, commandId) });
      };
      if (signal.aborted) {
        pending.onAbort();
        return promise; // never queued
      }
      signal.addEventListener("abort", pending.onAbort, { once: true });
    }
    // The common case, room in the queue, stays synchronous.
    if (isClosed(connection) || !connection.queue.tryPush(message)) {
      try {
        await enqueue(connection, message, sendOptions, commandId);
      } catch (error) {
        // Already settled if the cause was a disconnect or the signal; this covers a full queue.
        settle(pending, { error: error instanceof CommandError ? error : disconnectedError(connection, commandId) });
        return promise;
      }
    }
    counters.commandsSent++;
    if (pendingById.get(commandId) === pending) {
      pending.timer = setTimeout(() => {
        counters.timeouts++;
        remember(commandId, "late");
        settle(pending, {
          error: new CommandTimeoutError(`client ${clientId} did not reply to command ${commandId} within ${timeoutMs} ms`, context(clientId, commandId)),
        });
      }, timeoutMs);
    }
    return promise;
  }

  async function post(clientId: string, command: TCommand, sendOptions: Omit<SendOptions, "timeoutMs"> = {}): Promise<string> {
    const prepared = prepare(clientId, command, sendOptions);
    const { connection, commandId, message } = prepared instanceof Promise ? await prepared : prepared;
    try {
      await enqueue(connection, message, sendOptions, commandId);
    } catch (error) {
      const signal = sendOptions.signal;
      if (signal?.aborted) throw cancelled(signal, clientId, commandId);
      throw error;
    }
    counters.commandsSent++;
    remember(commandId, "posted");
    return commandId;
  }

  async function broadcast(
    command: TCommand,
    broadcastOptions: SendOptions & { filter?: (client: ClientInfo) => boolean } = {},
  ): Promise<BroadcastOutcome<TReply>[]> {
    checkOpen();
    const { filter, ...sendOptions } = broadcastOptions;
    const targets = [...clientsById.values()].filter((connection) => filter === undefined || filter(info(connection)));
    return Promise.all(
      targets.map(async (connection): Promise<BroadcastOutcome<TReply>> => {
        const clientId = connection.clientId as string;
        try {
          return { clientId, ok: true, reply: await send(clientId, command, sendOptions) };
        } catch (error) {
          const typed =
            error instanceof CommandError ? error : new InternalError(errorMessage(error), { ...context(clientId), cause: error });
          return { clientId, ok: false, error: typed };
        }
      }),
    );
  }

  async function waitForClient(clientId: string, waitOptions: { timeoutMs: number; signal?: AbortSignal }): Promise<ClientInfo> {
    checkOpen();
    checkTarget(clientId);
    const timeoutMs = validateDuration("timeoutMs", waitOptions.timeoutMs);
    const connected = clientsById.get(clientId);
    if (connected !== undefined) return info(connected);
    const signal = waitOptions.signal;
    if (signal?.aborted) throw cancelled(signal, clientId);
    return new Promise<ClientInfo>((resolve, reject) => {
      let waiters = connectWaiters.get(clientId);
      if (waiters === undefined) {
        waiters = new Set();
        connectWaiters.set(clientId, waiters);
      }
      const set = waiters;
      const finish = (error?: CommandError): void => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        set.delete(finish);
        if (set.size === 0 && connectWaiters.get(clientId) === set) connectWaiters.delete(clientId);
        const connection = clientsById.get(clientId);
        if (error !== undefined) reject(error);
        else if (connection !== undefined) resolve(info(connection));
        else reject(new ClientNotConnectedError(`client ${clientId} disconnected again at once`, context(clientId)));
      };
      const onAbort = (): void => finish(signal ? cancelled(signal, clientId) : undefined);
      const timer = setTimeout(
        () => finish(new ClientNotConnectedError(`client ${clientId} did not connect within ${timeoutMs} ms`, context(clientId))),
        timeoutMs,
      );
      signal?.addEventListener("abort", onAbort, { once: true });
      set.add(finish);
    });
  }

  async function close(): Promise<void> {
    if (closed) return;
    closed = true;
    stopHeartbeat();
    // Pending commands are rejected with ClientDisconnectedError whose cause is ServiceClosedError.
    for (const connection of [...connections]) drop(connection, "service_closed");
    const reason = serviceClosed();
    for (const [, waiters] of connectWaiters) for (const finish of [...waiters]) finish(reason);
    connectWaiters.clear();
    recentIds.clear();
  }

  const subscribe =
    <L>(set: Set<L>) =>
    (listener: L): (() => void) => {
      set.add(listener);
      return () => {
        set.delete(listener);
      };
    };

  return {
    name,
    binding,
    get closed() {
      return closed;
    },
    handleStream,
    send,
    post,
    broadcast,
    isConnected: (clientId) => clientsById.has(clientId),
    client: (clientId) => {
      const connection = clientsById.get(clientId);
      return connection === undefined ? undefined : info(connection);
    },
    clients: () => [...clientsById.values()].map(info),
    waitForClient,
    onConnect: subscribe(connectListeners),
    onDisconnect: subscribe(disconnectListeners),
    onMessage: subscribe(messageListeners),
    stats: () => {
      let queuedMessages = 0;
      for (const connection of clientsById.values()) queuedMessages += connection.queue.size;
      return { connectedClients: clientsById.size, pendingCommands: pendingById.size, queuedMessages, ...counters };
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}

/** Internal: a fresh read of the state, which other callbacks may have changed since TS last looked. */
function isClosed(connection: { state: string }): boolean {
  return connection.state === "closed";
}

function checkBinding(binding: unknown): void {
  const b = binding as Partial<StreamBinding<unknown, unknown, unknown, unknown>> | null;
  for (const key of ["identify", "wrapCommand", "readReply"] as const) {
    if (typeof b?.[key] !== "function") {
      throw new InvalidArgumentError(`a stream binding needs a function "${key}"`);
    }
  }
}

/** Internal: the message of any thrown value. */
export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message;
  if (error === undefined) return "aborted";
  return String(error);
}
