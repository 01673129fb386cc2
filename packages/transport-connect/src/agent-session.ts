import type { Http2SessionManager } from "@connectrpc/connect-node";
import { CommandCancelledError, isCommandError, type ClientBinding, type CommandContext, type CommandFailedError, type Logger, type TraceContext } from "@streamcmd/core";
import { childSpan, createLimiter, errorMessage, PushQueue } from "@streamcmd/core/internal";


/** Internal: what one session needs from the agent. */
export interface SessionOptions<TIn, TOut, TCommand, TReply> {
  /** Opens the bidi call (Connect's client method). */
  call: (requests: AsyncIterable<TIn>, options: { signal: AbortSignal; headers?: Record<string, string> }) => AsyncIterable<TOut>;
  /** Builds the hello (user code: may throw, which ends the attempt). */
  hello: () => TIn;
  headers: (() => Record<string, string> | undefined) | undefined;
  /** The agent's own HTTP/2 connection, when it owns one: opened (or checked) before the call. */
  sessionManager: Http2SessionManager | undefined;
  binding: ClientBinding<TIn, TOut, TCommand, TReply>;
  onCommand: (command: TCommand, context: CommandContext) => TReply | Promise<TReply>;
  heartbeatIntervalMs: number;
  maxConcurrentCommands: number;
  logger: Logger;
  /** Aborted when the agent closes. */
  lifetime: AbortSignal;
  /** Called once, when the session counts as connected (see `runSession`). */
  onConnected: () => void;
}

/** Internal: how a session ended. */
export interface SessionOutcome {
  /** Whether it ever counted as connected. */
  connected: boolean;
  /** Whether it worked long enough (a message arrived, or it lasted a second) to start the backoff over. */
  stable: boolean;
  error?: unknown;
}

/** Internal: one connection, from hello to its end. */
export interface Session<TIn> {
  /** Puts a message of the app's own on the stream; false once the session is over. */
  send(message: TIn): boolean;
  /** Half-closes the request stream: the server sees the client leave. */
  end(): void;
  readonly done: Promise<SessionOutcome>;
}

/** A session that lasted this long (or got a message) resets the backoff. */
const stableAfterMs = 1_000;

/**
 * Internal: runs one connection. It counts as connected when the server's welcome arrives (the
 * binding's `isWelcome`: proof that the hub admitted the client); with a binding that has no
 * welcome, as soon as the connection is open and the hello handed over, which is all the agent
 * can know then. Commands go to `onCommand`, at most `maxConcurrentCommands` at once, while the
 * stream keeps being read, so a lost connection is noticed even when every handler is busy.
 */
