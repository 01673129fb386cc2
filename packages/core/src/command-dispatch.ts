import { restack } from "./caller-stack.js";
import type { ClientConnection } from "./client-connection.js";
import type { ClientDirectory } from "./client-directory.js";
import {
  type CommandCancelledError,
  ClientDisconnectedError,
  ClientNotConnectedError,
  InternalError,
  InvalidArgumentError,
  isCommandError,
  QueueFullError,
  ServiceClosedError,
  type CommandError,
} from "./errors.js";
import { IdempotencyCache } from "./idempotency.js";
import type { TraceContext } from "./service-definition.js";
import { endSpan, startSendSpan, traceContextOf } from "./tracing.js";
import type { PendingCommands } from "./pending-commands.js";
import type { ResolvedServiceOptions } from "./streaming-service-options.js";
import type { BroadcastOptions, BroadcastOutcome, CallOptions, ClientInfo, PostOptions } from "./streaming-service-types.js";
import { checkDuration, errorMessage } from "./validate.js";

/** Internal: what the caller's side of a hub needs from the rest of it. */
export interface DispatchContext<TOut, TCommand, TReply, C extends ClientConnection<TOut>> {
  readonly name: string;
  /** The error of a call cancelled by its signal. */
  cancelled(reason: unknown, clientId: string, commandId?: string): CommandCancelledError;
  wrapCommand(commandId: string, command: TCommand, deadline?: number, trace?: TraceContext): TOut;
  /** Tells the client to stop a command it was sent; undefined when the protocol cannot say it. */
  wrapCancel: ((commandId: string) => TOut) | undefined;
  readonly directory: ClientDirectory<C>;
  readonly pending: PendingCommands<TReply, C>;
  readonly counters: { commandsSent: number };
  readonly settings: ResolvedServiceOptions;
  isClosed(): boolean;
  info(connection: C): ClientInfo;
  disconnected(connection: C, commandId: string): ClientDisconnectedError;
  serviceClosed(): ServiceClosedError;
  /** Hears each sent command's outcome; undefined while nobody listens (then nothing is timed). */
  settled(): ((clientId: string, caller: string | undefined, startedAt: number, error: unknown) => void) | undefined;
}

interface Prepared<TOut, C> {
  connection: C;
  commandId: string;
  message: TOut;
}

/**
 * Internal: the caller's side of a hub — send, post, broadcast, waiting for a client. A command
 * finds its client (or waits for it), gets a fresh id, is registered, queued (or waits for room)
 * and armed with its deadline; on the common path (client connected, room in its queue) all of
 * that is synchronous.
 */
