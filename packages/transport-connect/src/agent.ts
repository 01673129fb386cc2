import type { DescMessage, DescMethodBiDiStreaming, MessageShape } from "@bufbuild/protobuf";
import type { Transport } from "@connectrpc/connect";
import type { Http2SessionOptions } from "@connectrpc/connect-node";
import { ClosedError, CommandCancelledError, InvalidArgumentError, isCommandError, silentLogger, type ClientBinding, type CommandContext, type Logger } from "@streamcmd/core";
import { checkCount, checkDuration, checkName, createListeners, delay, errorMessage, type Listeners } from "@streamcmd/core/internal";
import { runSession, type Session } from "./agent-session.js";
import { createBackoff, type ReconnectOptions } from "./backoff.js";
import { fromConnectError } from "./error-mapping.js";
import { ownTransport, type TokenSource } from "./grpc-connection.js";
import { describeTlsFailure, type ClientTlsOptions } from "./tls-options.js";

export type { ReconnectOptions } from "./backoff.js";

/** Options of `connectAgent`. */
export interface AgentOptions<I extends DescMessage, O extends DescMessage, TCommand, TReply> {
  /**
   * The server's URL, e.g. `http://127.0.0.1:50051`. The agent then owns its HTTP/2 connection and
   * fails an attempt fast when the connection is refused. Several URLs (the nodes of a cluster): it
   * connects to the first, and after a lost or failed connection tries the next, round and round.
   */
  baseUrl?: string | readonly string[];
  /**
   * HTTP/2 keepalive and timeouts of the connection built from `baseUrl`. Unless set here: a PING
   * after 10 s without a byte from the server (`pingIntervalMs`), answered within 5 s (`pingTimeoutMs`),
   * so a server that hangs (stopped, cut off) is left for the next one within about 15 s rather than
   * when the OS gives up on the socket.
   */
  http2?: Http2SessionOptions;
  /**
   * A transport of your own instead of `baseUrl` (interceptors; bidi needs HTTP/2, e.g. `createGrpcTransport`).
   * The stream then runs on connect-es's client, which keeps every message it received until the
   * stream ends (connect-es #1524); with `baseUrl` the agent speaks gRPC on its own HTTP/2 connection.
   */
  transport?: Transport;
  /** The client's credential (a server with `tokenAuthenticator`): a token, or a function giving the current one (rotation). */
  token?: TokenSource;
  /** TLS for an `https://` baseUrl: the CA that issued the server's certificate, a client certificate for mutual TLS. */
  tls?: ClientTlsOptions;
  /** Plaintext (`http://`) to an address other than loopback: refused unless true. */
  insecure?: boolean;
  /** The bidi method, e.g. `BotService.method.connect`. */
  method: DescMethodBiDiStreaming<I, O>;
  /** Who this client is: its hello is `binding.hello({ clientId, metadata })`. */
  clientId: string;
  /** Sent in the hello (e.g. `{ version }`). */
  metadata?: Record<string, string>;
  /** The client side of the protocol (the same type fake clients in tests use). */
  binding: ClientBinding<MessageShape<I>, MessageShape<O>, TCommand, TReply>;
  /**
   * Handles one command; may be async. Its return value is the success reply. A throw becomes a
   * failure reply (a `CommandFailedError` or any error with a string `code` keeps its code; others
   * answer `handler_error`) and never breaks the stream.
   */
  onCommand(command: TCommand, context: CommandContext): TReply | Promise<TReply>;
  /** Interval of heartbeat messages, in ms; 0 turns them off. Default 10000. */
  heartbeatIntervalMs?: number;
  /** Backoff for reconnecting, or false to stay disconnected after the first loss. */
  reconnect?: ReconnectOptions | false;
  /** Commands handled at once; further ones wait (and the server's queue absorbs them). Default 16. */
  maxConcurrentCommands?: number;
  /** Request headers of every connection (e.g. authorization), or a function making them. */
  headers?: Record<string, string> | (() => Record<string, string>);
  /** Closes the agent when aborted. */
  signal?: AbortSignal;
  logger?: Logger;
}

/** Where an agent is in its life. */
export type AgentState = "connecting" | "connected" | "reconnecting" | "closed";

