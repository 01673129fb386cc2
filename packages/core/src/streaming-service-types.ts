import type { CommandError, CommandErrorCode } from "./errors.js";
import type { Logger } from "./logger.js";
import type { ClientIdentity, ServiceKey, StreamingServiceDefinition } from "./service-definition.js";

/**
 * Per-call options: the same for a hub, a command client and a remote router. Each falls back to
 * the default of what is called (`defaultTimeoutMs`, …).
 */
export interface CallOptions {
  /** Who is calling, as `onCommandSettled` names it (the router passes its caller's subject); never checked. */
  caller?: string;
  /** How long to wait for the reply once the command is queued, in ms (at least 1). */
  timeoutMs?: number;
  /** Cancels the call; it settles with `CommandCancelledError` (the signal's reason as cause). */
  signal?: AbortSignal;
  /** How long to wait for room in a full client queue, in ms; 0 fails at once with `QueueFullError`. */
  queueTimeoutMs?: number;
  /** How long to wait for a missing client to connect, in ms; 0 fails at once with `ClientNotConnectedError`. */
  waitForConnectMs?: number;
  /**
   * Makes a retry safe: within the hub's `idempotencyWindowMs`, a `send` with the same key for the
   * same client gets the first call's outcome (or waits for it) instead of sending the command
   * again — same-process, cross-process, and across a reconnect of the client. Forgotten at once
   * when the command was never delivered (`ClientNotConnectedError`, `QueueFullError`, …), so
   * that retry sends it.
   */
  idempotencyKey?: string;
}

/** Per-call options of `post`: a post waits for no reply, so it has no reply timeout (and no idempotency key). */
export type PostOptions = Omit<CallOptions, "timeoutMs" | "idempotencyKey">;

/** Options of `broadcast`. */
export interface BroadcastOptions extends CallOptions {
  /** Only the clients this keeps. */
  filter?: (client: ClientInfo) => boolean;
}

/** What to do when a client connects with an id that is connected already. */
export type DuplicatePolicy = "replace" | "reject";