export function createCommandDispatch<TOut, TCommand, TReply, C extends ClientConnection<TOut>>(context: DispatchContext<TOut, TCommand, TReply, C>) {
  const { name, directory, pending, settings } = context;
  const where = (clientId?: string, commandId?: string) => ({ service: name, clientId, commandId });
  // Unique across services and restarts, cheap per command: a random prefix and a counter.
  const idPrefix = globalThis.crypto.randomUUID().slice(0, 8);
  let idCounter = 0;
  const idempotent = new IdempotencyCache<TReply>(settings.idempotencyWindowMs, settings.maxIdempotencyKeys, settings.now);

  function checkCall(clientId: unknown, signal: AbortSignal | undefined): asserts clientId is string {
    if (context.isClosed()) throw context.serviceClosed();
    if (typeof clientId !== "string" || clientId === "") {
      throw new InvalidArgumentError(`client id must be a non-empty string, got ${JSON.stringify(clientId)}`, where());
    }
    if (signal?.aborted) throw cancelled(signal.reason, clientId);
  }

  const cancelled = context.cancelled;

  function typed(error: unknown, clientId: string): CommandError {
    return isCommandError(error) ? error : new InternalError(errorMessage(error), { ...where(clientId), cause: error });
  }

  async function waitForClient(clientId: string, options: { timeoutMs: number; signal?: AbortSignal }): Promise<ClientInfo> {
    checkCall(clientId, options.signal);
    const timeoutMs = checkDuration("timeoutMs", options.timeoutMs);
    const connected = directory.get(clientId);
    if (connected !== undefined) return context.info(connected);
    await directory.waitFor(clientId, { timeoutMs, signal: options.signal }, {
      timedOut: () => new ClientNotConnectedError(`client ${clientId} did not connect within ${timeoutMs} ms`, where(clientId)),
      cancelled: () => cancelled(options.signal?.reason, clientId),
      full: (max) => new QueueFullError(`${max} calls are waiting for clients to connect already (maxConnectWaiters); this one was not sent`, where(clientId)),
    });
    const connection = directory.get(clientId);
    if (connection === undefined) throw new ClientNotConnectedError(`client ${clientId} disconnected again at once`, where(clientId));
    return context.info(connection);
  }

  /**
   * Finds (or waits for) the client and wraps the command with a fresh id and, for a call that
   * waits for the reply (`replyMs`), the latest moment its caller still waits: the queue wait plus the reply timeout.
   */
  function prepare(clientId: unknown, command: TCommand, call: PostOptions, replyMs?: number, trace?: TraceContext): Prepared<TOut, C> | Promise<Prepared<TOut, C>> {
    checkCall(clientId, call.signal);
    const commandId = `${idPrefix}-${(idCounter++).toString(36)}`;
    // Wall-clock time (not settings.now, which tests may fake): the client compares it with its own clock.
    const deadline = () => (replyMs === undefined ? undefined : Date.now() + (call.queueTimeoutMs ?? 0) + replyMs);
    const connection = directory.get(clientId);
    if (connection !== undefined) return { connection, commandId, message: wrapWith(clientId, commandId, command, deadline(), trace) };
    const waitMs = call.waitForConnectMs === undefined ? 0 : checkDuration("waitForConnectMs", call.waitForConnectMs);
    if (waitMs === 0) throw new ClientNotConnectedError(`client ${clientId} is not connected`, where(clientId));
    return waitForClient(clientId, { timeoutMs: waitMs, ...(call.signal ? { signal: call.signal } : {}) }).then(
      () => {
        const found = directory.get(clientId);
        if (found === undefined) throw new ClientNotConnectedError(`client ${clientId} disconnected again at once`, where(clientId));
        return { connection: found, commandId, message: wrapWith(clientId, commandId, command, deadline(), trace) };
      },
      (error: unknown) => {
        if (isCommandError(error, "command_cancelled")) pending.counters.cancellations++;
        throw error;
      },
    );
  }

  /** Sends the client the protocol's cancel for a command it was sent (if the protocol has one, and the client is still there). */
  function tellToStop(connection: C, commandId: string): void {
    if (context.wrapCancel === undefined || connection.closed) return;
    try {
      connection.queue.tryPush(context.wrapCancel(commandId));
    } catch (err) {
      settings.logger.warn({ service: context.name, clientId: connection.clientId, commandId, err }, "the binding could not build a cancel; the client was not told");
    }
  }

  /** The binding's wrapCommand; a binding that throws fails only this call, typed. */
  function wrapWith(clientId: string, commandId: string, command: TCommand, deadline: number | undefined, trace: TraceContext | undefined): TOut {
    try {
      return context.wrapCommand(commandId, command, deadline, trace);
    } catch (error) {
      if (isCommandError(error)) throw error;
      throw new InvalidArgumentError(`the binding could not wrap the command: ${errorMessage(error)}`, { ...where(clientId, commandId), cause: error });
    }
  }

  /** Puts `message` in the client's queue, waiting for room up to the queue timeout. */
  async function enqueue(connection: C, message: TOut, call: PostOptions, commandId: string): Promise<void> {
    const queueTimeoutMs = call.queueTimeoutMs === undefined ? 0 : checkDuration("queueTimeoutMs", call.queueTimeoutMs);
    const deadline = settings.now() + queueTimeoutMs;
    const clientId = connection.clientId ?? "?";
    const full = () =>
      new QueueFullError(
        `client ${clientId} has ${connection.queue.size} messages queued (limit ${settings.maxQueueSize})${queueTimeoutMs > 0 ? ` and no room came within ${queueTimeoutMs} ms` : ""}`,
        where(clientId, commandId),
      );
    for (;;) {
      if (connection.closed) throw context.disconnected(connection, commandId);
      if (connection.queue.tryPush(message)) return;
      const left = deadline - settings.now();
      if (left <= 0) throw full();
      try {
        await connection.queue.waitForRoom(left, call.signal, full);
      } catch (error) {
        if (isCommandError(error)) throw error;
        pending.counters.cancellations++;
        throw cancelled(call.signal?.reason, clientId, commandId);
      }
    }
  }

  /** Sends, or (with an idempotency key seen within the window) answers with the first call's outcome. */
  async function send(clientId: string, command: TCommand, call: CallOptions = {}): Promise<TReply> {
    const key = call.idempotencyKey;
    if (key === undefined || settings.idempotencyWindowMs === 0) return sendOnce(clientId, command, call);
    try {
      if (typeof key !== "string" || key === "" || key.length > 1024) {
        throw new InvalidArgumentError(`idempotencyKey must be a non-empty string of at most 1024 characters, got ${JSON.stringify(key)}`, where(clientId));
      }
      checkCall(clientId, call.signal);
      return await idempotent.run(clientId, key, () => sendOnce(clientId, command, call), where(clientId));
    } catch (error) {
      throw restack(typed(error, clientId), send);
    }
  }

  /**
   * One send: a span of its own (a child of the caller's, when one is active) whose trace context
   * travels with the command, and its outcome told to `context.settled` when someone listens.
   */
  function sendOnce(clientId: string, command: TCommand, call: CallOptions = {}): Promise<TReply> {
    const span = startSendSpan(context.name, clientId);
    const traced = traceContextOf(span);
    const settled = context.settled();
    const recording = span.isRecording();
    if (settled === undefined && !recording) return sendOne(clientId, command, call, traced);
    const startedAt = performance.now();
    return sendOne(clientId, command, call, traced).then(
      (reply) => {
        settled?.(clientId, call.caller, startedAt, undefined);
        if (recording) endSpan(span, undefined);
        return reply;
      },
      (error: unknown) => {
        settled?.(clientId, call.caller, startedAt, error);
        if (recording) endSpan(span, error);
        throw error;
      },
    );
  }

  async function sendOne(clientId: string, command: TCommand, call: CallOptions, trace: TraceContext | undefined): Promise<TReply> {
    try {
      const timeoutMs = call.timeoutMs === undefined ? settings.defaultTimeoutMs : checkDuration("timeoutMs", call.timeoutMs, 1);
      const prepared = prepare(clientId, command, call, timeoutMs, trace);
      const { connection, commandId, message } = prepared instanceof Promise ? await prepared : prepared;
      const waiting = connection.pendingIds.size;
      if (waiting >= settings.maxPendingPerClient) {
        throw new QueueFullError(`client ${clientId} has ${waiting} commands waiting for replies (limit ${settings.maxPendingPerClient})`, where(clientId, commandId));
      }
      // Registered before it is queued: a fast client cannot answer an id the hub does not know yet.
      const reply = pending.register(commandId, connection);
      if (!connection.queue.tryPush(message)) {
        try {
          await enqueue(connection, message, call, commandId);
        } catch (error) {
          pending.settle(commandId, { error: typed(error, clientId) });
          return await reply;
        }
      }
      context.counters.commandsSent++;
      pending.arm(commandId, timeoutMs, call.signal);
      try {
        return await reply;
      } catch (error) {
        // Timed out or cancelled while still queued: never delivered late. Delivered: the client is told to stop.
        const delivered = !connection.queue.remove((queued) => queued === message);
        if (delivered && (isCommandError(error, "command_timeout") || isCommandError(error, "command_cancelled"))) tellToStop(connection, commandId);
        throw error;
      }
    } catch (error) {
      // Here, where the caller's await resumes: the stack is the caller's, not a timer's.
      throw restack(typed(error, clientId), sendOne);
    }
  }

  async function post(clientId: string, command: TCommand, call: PostOptions = {}): Promise<string> {
    try {
      const prepared = prepare(clientId, command, call);
      const { connection, message, commandId } = prepared instanceof Promise ? await prepared : prepared;
      // Remembered before it is queued, so even an instant reply is known to be expected.
      pending.posted(commandId);
      if (!connection.queue.tryPush(message)) {
        try {
          await enqueue(connection, message, call, commandId);
        } catch (error) {
          pending.forget(commandId);
          throw error;
        }
      }
      context.counters.commandsSent++;
      return commandId;
    } catch (error) {
      throw restack(typed(error, clientId), post);
    }
  }

  async function broadcast(command: TCommand, options: BroadcastOptions = {}): Promise<BroadcastOutcome<TReply>[]> {
    if (context.isClosed()) throw context.serviceClosed();
    const { filter, ...call } = options;
    const targets = [...directory.values()].filter((connection) => filter === undefined || filter(context.info(connection)));
    return Promise.all(
      targets.map(async (connection): Promise<BroadcastOutcome<TReply>> => {
        const clientId = connection.clientId ?? "";
        try {
          return { clientId, ok: true, reply: await send(clientId, command, call) };
        } catch (error) {
          return { clientId, ok: false, error: typed(error, clientId) };
        }
      }),
    );
  }

  return { send, post, broadcast, waitForClient };
}