/** The events an agent emits, with their payloads. */
export interface AgentEvents {
  /** The server admitted the client (its welcome arrived). */
  connected: { attempt: number };
  /** A connection that was connected ended. */
  disconnected: { error?: unknown };
  /** The next attempt comes after `delayMs`; `error` is why the last one ended or failed. */
  reconnecting: { attempt: number; delayMs: number; error?: unknown };
  closed: Record<string, never>;
}

/** A running agent; `TMessage` is what it sends (the request message of the bidi method). */
export interface Agent<TMessage = unknown> {
  readonly state: AgentState;
  /** Subscribes to an event; returns the unsubscribe. */
  on<E extends keyof AgentEvents>(event: E, listener: (payload: AgentEvents[E]) => void): () => void;
  /**
   * Sends a message of your own on the current connection (a status report, a log line); false if
   * there is no connection now. Replies and heartbeats are sent for you.
   */
  send(message: TMessage): boolean;
  /** Resolves when the agent is connected (at once if it is); rejects with `ClosedError` if it closes first. */
  waitUntilConnected(options?: { signal?: AbortSignal }): Promise<void>;
  /** Ends the stream cleanly (the server sees the client leave), stops reconnecting. */
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * Runs the client side of a streamcmd bidi method: connects, says hello, hands each command to
 * `onCommand` and sends its reply, sends heartbeats, and reconnects with exponential backoff and
 * jitter when the connection is lost, until closed.
 */
export function connectAgent<I extends DescMessage, O extends DescMessage, TCommand, TReply>(
  options: AgentOptions<I, O, TCommand, TReply>,
): Agent<MessageShape<I>> {
  if (options.method?.methodKind !== "bidi_streaming") {
    throw new InvalidArgumentError("connectAgent needs a bidi streaming method, e.g. BotService.method.connect");
  }
  const clientId = checkName("clientId", options.clientId);
  const heartbeatIntervalMs = checkDuration("heartbeatIntervalMs", options.heartbeatIntervalMs ?? 10_000);
  const maxConcurrentCommands = checkCount("maxConcurrentCommands", options.maxConcurrentCommands ?? 16, 1);
  const backoff = options.reconnect === false ? undefined : createBackoff(options.reconnect ?? {});
  const logger = options.logger ?? silentLogger;
  const method = options.method;
  const urls: readonly (string | undefined)[] = typeof options.baseUrl === "string" || options.baseUrl === undefined ? [options.baseUrl] : options.baseUrl;
  if (urls.length === 0) throw new InvalidArgumentError("connectAgent: baseUrl is an empty list");
  // One connection per server URL, opened when first tried.
  const targets = urls.map((baseUrl) => {
    const http2 = { pingIntervalMs: 10_000, pingTimeoutMs: 5_000, ...options.http2 };
    const { transport, sessionManager, bidi } = ownTransport("connectAgent", { ...options, baseUrl, http2 });
    // On a transport of the caller's own: its typed stream call (what Connect's generated client method does inside).
    async function* transportCall(requests: AsyncIterable<MessageShape<I>>, callOptions: { signal: AbortSignal; headers?: Record<string, string> }): AsyncGenerator<MessageShape<O>> {
      const response = await transport.stream(method, callOptions.signal, undefined, callOptions.headers, requests);
      yield* response.message;
    }
    return { sessionManager, call: bidi?.(method) ?? transportCall };
  });

  const lifetime = new AbortController();
  const events: { [E in keyof AgentEvents]: Listeners<[AgentEvents[E]]> } = {
    connected: createListeners((err) => logger.error({ err, event: "connected" }, "agent event listener threw; ignored")),
    disconnected: createListeners((err) => logger.error({ err, event: "disconnected" }, "agent event listener threw; ignored")),
    reconnecting: createListeners((err) => logger.error({ err, event: "reconnecting" }, "agent event listener threw; ignored")),
    closed: createListeners((err) => logger.error({ err, event: "closed" }, "agent event listener threw; ignored")),
  };
  let state: AgentState = "connecting";
  let closing = false;
  let current: Session<MessageShape<I>> | undefined;

  const finished = (async () => {
    let attempt = 0;
    while (!lifetime.signal.aborted) {
      const target = targets[attempt % targets.length]!;
      const session = runSession({
        call: target.call,
        hello: () => options.binding.hello(options.metadata === undefined ? { clientId } : { clientId, metadata: options.metadata }),
        headers: typeof options.headers === "function" ? options.headers : () => options.headers as Record<string, string> | undefined,
        sessionManager: target.sessionManager,
        binding: options.binding,
        onCommand: (command, context) => options.onCommand(command, context),
        heartbeatIntervalMs,
        maxConcurrentCommands,
        logger,
        lifetime: lifetime.signal,
        onConnected: () => {
          state = "connected";
          logger.info({ clientId, attempt }, "agent connected");
          events.connected.emit({ attempt });
        },
      });
      current = session;
      const outcome = await session.done;
      current = undefined;
      const error = outcome.error;
      // Replaced by a newer connection with this id: most likely a second process running as this
      // client. Say so, and keep backing off, so two of them slow down instead of taking turns forever.
      const replaced = error !== undefined && isCommandError(fromConnectError(error), "client_replaced");
      if (replaced && !closing) {
        logger.error({ clientId, attempt }, `another connection took over client ${clientId}: is a second process running with this id? backing off`);
      }
      if (outcome.stable && !replaced) backoff?.reset();
      if (lifetime.signal.aborted) break;
      if (outcome.connected) {
        if (!closing) logger.warn({ clientId, err: error }, "agent disconnected");
        events.disconnected.emit(error === undefined ? {} : { error });
      } else if (!closing) {
        // Never connected: one line, not a stack per attempt.
        logger.warn({ clientId, attempt, reason: describeTlsFailure(error) ?? errorMessage(error ?? "the server ended the stream") }, "agent could not connect");
      }
      if (backoff === undefined || closing) break;
      const delayMs = backoff.next();
      attempt++;
      state = "reconnecting";
      events.reconnecting.emit(error === undefined ? { attempt, delayMs } : { attempt, delayMs, error });
      await delay(delayMs, lifetime.signal).catch(() => {});
    }
    state = "closed";
    for (const target of targets) target.sessionManager?.abort();
    events.closed.emit({});
  })();

  const onExternalAbort = () => void agent.close();
  options.signal?.addEventListener("abort", onExternalAbort, { once: true });
  if (options.signal?.aborted) queueMicrotask(onExternalAbort);

  const agent: Agent<MessageShape<I>> = {
    get state() {
      return state;
    },
    on(event, listener) {
      return (events[event] as Listeners<[AgentEvents[typeof event]]>).add(listener);
    },
    send(message) {
      return state === "connected" && current !== undefined && current.send(message);
    },
    waitUntilConnected(waitOptions = {}) {
      if (state === "connected") return Promise.resolve();
      if (state === "closed") return Promise.reject(new ClosedError(`the agent ${clientId} is closed`));
      return new Promise<void>((resolve, reject) => {
        const cleanup = () => (offConnected(), offClosed(), waitOptions.signal?.removeEventListener("abort", onAbort));
        const offConnected = agent.on("connected", () => (cleanup(), resolve()));
        const offClosed = agent.on("closed", () => (cleanup(), reject(new ClosedError(`the agent ${clientId} closed before it connected`))));
        const onAbort = () => (cleanup(), reject(new CommandCancelledError("stopped waiting for the agent to connect", { cause: waitOptions.signal?.reason })));
        waitOptions.signal?.addEventListener("abort", onAbort, { once: true });
      });
    },
    async close() {
      if (!lifetime.signal.aborted) {
        closing = true;
        options.signal?.removeEventListener("abort", onExternalAbort);
        // Half-close first so the server sees a clean goodbye (up to a second); then stop whatever is left.
        const session = current;
        session?.end();
        if (session !== undefined) await Promise.race([session.done, delay(1_000, undefined, { ref: false })]);
        lifetime.abort(new ClosedError(`the agent ${clientId} was closed`));
      }
      await finished;
    },
    [Symbol.asyncDispose]() {
      return agent.close();
    },
  };
  return agent;
}