export function runSession<TIn, TOut, TCommand, TReply>(options: SessionOptions<TIn, TOut, TCommand, TReply>): Session<TIn> {
  const { binding, logger } = options;
  const controller = new AbortController();
  const stop = (): void => controller.abort(options.lifetime.reason);
  options.lifetime.addEventListener("abort", stop, { once: true });
  const outbox = new PushQueue<TIn>();
  const slots = createLimiter(options.maxConcurrentCommands, "maxConcurrentCommands");
  /** The commands being handled (or waiting for a slot), so the server's cancel reaches their handler. */
  const running = new Map<string, AbortController>();
  // One listener for the session, not a combined signal per command: the session's end stops every handler.
  controller.signal.addEventListener("abort", () => running.forEach((own) => own.abort(controller.signal.reason)), { once: true });
  const openedAt = performance.now();
  let connected = false;
  let received = false;
  let heartbeat: ReturnType<typeof setInterval> | undefined;

  /** User code builds every outgoing message; one that throws is logged, never fatal. */
  const push = (what: string, make: () => TIn): void => {
    if (controller.signal.aborted) return;
    try {
      outbox.tryPush(make());
    } catch (err) {
      logger.error({ err }, `agent binding failed to build the ${what}; not sent`);
    }
  };

  const markConnected = (): void => {
    if (connected || controller.signal.aborted) return;
    connected = true;
    options.onConnected();
    const makeHeartbeat = binding.heartbeat?.bind(binding);
    if (options.heartbeatIntervalMs > 0 && makeHeartbeat !== undefined) {
      heartbeat = setInterval(() => push("heartbeat", makeHeartbeat), options.heartbeatIntervalMs);
      heartbeat.unref?.();
    }
  };

  const failureOf = (error: unknown): { code: string; message: string } => {
    if (isCommandError(error, "command_failed")) {
      const failed = error as CommandFailedError;
      return { code: failed.clientErrorCode, message: failed.clientErrorMessage };
    }
    const code = (error as { code?: unknown } | null)?.code;
    return { code: typeof code === "string" && code !== "" ? code : "handler_error", message: errorMessage(error) };
  };

  const handle = async (commandId: string, command: TCommand, deadline: number | undefined, trace: TraceContext | undefined): Promise<void> => {
    const own = new AbortController();
    running.set(commandId, own);
    let release: () => void;
    try {
      // A free slot is taken at once: no turn of the microtask queue per command.
      release = slots.tryAcquire() ?? (await slots.acquire());
    } catch {
      running.delete(commandId);
      return; // the session ended while it waited: its answer would have nowhere to go
    }
    try {
      // The server cancelled it while it waited for a slot: nobody waits for it any more.
      if (own.signal.aborted) return void (controller.signal.aborted || logger.info({ commandId }, "command cancelled by the server before it ran; not run"));
      // Its caller gave up already (the client stalled, or the command waited here): never run it late.
      if (deadline !== undefined && Date.now() >= deadline) {
        const late = Date.now() - deadline;
        logger.warn({ commandId, lateMs: late }, "command arrived after its deadline; refused without running it");
        push("failure reply", () => binding.failure(commandId, "deadline_exceeded", `the command's deadline passed ${late} ms before it could run; not run`));
        return;
      }
      const signal = own.signal;
      const context: CommandContext = deadline === undefined ? { commandId, signal } : { commandId, signal, deadline };
      if (trace !== undefined) context.trace = trace;
      // A traced command runs inside a span of its own, a child of the hub's send: the caller's trace.
      const span = trace === undefined ? undefined : childSpan(trace, "streamcmd handle", { "streamcmd.command_id": commandId });
      let reply: TReply;
      try {
        reply = await (span === undefined ? options.onCommand(command, context) : span.run(() => options.onCommand(command, context)));
      } catch (error) {
        span?.end(error);
        throw error;
      }
      span?.end(undefined);
      if (!own.signal.aborted || controller.signal.aborted) push("success reply", () => binding.success(commandId, reply));
    } catch (error) {
      if (own.signal.aborted && !controller.signal.aborted) return; // the server cancelled it: nobody waits for an answer
      const { code, message } = failureOf(error);
      if (!controller.signal.aborted) logger.warn({ commandId, code, message }, "command handler failed; answering with a failure");
      push("failure reply", () => binding.failure(commandId, code, message));
    } finally {
      release();
      running.delete(commandId);
    }
  };

  const done = (async (): Promise<SessionOutcome> => {
    const outcome = (error?: unknown): SessionOutcome => ({ connected, stable: received || performance.now() - openedAt >= stableAfterMs, ...(error === undefined ? {} : { error }) });
    try {
      // Open (or verify) the connection first, so a refused connection fails here, fast.
      if (options.sessionManager !== undefined && (await options.sessionManager.connect()) === "error") throw options.sessionManager.error();
      outbox.tryPush(options.hello());
      const headers = options.headers?.();
      const responses = options.call(outbox, headers === undefined ? { signal: controller.signal } : { signal: controller.signal, headers });
      if (binding.isWelcome === undefined) markConnected();
      for await (const message of responses) {
        received = true;
        let command: { commandId: string; command: TCommand; deadline?: number; trace?: TraceContext } | undefined;
        try {
          if (binding.isWelcome?.(message) === true) {
            markConnected();
            continue;
          }
          const cancelled = binding.readCancel?.(message);
          if (cancelled !== undefined) {
            running.get(cancelled)?.abort(new CommandCancelledError(`the server cancelled command ${cancelled}: its caller gave up, or its timeout passed`));
            continue;
          }
          command = binding.readCommand(message);
        } catch (err) {
          logger.warn({ err }, "agent binding could not read a server message; ignored");
          continue;
        }
        if (command !== undefined) void handle(command.commandId, command.command, command.deadline, command.trace);
      }
      return outcome();
    } catch (error) {
      return outcome(error);
    } finally {
      if (heartbeat !== undefined) clearInterval(heartbeat);
      outbox.end();
      // Handlers still running are told through their signal; those still waiting never start.
      controller.abort();
      slots.clear(new Error("the session ended"));
      options.lifetime.removeEventListener("abort", stop);
    }
  })();

  return {
    send: (message) => !controller.signal.aborted && outbox.tryPush(message),
    end: () => outbox.end(),
    done,
  };
}
