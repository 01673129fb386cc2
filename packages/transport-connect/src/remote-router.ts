import { isMessage, type DescMessage } from "@bufbuild/protobuf";
import { anyUnpack, timestampDate } from "@bufbuild/protobuf/wkt";
import { pack as packMessage } from "./message-encoder.js";
import { createClient, type Interceptor, type Transport } from "@connectrpc/connect";
import type { Http2SessionOptions } from "@connectrpc/connect-node";
import {
  ClosedError,
  CommandCancelledError,
  InternalError,
  InvalidArgumentError,
  QueueFullError,
  setRemoteRouter,
  type ClientInfo,
  type RemoteCommandRequest,
  type RemoteRouter,
  type ServiceKey,
} from "@streamcmd/core";
import { activeTraceContext, checkCount, checkDuration, checkOneOf, createLimiter, errorMessage, maxDurationMs } from "@streamcmd/core/internal";
import { CommandStream, StreamUnsupportedError } from "./command-stream.js";
import { fromConnectError } from "./error-mapping.js";
import { CommandRouterService, type ExecuteResponse } from "./gen/streamcmd/v1/command_router_pb.js";
import { ownTransport, type TokenSource } from "./grpc-connection.js";
import type { ClientTlsOptions } from "./tls-options.js";
import { schemasOf, type ProtobufSchemas } from "./protobuf-schemas.js";

/** Options of `createRemoteRouter`. */
export interface RemoteRouterOptions {
  /** The server's URL, e.g. `http://127.0.0.1:50051`. One HTTP/2 connection to it serves every call. */
  baseUrl?: string;
  /**
   * A transport of your own instead of `baseUrl` (TLS options, interceptors, a test transport).
   * `ExecuteStream` then runs on connect-es's client, which keeps every answer it received until the
   * stream ends (connect-es #1524, it closes after 2 s idle); with `baseUrl` it runs on the router's own HTTP/2 client.
   */
  transport?: Transport;
  /** The caller's credential for a router that requires one: a token, or a function giving the current one (rotation). */
  token?: TokenSource;
  /** TLS for an `https://` baseUrl: the CA that issued the server's certificate, a client certificate for mutual TLS. */
  tls?: ClientTlsOptions;
  /** Plaintext (`http://`) to an address other than loopback: refused unless true. */
  insecure?: boolean;
  /** Interceptors for the transport built from `baseUrl` (they put `ExecuteStream` on connect-es's client too, see `transport`). */
  interceptors?: Interceptor[];
  /** HTTP/2 keepalive and timeouts of the connection built from `baseUrl`. */
  http2?: Http2SessionOptions;
  /**
   * How much longer than the server's whole wait the call's own deadline is, in ms, so the
   * server's typed timeout arrives before the transport gives up. Default 1000.
   */
  deadlineMarginMs?: number;
  /**
   * How `execute` travels: `"stream"` (default) multiplexes every call on one long-lived
   * `ExecuteStream`; `"unary"` makes one `Execute` call per command (simpler on the wire, slower).
   */
  executeVia?: "stream" | "unary";
  /**
   * Unary calls (`Execute`, `Post`, `ListClients`) in flight on the connection at once (at least 1;
   * keep it under the server's `limits.maxStreamsPerConnection`, 128 by default); more wait in order.
   * A call still waiting when its deadline passes fails with `QueueFullError`: it was never sent.
   * Default 100.
   */
  maxConcurrentCalls?: number;
}

