import type { DescMessage, DescMethodBiDiStreaming, MessageShape } from "@bufbuild/protobuf";
import { createClient, type Transport } from "@connectrpc/connect";
import type { Http2SessionOptions } from "@connectrpc/connect-node";
import { CommandCancelledError, CommandFailedError, InvalidArgumentError, silentLogger, validateDuration, type Logger } from "@streamcmd/core";
import { ownTransport } from "./grpc-connection.js";
import { Mailbox } from "./mailbox.js";

/**
 * The client side of a user's protocol: how an agent reads a command and writes its answers.
 * `TReq` is what the agent sends (client → server), `TRes` what it receives.
 */
export interface AgentBinding<TReq, TRes, TCommand, TReply> {
  /** The command inside a server message, or undefined for anything else (ignored). */
  readCommand(message: TRes): { commandId: string; command: TCommand } | undefined;
  /** The message answering `commandId` with success. */
  success(commandId: string, reply: TReply): TReq;
  /** The message answering `commandId` with a failure. */
  failure(commandId: string, code: string, message: string): TReq;
  /** A liveness message; without it no heartbeats are sent. */
  heartbeat?(): TReq;
}

/** What a command handler gets besides the command. */
export interface CommandContext {
  commandId: string;
  /** Aborted when the connection ends or the agent closes: stop working on the command. */
  signal: AbortSignal;
}

/** Reconnection with exponential backoff. */
export interface ReconnectOptions {
  /** First delay after a lost connection, in ms. Default 100. */
  initialDelayMs?: number;
  /** The delay doubles up to this, in ms. Default 10000. */
  maxDelayMs?: number;
  /** Each delay is varied by up to ± this fraction, so a fleet does not reconnect in lockstep. Default 0.2. */
  jitter?: number;
}

/** Options of `connectAgent`. */
export interface AgentOptions<I extends DescMessage, O extends DescMessage, TCommand, TReply> {
  /**
   * The server's URL, e.g. `http://127.0.0.1:50051`. The agent then owns its HTTP/2 connection and
   * reports `connected` only once that connection is really open.
   */
  baseUrl?: string;
  /** HTTP/2 keepalive and timeouts of the connection built from `baseUrl`. */
  http2?: Http2SessionOptions;
  /**
   * A transport of your own instead of `baseUrl` (TLS, interceptors; bidi needs HTTP/2, e.g.
   * `createGrpcTransport`). The agent cannot see its connection, so `connected` then means the hello
   * was handed to the stream.
   */
  transport?: Transport;
  /** The bidi method, e.g. `BotService.method.connect`. */
  method: DescMethodBiDiStreaming<I, O>;
  /** The first message on every connection (the hello), or a function making it. */
  hello: MessageShape<I> | (() => MessageShape<I>);
  binding: AgentBinding<MessageShape<I>, MessageShape<O>, TCommand, TReply>;
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
  connected: { attempt: number };
  disconnected: { error?: unknown };
  reconnecting: { attempt: number; delayMs: number };
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
  /** Resolves when the agent is connected (at once if it is); rejects if it closes first. */
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
  const { binding, onCommand } = options;
  if (options.method?.methodKind !== "bidi_streaming") {
    throw new InvalidArgumentError("connectAgent needs a bidi streaming method, e.g. BotService.method.connect");
  }
  const heartbeatIntervalMs = validateDuration("heartbeatIntervalMs", options.heartbeatIntervalMs ?? 10_000);
  const maxConcurrent = options.maxConcurrentCommands ?? 16;
  if (!Number.isInteger(maxConcurrent) || maxConcurrent < 1) {
    throw new InvalidArgumentError(`maxConcurrentCommands must be a whole number of at least 1, got ${String(maxConcurrent)}`);
  }
  const reconnect = options.reconnect === false ? undefined : options.reconnect ?? {};
  const initialDelayMs = validateDuration("reconnect.initialDelayMs", reconnect?.initialDelayMs ?? 100);
  const maxDelayMs = validateDuration("reconnect.maxDelayMs", reconnect?.maxDelayMs ?? 10_000);
  const jitter = reconnect?.jitter ?? 0.2;
  if (!(jitter >= 0 && jitter <= 1)) throw new InvalidArgumentError(`reconnect.jitter must be between 0 and 1, got ${String(jitter)}`);
  const logger = options.logger ?? silentLogger;
  /** A session that lasted this long (or got a message) resets the backoff. */
  const stableAfterMs = 1_000;

