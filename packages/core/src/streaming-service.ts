import { ClientConnection } from "./client-connection.js";
import { ClientDirectory } from "./client-directory.js";
import { createCommandDispatch } from "./command-dispatch.js";
import {
  ClientDisconnectedError,
  ClientReplacedError,
  CommandCancelledError,
  CommandFailedError,
  CommandTimeoutError,
  DuplicateClientError,
  HeartbeatTimeoutError,
  InternalError,
  isCommandError,
  PermissionDeniedError,
  ProtocolError,
  RateLimitedError,
  ServiceClosedError,
  type CommandError,
} from "./errors.js";
import { HeartbeatMonitor } from "./heartbeat-monitor.js";
import { createListeners } from "./listeners.js";
import { PendingCommands } from "./pending-commands.js";
import { TokenBucket } from "./rate-limiter.js";
import { checkBinding, type ClientIdentity, type ReplyEnvelope, type StreamingServiceDefinition } from "./service-definition.js";
import { resolveServiceOptions } from "./streaming-service-options.js";
import type {
  ClientInfo,
  CommandSettledEvent,
  DisconnectEvent,
  DisconnectReason,
  HandleStreamOptions,
  StreamingService,
  StreamingServiceOptions,
} from "./streaming-service-types.js";
import { errorMessage } from "./validate.js";
import { metadataProblem } from "./hello-limits.js";

const maxClientIdLength = 256;

/**
 * Creates the streaming service (hub) of one bidi method, speaking the user's protocol through the
 * definition's binding. Register it with `registerStreamingService` to reach it by its name.
 */