/** A `RemoteRouter` over Connect, holding one HTTP/2 connection. */
export interface ConnectRemoteRouter extends RemoteRouter {
  /** The server's URL, when built from one. */
  readonly baseUrl: string | undefined;
  /** Closes the HTTP/2 connection it opened (not a transport passed in); calls in flight are cancelled. */
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * The cross-process path over Connect: implements core's `RemoteRouter` against
 * `streamcmd.v1.CommandRouterService` on one reused HTTP/2 session (never a connection per
 * command). Commands and replies are packed with the protobuf `schemas` of the service's
 * definition; a service without them, or a command of the wrong type, is refused before anything
 * is sent. Commands travel multiplexed on one long-lived `ExecuteStream` (or, with
 * `executeVia: "unary"`, one `Execute` call each). Each call has a deadline; an `AbortSignal`
 * cancels it on the server too. Errors arrive as the same typed classes a same-process caller gets.
 */
export function createRemoteRouter(options: RemoteRouterOptions): ConnectRemoteRouter {
  const marginMs = checkDuration("deadlineMarginMs", options.deadlineMarginMs ?? 1_000);
  const executeVia = checkOneOf("executeVia", options.executeVia ?? "stream", ["stream", "unary"]);
  const { transport, sessionManager, bidi } = ownTransport("createRemoteRouter", options);
  const client = createClient(CommandRouterService, transport);
  const executeStream = bidi?.(CommandRouterService.method.executeStream) ?? ((requests, o) => client.executeStream(requests, o));
  let stream = executeVia === "stream" ? new CommandStream(executeStream) : undefined;
  const calls = createLimiter(checkCount("maxConcurrentCalls", options.maxConcurrentCalls ?? 100, 1), "maxConcurrentCalls");

  /**
   * Runs one unary call in a slot: the wait counts against its deadline, and a call that waited it
   * out was never sent (`QueueFullError`, safe to retry). Errors come back typed; a broken
   * connection is `RouterUnavailableError`, whatever status the transport made of it.
   */
  async function unaryCall<T>(
    run: (options: { timeoutMs?: number; signal?: AbortSignal }) => Promise<T>,
    call: { signal?: AbortSignal | undefined; deadlineMs?: number | undefined; replySchema?: DescMessage; where: { service: string; clientId?: string } },
  ): Promise<T> {
    const waited = call.deadlineMs === undefined ? call.signal : AbortSignal.any([AbortSignal.timeout(call.deadlineMs), ...(call.signal ? [call.signal] : [])]);
    const started = performance.now();
    let release: () => void;
    try {
      release = await calls.acquire(waited);
    } catch (reason) {
      if (call.signal?.aborted === true || reason instanceof ClosedError) {
        throw new CommandCancelledError(`the call was cancelled before it was sent: ${errorMessage(reason)}`, { ...call.where, cause: reason });
      }
      throw new QueueFullError(`${calls.max} calls to the command router were in flight for the whole deadline; this one was not sent`, call.where);
    }
    try {
      const timeoutMs = call.deadlineMs === undefined ? undefined : Math.max(1, Math.floor(call.deadlineMs - (performance.now() - started)));
      return await run({ ...(timeoutMs === undefined ? {} : { timeoutMs }), ...(call.signal ? { signal: call.signal } : {}) });
    } catch (error) {
      throw fromConnectError(error, call.replySchema, { signal: call.signal });
    } finally {
      release();
    }
  }

  /** The whole wait the server may take plus a margin for the way back; none if past setTimeout's range. */
  function deadline(serverWaitMs: number): number | undefined {
    const total = serverWaitMs + marginMs;
    return total <= maxDurationMs ? total : undefined;
  }

  /** The service's schemas and the command packed with them; refuses before anything is sent. */
  function pack<TCommand, TReply>(service: ServiceKey<TCommand, TReply>, command: TCommand) {
    const schemas = schemasOf(service);
    if (!isMessage(command, schemas.command)) {
      const got = (command as { $typeName?: unknown } | null)?.$typeName;
      throw new InvalidArgumentError(
        `a command of "${service.name}" must be a ${schemas.command.typeName}${typeof got === "string" ? `, got a ${got}` : ", got something that is not a protobuf message"}`,
        { service: service.name },
      );
    }
    return { schemas, any: packMessage(schemas.command, command) };
  }

  function unpackReply<TCommand, TReply>(schemas: ProtobufSchemas<TCommand, TReply>, response: ExecuteResponse, where: { service: string; clientId: string }): TReply {
    if (response.reply === undefined) throw new InternalError("the router answered without a reply", where);
    const reply = anyUnpack(response.reply, schemas.reply);
    if (reply === undefined) throw new InternalError(`the router answered with a ${response.reply.typeUrl}, not a ${schemas.reply.typeName}`, where);
    return reply;
  }

  async function execute<TCommand, TReply>(service: ServiceKey<TCommand, TReply>, request: RemoteCommandRequest<TCommand>, callOptions: { signal?: AbortSignal } = {}): Promise<TReply> {
    const { schemas, any } = pack(service, request.command);
    const { clientId, timeoutMs, waitForConnectMs, queueTimeoutMs } = request;
    // The caller's trace (when it is traced) continues on the server, the hub and the client.
    const trace = activeTraceContext();
    const body = { service: service.name, clientId, command: any, timeoutMs, waitForConnectMs, queueTimeoutMs, idempotencyKey: request.idempotencyKey ?? "", ...trace };
    const deadlineMs = deadline(timeoutMs + waitForConnectMs + queueTimeoutMs);
    const where = { service: service.name, clientId };
    const unary = () => unaryCall((o) => client.execute(body, o), { signal: callOptions.signal, deadlineMs, replySchema: schemas.reply, where });
    if (stream === undefined) return unpackReply(schemas, await unary(), where);
    try {
      return unpackReply(schemas, await stream.execute(body, { signal: callOptions.signal, deadlineMs, replySchema: schemas.reply }), where);
    } catch (error) {
      if (!(error instanceof StreamUnsupportedError)) throw error;
      // A server without ExecuteStream (an older deploy): nothing was sent; use unary from now on.
      stream = undefined;
      return unpackReply(schemas, await unary(), where);
    }
  }

  async function post<TCommand, TReply>(service: ServiceKey<TCommand, TReply>, request: Omit<RemoteCommandRequest<TCommand>, "timeoutMs">, callOptions: { signal?: AbortSignal } = {}): Promise<string> {
    const { schemas, any } = pack(service, request.command);
    const { clientId, queueTimeoutMs, waitForConnectMs } = request;
    const deadlineMs = deadline(queueTimeoutMs + waitForConnectMs);
    const body = { service: service.name, clientId, command: any, queueTimeoutMs, waitForConnectMs };
    const response = await unaryCall((o) => client.post(body, o), { signal: callOptions.signal, deadlineMs, replySchema: schemas.reply, where: { service: service.name, clientId } });
    return response.commandId;
  }

  async function listClients(service: ServiceKey<unknown, unknown>, callOptions: { signal?: AbortSignal } = {}): Promise<ClientInfo[]> {
    const response = await unaryCall((o) => client.listClients({ service: service.name }, o), { signal: callOptions.signal, where: { service: service.name } });
    return response.clients.map((c) => ({
      clientId: c.id,
      connectedAt: c.connectedAt ? timestampDate(c.connectedAt) : new Date(0),
      lastSeenAt: c.lastSeenAt ? timestampDate(c.lastSeenAt) : new Date(0),
      metadata: { ...c.metadata },
      pendingCommands: c.pendingCommands,
      queuedMessages: 0,
    }));
  }

  const router: ConnectRemoteRouter = {
    baseUrl: options.baseUrl,
    execute,
    post,
    listClients,
    async close() {
      calls.clear(new ClosedError("the remote router was closed"));
      stream?.close();
      sessionManager?.abort();
    },
    [Symbol.asyncDispose]() {
      return router.close();
    },
  };
  return router;
}

/**
 * Creates a remote router to `options.baseUrl` and installs it for this process (core's
 * `setRemoteRouter`): command clients whose service is not in this process use it unless given a
 * router of their own. Returns a cleanup that uninstalls it and closes its connection.
 */
export function installRemoteRouter(options: RemoteRouterOptions): () => Promise<void> {
  const router = createRemoteRouter(options);
  const uninstall = setRemoteRouter(router);
  return async () => {
    uninstall();
    await router.close();
  };
}