  const { transport, sessionManager } = ownTransport("connectAgent", options);
  const service = options.method.parent;
  const client = createClient(service, transport) as unknown as Record<
    string,
    (requests: AsyncIterable<MessageShape<I>>, callOptions: { signal: AbortSignal; headers?: Record<string, string> }) => AsyncIterable<MessageShape<O>>
  >;
  const call = client[options.method.localName];
  if (call === undefined) throw new InvalidArgumentError(`method ${options.method.name} not found on ${service.typeName}`);

  const lifetime = new AbortController();
  const listeners = new Map<keyof AgentEvents, Set<(payload: never) => void>>();
  let state: AgentState = "connecting";
  let closing = false;
  let currentOutbox: Mailbox<MessageShape<I>> | undefined;

  function emit<E extends keyof AgentEvents>(event: E, payload: AgentEvents[E]): void {
    for (const listener of listeners.get(event) ?? []) {
      try {
        (listener as (p: AgentEvents[E]) => void)(payload);
      } catch (error) {
        logger.error({ event, error }, "agent event listener threw; ignored");
      }
    }
  }

  function failureOf(error: unknown): { code: string; message: string } {
    if (error instanceof CommandFailedError) return { code: error.clientErrorCode, message: error.clientErrorMessage };
    const code = (error as { code?: unknown } | null)?.code;
    const message = error instanceof Error ? error.message : String(error);
    return { code: typeof code === "string" && code !== "" ? code : "handler_error", message };
  }

  /**
   * One connection, from hello to its end. `stable` says whether it worked long enough (a message
   * arrived, or it lasted a second) to start the backoff over: a server that takes the hello and
   * then refuses the client must not get reconnects at the initial delay forever.
   */
  async function runSession(attempt: number): Promise<{ connected: boolean; stable: boolean; error?: unknown }> {
    const session = new AbortController();
    const stopSession = () => session.abort(lifetime.signal.reason);
    lifetime.signal.addEventListener("abort", stopSession, { once: true });
    const outbox = new Mailbox<MessageShape<I>>();
    currentOutbox = outbox;
    const openedAt = performance.now();
    let connected = false;
    let received = false;
    let heartbeat: ReturnType<typeof setInterval> | undefined;

    /** User code builds every outgoing message; one that throws is logged, never fatal. */
    const push = (what: string, make: () => MessageShape<I>): void => {
      if (session.signal.aborted) return;
      try {
        outbox.push(make());
      } catch (error) {
        logger.error({ error: error instanceof Error ? error.message : String(error) }, `agent binding failed to build the ${what}; not sent`);
      }
    };

    // Connect pulls the first message once the HTTP/2 stream is open, and the second once the
    // hello is written: from then on the connection is up.
    outbox.onPull = () => {
      if (outbox.pulls !== 2 || connected || session.signal.aborted) return;
      connected = true;
      state = "connected";
      logger.info({ attempt }, "agent connected");
      emit("connected", { attempt });
      const makeHeartbeat = binding.heartbeat?.bind(binding);
      if (heartbeatIntervalMs > 0 && makeHeartbeat !== undefined) {
        heartbeat = setInterval(() => push("heartbeat", makeHeartbeat), heartbeatIntervalMs);
        heartbeat.unref?.();
      }
    };

    // At most maxConcurrent handlers run; the rest wait here while the stream keeps being read,
    // so a lost connection is noticed even when every handler is busy.
    let running = 0;
    const waiting: ((go: boolean) => void)[] = [];
    const release = (): void => {
      const next = waiting.shift();
      if (next === undefined) running--;
      else next(true);
    };
    const acquire = (): Promise<boolean> => {
      if (running < maxConcurrent) {
        running++;
        return Promise.resolve(true);
      }
      return new Promise((resolve) => waiting.push(resolve));
    };
    const handle = async (commandId: string, command: TCommand): Promise<void> => {
      if (!(await acquire())) return;
      try {
        const reply = await onCommand(command, { commandId, signal: session.signal });
        push("success reply", () => binding.success(commandId, reply));
      } catch (error) {
        const { code, message } = failureOf(error);
        if (!session.signal.aborted) logger.warn({ commandId, code, message }, "command handler failed; answering with a failure");
        push("failure reply", () => binding.failure(commandId, code, message));
      } finally {
        release();
      }
    };

    try {
      if (sessionManager !== undefined) {
        // Open (or verify) the connection first, so "connected" below means a live connection.
        if ((await sessionManager.connect()) === "error") throw sessionManager.error();
      }
      outbox.push(typeof options.hello === "function" ? (options.hello as () => MessageShape<I>)() : options.hello);
      const headers = typeof options.headers === "function" ? options.headers() : options.headers;
      const responses = call(outbox, headers === undefined ? { signal: session.signal } : { signal: session.signal, headers });
      for await (const message of responses) {
        received = true;
        let command: { commandId: string; command: TCommand } | undefined;
        try {
          command = binding.readCommand(message);
        } catch (error) {
          logger.warn({ error: error instanceof Error ? error.message : String(error) }, "agent binding could not read a server message; ignored");
          continue;
        }
        if (command !== undefined) void handle(command.commandId, command.command);
      }
      return { connected, stable: received || performance.now() - openedAt >= stableAfterMs };
    } catch (error) {
      return { connected, stable: received || performance.now() - openedAt >= stableAfterMs, error };
    } finally {
      outbox.onPull = undefined;
      if (heartbeat !== undefined) clearInterval(heartbeat);
      outbox.end();
      // Handlers still running are told through their signal; their answers have nowhere to go,
      // and one that ignores its signal must not hold up the reconnect.
      session.abort();
      for (const next of waiting.splice(0)) next(false);
      lifetime.signal.removeEventListener("abort", stopSession);
      currentOutbox = undefined;
    }
  }