export function createStreamingService<TIn, TOut, TCommand, TReply>(
  definition: StreamingServiceDefinition<TIn, TOut, TCommand, TReply>,
  options: StreamingServiceOptions = {},
): StreamingService<TIn, TOut, TCommand, TReply> {
  checkBinding(definition?.binding);
  const { name, binding } = definition;
  const settings = resolveServiceOptions(options);
  const { logger, now, maxQueueSize, maxMessagesPerSecond } = settings;
  type Connection = ClientConnection<TOut>;

  const connections = new Set<Connection>();
  /** Clients past their hello, in the admission gates: not listed yet. */
  const admitting = new Map<string, Connection>();
  const gates = new Set<(client: ClientInfo) => Promise<void>>();
  const directory = new ClientDirectory<Connection>(settings.maxConnectWaiters);
  const pending = new PendingCommands<TReply, Connection>({
    timedOut: (connection, commandId, timeoutMs) =>
      new CommandTimeoutError(`client ${connection.clientId} did not reply to command ${commandId} within ${timeoutMs} ms`, where(connection.clientId, commandId)),
    cancelled: (connection, commandId, reason) => cancelledError(reason, connection.clientId ?? "?", commandId),
  });
  const counters = { commandsSent: 0, repliesOk: 0, repliesFailed: 0, disconnectRejections: 0 };
  const listenerFailed = (what: string) => (err: unknown) => logger.error({ service: name, err }, `${what} listener threw; ignored`);
  const connectListeners = createListeners<[ClientInfo]>(listenerFailed("onConnect"));
  const disconnectListeners = createListeners<[DisconnectEvent]>(listenerFailed("onDisconnect"));
  const messageListeners = createListeners<[string, TIn]>(listenerFailed("onMessage"));
  const settledListeners = createListeners<[CommandSettledEvent]>(listenerFailed("onCommandSettled"));
  const commandSettled = (clientId: string, caller: string | undefined, startedAt: number, error: unknown): void =>
    settledListeners.emit({ clientId, caller, outcome: error === undefined ? "ok" : isCommandError(error) ? error.code : "internal", durationMs: performance.now() - startedAt });
  const heartbeat = new HeartbeatMonitor<Connection>({
    timeoutMs: settings.heartbeatTimeoutMs,
    now,
    connections: () => directory.values(),
    lastSeenAt: (connection) => connection.lastSeenAt,
    onSilent: (connection) =>
      drop(connection, "heartbeat_timeout", new HeartbeatTimeoutError(`client ${connection.clientId} sent nothing for ${settings.heartbeatTimeoutMs} ms`, where(connection.clientId))),
  });
  let closed = false;

  const where = (clientId?: string, commandId?: string) => ({ service: name, clientId, commandId });
  const info = (connection: Connection): ClientInfo => connection.info();
  const serviceClosed = () => new ServiceClosedError(`streaming service ${name} is closed`, where());

  function cancelledError(reason: unknown, clientId: string, commandId?: string): CommandCancelledError {
    return new CommandCancelledError(`command to client ${clientId} was cancelled: ${errorMessage(reason)}`, { ...where(clientId, commandId), cause: reason });
  }

  /** The one way a connection ends: its pending commands are rejected, its listeners told. */
  function drop(connection: Connection, reason: DisconnectReason, error?: CommandError): void {
    const wasOpen = connection.state === "open";
    // A stream the client ended closes cleanly; the others with the error, so the client learns why
    // (a closing service ends them with ServiceClosedError: a transport tells the client to reconnect).
    if (!connection.close({ reason, error }, error)) return;
    connections.delete(connection);
    const clientId = connection.clientId;
    if (clientId !== undefined) directory.delete(clientId, connection);
    if (clientId !== undefined && admitting.get(clientId) === connection) admitting.delete(clientId);
    const snapshot = info(connection);
    const rejected = pending.rejectOwner(connection, (commandId) => disconnected(connection, commandId));
    counters.disconnectRejections += rejected;
    if (directory.size === 0) heartbeat.stop();
    if (wasOpen) {
      logger.info({ service: name, clientId, reason, rejected }, "client disconnected");
      disconnectListeners.emit(error === undefined ? { client: snapshot, reason } : { client: snapshot, reason, error });
    } else if (error !== undefined && reason !== "service_closed") {
      logger.warn({ service: name, reason, err: error }, "connection refused");
    }
  }

  /** The error of a command whose client's connection ended (or was found ended). */
  function disconnected(connection: Connection, commandId: string): ClientDisconnectedError {
    const clientId = connection.clientId ?? "?";
    const end = connection.ended ?? { reason: "client_closed", error: undefined };
    const message =
      end.reason === "service_closed"
        ? `streaming service ${name} closed before client ${clientId} replied to command ${commandId}`
        : `client ${clientId} disconnected (${end.reason}) before replying to command ${commandId}`;
    return new ClientDisconnectedError(message, { ...where(connection.clientId, commandId), cause: end.error });
  }

  function admit(connection: Connection, identity: ClientIdentity): void {
    const clientId = identity.clientId;
    if (typeof clientId !== "string" || clientId === "" || clientId.length > maxClientIdLength) {
      return drop(connection, "protocol_error", new ProtocolError(`client id must be a non-empty string of at most ${maxClientIdLength} characters`, where()));
    }
    const problem = metadataProblem(identity.metadata, settings);
    if (problem !== undefined) return drop(connection, "protocol_error", new ProtocolError(problem, where(clientId)));
    const existing = directory.get(clientId) ?? admitting.get(clientId);
    if (existing !== undefined) {
      if (settings.duplicatePolicy === "reject") {
        return drop(connection, "protocol_error", new DuplicateClientError(`client ${clientId} is already connected`, where(clientId)));
      }
      drop(existing, "replaced", new ClientReplacedError(`client ${clientId} connected again, this connection was replaced`, where(clientId)));
    }
    connection.open(identity, now());
    if (gates.size === 0) return enter(connection, clientId);
    admitting.set(clientId, connection);
    const client = info(connection);
    const timeout = new Promise<never>((_, reject) => {
      const timer = setTimeout(() => reject(new Error(`not done within ${settings.helloTimeoutMs} ms`)), settings.helloTimeoutMs);
      timer.unref?.();
    });
    Promise.race([Promise.all([...gates].map((gate) => gate(client))), timeout]).then(
      () => admitting.get(clientId) === connection && (admitting.delete(clientId), enter(connection, clientId)),
      (cause: unknown) => drop(connection, "protocol_error", new InternalError(`client ${clientId} could not be admitted: ${errorMessage(cause)}`, { ...where(clientId), cause })),
    );
  }

  /** The client counts as connected: listed, welcomed (the first message on its stream), announced. */
  function enter(connection: Connection, clientId: string): void {
    if (connection.closed) return;
    directory.set(clientId, connection);
    if (binding.welcome !== undefined) {
      // The first message on the stream, before any command: the client's proof that it is admitted.
      try {
        connection.queue.tryPush(binding.welcome({ clientId, metadata: { ...connection.metadata } }));
      } catch (cause) {
        return drop(connection, "protocol_error", new InternalError(`the binding could not build the welcome: ${errorMessage(cause)}`, { ...where(clientId), cause }));
      }
    }
    heartbeat.start();
    logger.info({ service: name, clientId }, "client connected");
    connectListeners.emit(info(connection));
  }

  function onClientMessage(connection: Connection, message: TIn): void {
    const at = now();
    connection.lastSeenAt = at;
    const overRate = () => new RateLimitedError(`client ${connection.clientId ?? "?"} sent more than ${maxMessagesPerSecond} messages per second`, where(connection.clientId));
    if (connection.state === "handshake") {
      if (connection.bucket?.take(at) === false) throw overRate();
      const identity = binding.identify(message);
      if (identity === undefined) return drop(connection, "protocol_error", new ProtocolError("the first message must identify the client (hello)", where()));
      return admit(connection, identity);
    }
    if (connection.helloOptional) {
      connection.helloOptional = false;
      const claimed = binding.identify(message);
      if (claimed !== undefined) {
        if (claimed.clientId !== connection.clientId) {
          const message = `client authenticated as ${connection.clientId} claimed to be ${String(claimed.clientId)}`;
          return drop(connection, "protocol_error", new PermissionDeniedError(message, where(connection.clientId)));
        }
        const merged = { ...connection.metadata, ...claimed.metadata };
        const problem = metadataProblem(merged, settings);
        if (problem !== undefined) return drop(connection, "protocol_error", new ProtocolError(problem, where(connection.clientId)));
        connection.metadata = merged;
        return;
      }
    }
    const reply = binding.readReply(message);
    // Answers to our own commands are never limited: the server decides how many it sends.
    const answersPending = reply !== undefined && pending.isPendingFor(connection, reply.commandId);
    if (!answersPending && connection.bucket?.take(at) === false) throw overRate();
    if (reply === undefined) return messageListeners.emit(connection.clientId ?? "", message);
    onReply(connection, reply);
  }

  function onReply(connection: Connection, reply: ReplyEnvelope<TReply>): void {
    const { commandId } = reply;
    if (typeof commandId !== "string" || commandId === "") throw new ProtocolError("a reply must carry the command id it answers", where(connection.clientId));
    const match = pending.take(connection, commandId);
    if (match === "late") logger.debug({ service: name, clientId: connection.clientId, commandId }, "late reply dropped");
    else if (match === "unknown") logger.warn({ service: name, clientId: connection.clientId, commandId }, "reply to an unknown command id ignored");
    if (match !== "pending") return;
    if (reply.ok) {
      counters.repliesOk++;
      pending.settle(commandId, { reply: reply.reply });
      return;
    }
    counters.repliesFailed++;
    const options = { ...where(connection.clientId, commandId), reply: reply.reply };
    const failed = new CommandFailedError(String(reply.code), String(reply.message), options);
    // The agent refused it unrun because its deadline had passed: to the caller, that is a timeout.
    const late = failed.clientErrorCode === "deadline_exceeded";
    pending.settle(commandId, { error: late ? new CommandTimeoutError(`client ${connection.clientId} refused the command unrun: its deadline had passed`, { ...where(connection.clientId, commandId), cause: failed }) : failed });
  }

  async function readLoop(connection: Connection, incoming: AsyncIterable<TIn>): Promise<void> {
    const iterator = incoming[Symbol.asyncIterator]();
    const stop = (): void => void iterator.return?.()?.catch(() => {});
    // When the hub drops the connection, ask the transport to stop the read it may be waiting on
    // (one listener, not a race per message: a race would leave a reaction per message behind).
    if (connection.closed) return stop();
    connection.stopReading.signal.addEventListener("abort", stop, { once: true });
    try {
      for (;;) {
        const result = await iterator.next();
        if (connection.closed) return;
        if (result.done === true) return drop(connection, "client_closed");
        try {
          onClientMessage(connection, result.value);
        } catch (cause) {
          const error = isCommandError(cause) ? cause : new ProtocolError(`malformed message from client: ${errorMessage(cause)}`, { ...where(connection.clientId), cause });
          return drop(connection, "protocol_error", error);
        }
      }
    } catch (cause) {
      if (connection.closed) return; // our own return() above, or a failure after the drop
      // The transport could not read the stream (undecodable bytes, an oversized message, a reset).
      logger.debug({ service: name, clientId: connection.clientId, err: cause }, "client stream failed");
      drop(connection, "transport_error", new ProtocolError(`the client's stream failed: ${errorMessage(cause)}`, { ...where(connection.clientId), cause }));
    }
  }

  function handleStream(incoming: AsyncIterable<TIn>, streamOptions: HandleStreamOptions = {}): AsyncIterable<TOut> {
    const at = now();
    const connection: Connection = new ClientConnection<TOut>(maxQueueSize, at, maxMessagesPerSecond > 0 ? new TokenBucket(maxMessagesPerSecond, at) : undefined);
    const outgoing: AsyncIterableIterator<TOut> = {
      next: () => connection.queue.next(),
      // The transport stopped writing (client cancelled, response closed).
      return: (value?: unknown) => (drop(connection, "cancelled"), Promise.resolve({ value: value as TOut, done: true })),
      [Symbol.asyncIterator]() {
        return this;
      },
    };
    if (closed) {
      connection.close({ reason: "service_closed", error: serviceClosed() }, serviceClosed());
      return outgoing;
    }
    connections.add(connection);
    const signal = streamOptions.signal;
    if (signal !== undefined) {
      if (signal.aborted) return (drop(connection, "cancelled"), outgoing);
      const onAbort = (): void => drop(connection, "cancelled");
      signal.addEventListener("abort", onAbort, { once: true });
      connection.stopReading.signal.addEventListener("abort", () => signal.removeEventListener("abort", onAbort), { once: true });
    }
    if (streamOptions.identity !== undefined) {
      admit(connection, streamOptions.identity);
      connection.helloOptional = true;
    } else {
      connection.startHelloTimer(settings.helloTimeoutMs, () =>
        drop(connection, "protocol_error", new ProtocolError(`no hello within ${settings.helloTimeoutMs} ms`, where())),
      );
    }
    void readLoop(connection, incoming);
    return outgoing;
  }

  const dispatch = createCommandDispatch<TOut, TCommand, TReply, Connection>({
    name,
    cancelled: cancelledError,
    wrapCommand: (commandId, command, deadline, trace) => binding.wrapCommand(commandId, command, deadline, trace),
    wrapCancel: binding.wrapCancel === undefined ? undefined : (commandId) => binding.wrapCancel!(commandId),
    directory,
    pending,
    counters,
    settings,
    isClosed: () => closed,
    info,
    disconnected,
    serviceClosed,
    settled: () => (settledListeners.size === 0 ? undefined : commandSettled),
  });

  async function close(): Promise<void> {
    if (closed) return;
    closed = true;
    heartbeat.stop();
    // Pending commands are rejected with ClientDisconnectedError whose cause is ServiceClosedError.
    for (const connection of [...connections]) drop(connection, "service_closed", serviceClosed());
    directory.rejectAll(serviceClosed());
    pending.clearRecent();
  }

  return {
    name,
    definition,
    get closed() {
      return closed;
    },
    handleStream,
    ...dispatch,
    isConnected: (clientId) => directory.get(clientId) !== undefined,
    client: (clientId) => {
      const connection = directory.get(clientId);
      return connection === undefined ? undefined : info(connection);
    },
    clients: () => [...directory.values()].map(info),
    onConnect: (listener) => connectListeners.add(listener),
    onDisconnect: (listener) => disconnectListeners.add(listener),
    onMessage: (listener) => messageListeners.add(listener),
    onCommandSettled: (listener) => settledListeners.add(listener),
    addAdmissionGate: (gate) => (gates.add(gate), () => void gates.delete(gate)),
    disconnect: (clientId, error) => {
      const connection = directory.get(clientId);
      if (connection === undefined) return false;
      drop(connection, isCommandError(error, "client_replaced") ? "replaced" : "server_disconnected", error);
      return true;
    },
    stats: () => {
      let queuedMessages = 0;
      for (const connection of directory.values()) queuedMessages += connection.queue.size;
      const { timeouts, cancellations, lateReplies, unknownReplies } = pending.counters;
      return { connectedClients: directory.size, pendingCommands: pending.size, queuedMessages, ...counters, timeouts, cancellations, lateReplies, unknownReplies };
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}