/** Options of `createStreamingService`. */
export interface StreamingServiceOptions {
  /** `"replace"` (default): the new connection wins, the old one is closed. `"reject"`: the new one is refused. */
  duplicatePolicy?: DuplicatePolicy;
  /** Messages that may wait in one client's outbound queue. Default 256. */
  maxQueueSize?: number;
  /** Reply timeout when a call gives none, in ms (at least 1). Default 5000. */
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
   * Calls that may wait for a client to connect (`waitForConnectMs`) at once, across all ids; one
   * more fails at once with `QueueFullError` (never sent). This bounds the timers and memory that
   * long waits for absent ids hold. Default 10000.
   */
  maxConnectWaiters?: number;
  /** How long the outcome of a `send` with an `idempotencyKey` is remembered, in ms; 0 turns keys off (ignored). Default 60000. */
  idempotencyWindowMs?: number;
  /** Idempotency keys remembered at once; one more `send` with a new key fails with `QueueFullError` (not sent). Default 10000. */
  maxIdempotencyKeys?: number;
  /**
   * A client that sends more than this many messages in one second (a burst of up to this many is
   * fine) is dropped with a `RateLimitedError`; replies to pending commands do not count. 0 turns
   * it off. Default 0.
   */
  maxMessagesPerSecond?: number;
  /** Entries a client's hello may carry in its metadata; more and it is dropped (`ProtocolError`). Default 16. */
  maxMetadataEntries?: number;
  /** Bytes (keys plus values, UTF-8) a client's metadata may hold in all. Default 4096. */
  maxMetadataBytes?: number;
  /** Where diagnostics go (errors under `err`, as pino expects). Default: nowhere. */
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
  /** Ended by the server (`disconnect`). */
  | "server_disconnected"
  | "service_closed";

/** What `onDisconnect` listeners get. */
export interface DisconnectEvent {
  client: ClientInfo;
  reason: DisconnectReason;
  /** The error behind the reason, when there is one. */
  error?: unknown;
}

/** A command sent with `send` (or `broadcast`) that has settled: what metrics count and time. */
export interface CommandSettledEvent {
  readonly clientId: string;
  /** `CallOptions.caller`, when the call named one. */
  readonly caller: string | undefined;
  /** "ok" for a reply (a `CommandFailedError` reply counts as its code, "command_failed"), else the error's code. */
  readonly outcome: "ok" | CommandErrorCode;
  /** From the call to its outcome, in ms (sub-millisecond precision). */
  readonly durationMs: number;
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
  /** Calls cancelled by their caller's signal once under way: waiting for the client to connect, for room in its queue, or for the reply. */
  cancellations: number;
  disconnectRejections: number;
  /** Replies that came after their command had timed out or been cancelled: dropped. */
  lateReplies: number;
  /** Replies whose id this service never issued (or forgot): dropped and logged. */
  unknownReplies: number;
}

/**
 * The caller's side of a streaming service: what command clients, the registry and routers use.
 * Every method that sends rejects only with a typed `CommandError`.
 */
export interface CommandTarget<TCommand, TReply> extends ServiceKey<TCommand, TReply> {
  /** Sends `command` to the client and resolves with its reply. */
  send(clientId: string, command: TCommand, options?: CallOptions): Promise<TReply>;
  /** Queues `command` for the client without waiting for a reply; resolves with the command id once queued. */
  post(clientId: string, command: TCommand, options?: PostOptions): Promise<string>;
  /**
   * Sends `command` to every connected client (or those `filter` keeps); one outcome per client.
   * A client's failure is its outcome; it rejects only if the service is closed or `filter` throws.
   */
  broadcast(command: TCommand, options?: BroadcastOptions): Promise<BroadcastOutcome<TReply>[]>;
  isConnected(clientId: string): boolean;
  /** The connected client with this id, or undefined. */
  client(clientId: string): ClientInfo | undefined;
  /** Every connected client. */
  clients(): ClientInfo[];
  /** Resolves when the client is connected (at once if it is); rejects with `ClientNotConnectedError` after `timeoutMs`. */
  waitForClient(clientId: string, options: { timeoutMs: number; signal?: AbortSignal }): Promise<ClientInfo>;
}

/** The transport's side of a streaming service: one call per client stream. */
export interface StreamEndpoint<TIn, TOut> {
  readonly name: string;
  /**
   * Serves one client connection: reads `incoming` in its own loop and returns the messages to
   * write to the client. The returned stream ends when the connection ends; it throws a
   * `CommandError` when the hub dropped the client (protocol error, heartbeat timeout, replaced,
   * duplicate refused) so the transport can tell the client why.
   */
  handleStream(incoming: AsyncIterable<TIn>, options?: HandleStreamOptions): AsyncIterable<TOut>;
}

/**
 * The hub of one bidi method: which clients are connected, one bounded outbound queue each, the
 * commands waiting for replies. Transport-agnostic: a transport hands each incoming stream to
 * `handleStream` and writes out what it returns.
 */
export interface StreamingService<TIn, TOut, TCommand, TReply> extends CommandTarget<TCommand, TReply>, StreamEndpoint<TIn, TOut> {
  readonly definition: StreamingServiceDefinition<TIn, TOut, TCommand, TReply>;
  /** Whether `close()` was called. */
  readonly closed: boolean;
  /** Called after a client is connected and identified. Returns the unsubscribe. */
  onConnect(listener: (client: ClientInfo) => void): () => void;
  /** Called after a client's connection ended and its pending commands were rejected. Returns the unsubscribe. */
  onDisconnect(listener: (event: DisconnectEvent) => void): () => void;
  /** Called for every client message that is neither the hello nor a reply (heartbeats, status, logs). */
  onMessage(listener: (clientId: string, message: TIn) => void): () => void;
  /** Called as each command sent with `send` or `broadcast` settles, with its outcome and round trip (for metrics). */
  onCommandSettled(listener: (event: CommandSettledEvent) => void): () => void;
  /**
   * Adds a step every new client passes before it counts as connected: after its hello the hub
   * awaits `gate(client)` — before the client is listed, welcomed or sent any command — so what
   * the gate sets up is in place before the client learns it is connected (a cluster node makes the
   * client routable here). A gate that throws or outlasts `helloTimeoutMs` drops the client with an
   * `InternalError` (it reconnects). A client dropped while in the gates is reported to `onDisconnect`
   * like any other, so a gate can undo its work there. Returns the removal.
   */
  addAdmissionGate(gate: (client: ClientInfo) => Promise<void>): () => void;
  /**
   * Ends a client's connection from the server's side: its stream ends with `error` (the transport
   * tells the client why: a `ClientReplacedError` when a newer connection with its id took over
   * elsewhere, e.g. on another node of a cluster), its pending commands fail with
   * `ClientDisconnectedError`. False if it is not connected.
   */
  disconnect(clientId: string, error: CommandError): boolean;
  stats(): StreamingServiceStats;
  /** Rejects every pending command, ends every stream, refuses new ones. Idempotent. */
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** The hub type a definition makes: `StreamingServiceOf<typeof botService>`. */
export type StreamingServiceOf<D> = D extends StreamingServiceDefinition<infer I, infer O, infer C, infer R> ? StreamingService<I, O, C, R> : never;