  function sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        lifetime.signal.removeEventListener("abort", done);
        resolve();
      }
      lifetime.signal.addEventListener("abort", done, { once: true });
    });
  }

  const finished = (async () => {
    let attempt = 0;
    while (!lifetime.signal.aborted) {
      const outcome = await runSession(attempt);
      if (outcome.stable) attempt = 0;
      if (lifetime.signal.aborted) break;
      if (!closing) logger.warn({ error: outcome.error instanceof Error ? outcome.error.message : outcome.error }, "agent disconnected");
      emit("disconnected", outcome.error === undefined ? {} : { error: outcome.error });
      if (reconnect === undefined || closing) break;
      const base = Math.min(maxDelayMs, initialDelayMs * 2 ** attempt);
      const delayMs = Math.max(0, Math.round(base * (1 + jitter * (Math.random() * 2 - 1))));
      attempt++;
      state = "reconnecting";
      emit("reconnecting", { attempt, delayMs });
      await sleep(delayMs);
    }
    state = "closed";
    sessionManager?.abort();
    emit("closed", {});
  })();

  const onExternalAbort = () => void agent.close();
  options.signal?.addEventListener("abort", onExternalAbort, { once: true });
  if (options.signal?.aborted) queueMicrotask(onExternalAbort);

  const agent: Agent<MessageShape<I>> = {
    get state() {
      return state;
    },
    on(event, listener) {
      let set = listeners.get(event);
      if (set === undefined) {
        set = new Set();
        listeners.set(event, set);
      }
      set.add(listener as (payload: never) => void);
      return () => set.delete(listener as (payload: never) => void);
    },
    send(message) {
      if (state !== "connected" || currentOutbox === undefined) return false;
      currentOutbox.push(message);
      return true;
    },
    waitUntilConnected(waitOptions = {}) {
      if (state === "connected") return Promise.resolve();
      if (state === "closed") return Promise.reject(new CommandCancelledError("the agent is closed"));
      return new Promise<void>((resolve, reject) => {
        const cleanup = () => {
          offConnected();
          offClosed();
          waitOptions.signal?.removeEventListener("abort", onAbort);
        };
        const offConnected = agent.on("connected", () => (cleanup(), resolve()));
        const offClosed = agent.on("closed", () => (cleanup(), reject(new CommandCancelledError("the agent closed before it connected"))));
        const onAbort = () =>
          (cleanup(), reject(new CommandCancelledError("stopped waiting for the agent to connect", { cause: waitOptions.signal?.reason })));
        waitOptions.signal?.addEventListener("abort", onAbort, { once: true });
      });
    },
    async close() {
      if (!lifetime.signal.aborted) {
        closing = true;
        options.signal?.removeEventListener("abort", onExternalAbort);
        // Half-close first so the server sees a clean goodbye; then stop whatever is left.
        currentOutbox?.end();
        const grace = new Promise((resolve) => setTimeout(resolve, 1_000).unref());
        await Promise.race([finishedSession(), grace]);
        lifetime.abort(new Error("agent closed"));
      }
      await finished;
    },
    [Symbol.asyncDispose]() {
      return agent.close();
    },
  };

  /** Resolves when the current connection has ended (the server answered the half-close). */
  function finishedSession(): Promise<void> {
    if (state !== "connected") return Promise.resolve();
    return new Promise((resolve) => {
      const off = agent.on("disconnected", () => (off(), resolve()));
    });
  }

  return agent;
}
