import { createRegistry, type DescMessage, type Message, type Registry } from "@bufbuild/protobuf";
import { anyPack, anyUnpack, timestampDate } from "@bufbuild/protobuf/wkt";
import { createClient, type Interceptor, type Transport } from "@connectrpc/connect";
import type { Http2SessionOptions } from "@connectrpc/connect-node";
import {
  InternalError,
  InvalidArgumentError,
  maxDurationMs,
  setRemoteRouterFactory,
  type ClientInfo,
  type RemoteCommandRequest,
  type RemoteRouter,
  type RemoteRouterFactory,
} from "@streamcmd/core";
import { fromConnectError } from "./error-mapping.js";
import { CommandStream, StreamUnsupportedError } from "./command-stream.js";
import { ownTransport } from "./grpc-connection.js";
import { CommandRouterService, type ExecuteResponse } from "./gen/streamcmd/v1/command_router_pb.js";

/** Options of `createRemoteRouter`. */
export interface RemoteRouterOptions {
  /** The server's URL, e.g. `http://127.0.0.1:50051`. One HTTP/2 connection to it serves every call. */
  baseUrl?: string;
  /** A transport of your own instead of `baseUrl` (TLS options, interceptors, a test transport). */
  transport?: Transport;
  /** The command and reply message types this router may carry (e.g. `[ConnectResponseSchema, CommandResultSchema]`). */
  schemas: readonly DescMessage[] | Registry;
  /** Interceptors for the transport built from `baseUrl` (e.g. one that adds an authorization header). */
  interceptors?: Interceptor[];
  /** HTTP/2 keepalive and timeouts of the connection built from `baseUrl`. */
  http2?: Http2SessionOptions;
  /**
   * How much longer than the reply timeout the call's own deadline is, in ms, so the server's
   * typed timeout arrives before the transport gives up. Default 1000.
   */
  deadlineMarginMs?: number;
  /**
   * How `execute` travels: `"stream"` (default) multiplexes every call on one long-lived
   * `ExecuteStream`; `"unary"` makes one `Execute` call per command (simpler on the wire, slower).
   */
  executeVia?: "stream" | "unary";
}

/** A `RemoteRouter` over Connect, holding one HTTP/2 connection. */
export interface ConnectRemoteRouter extends RemoteRouter {
  /** The server's URL, when built from one. */
  readonly baseUrl: string | undefined;
  /** Closes the HTTP/2 connection it opened (not a transport passed in). */
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * The cross-process path over Connect: implements core's `RemoteRouter` against
 * `streamcmd.v1.CommandRouterService` on one reused HTTP/2 session (never a connection per
 * command). Commands travel multiplexed on one long-lived `ExecuteStream` (or, with
 * `executeVia: "unary"`, one `Execute` call each). Each call has a deadline; an `AbortSignal`
 * cancels it on the server too. Errors arrive as the same typed classes a same-process caller gets.
 */
export function createRemoteRouter(options: RemoteRouterOptions): ConnectRemoteRouter {
  const registry = isRegistry(options.schemas) ? options.schemas : createRegistry(...options.schemas);
  const marginMs = options.deadlineMarginMs ?? 1_000;
  const { transport, sessionManager } = ownTransport("createRemoteRouter", options);
  const client = createClient(CommandRouterService, transport);
  const executeVia = options.executeVia ?? "stream";
  if (executeVia !== "stream" && executeVia !== "unary") {
    throw new InvalidArgumentError(`executeVia must be "stream" or "unary", got ${JSON.stringify(executeVia)}`);
  }
  let stream = executeVia === "stream" ? new CommandStream(client, registry) : undefined;

  /** The whole wait the server may take plus a margin for the way back; none if past setTimeout's range. */
  function deadline(serverWaitMs: number): { timeoutMs?: number } {
    const total = serverWaitMs + marginMs;
    return total <= maxDurationMs ? { timeoutMs: total } : {};
  }

  function pack(command: unknown) {
    const typeName = (command as Partial<Message> | null)?.$typeName;
    const schema = typeName === undefined ? undefined : registry.getMessage(typeName);
    if (schema === undefined) {
      throw new InvalidArgumentError(
        typeName === undefined
          ? "a cross-process command must be a protobuf message"
          : `${typeName} is not among the remote router's schemas; add it to createRemoteRouter({ schemas })`,
      );
    }
    return anyPack(schema, command as never);
  }

  async function call<T>(run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (error) {
      throw fromConnectError(error, registry);
    }
  }

  async function execute(request: RemoteCommandRequest, callOptions: { signal?: AbortSignal } = {}): Promise<unknown> {
    const command = pack(request.command);
    const body = {
      service: request.service,
      clientId: request.clientId,
      command,
      timeoutMs: request.timeoutMs,
      waitForConnectMs: request.waitForConnectMs,
      queueTimeoutMs: request.queueTimeoutMs,
    };
    // The whole wait the server may take, plus a margin for the way back.
    const { timeoutMs: deadlineMs } = deadline(request.timeoutMs + request.waitForConnectMs + request.queueTimeoutMs);
    const unary = () =>
      call(() => client.execute(body, { ...(deadlineMs === undefined ? {} : { timeoutMs: deadlineMs }), ...(callOptions.signal ? { signal: callOptions.signal } : {}) }));
    let response: ExecuteResponse;
    if (stream === undefined) response = await unary();
    else {
      try {
        response = await stream.execute(body, { signal: callOptions.signal, deadlineMs });
      } catch (error) {
        if (!(error instanceof StreamUnsupportedError)) throw error;
        // A server without ExecuteStream (an older deploy): nothing was sent; use unary from now on.
        stream = undefined;
        response = await unary();
      }
    }
    if (response.reply === undefined) throw new InternalError("the router answered without a reply", { service: request.service, clientId: request.clientId });
    const reply = anyUnpack(response.reply, registry);
    if (reply === undefined) {
      throw new InternalError(`the reply type ${response.reply.typeUrl} is not among the remote router's schemas`, {
        service: request.service,
        clientId: request.clientId,
      });
    }
    return reply;
  }

  const router: ConnectRemoteRouter = {
    baseUrl: options.baseUrl,
    execute,
    async post(request, callOptions = {}) {
      const command = pack(request.command);
      const response = await call(() =>
        client.post(
          {
            service: request.service,
            clientId: request.clientId,
            command,
            queueTimeoutMs: request.queueTimeoutMs,
            waitForConnectMs: request.waitForConnectMs ?? 0,
          },
          { ...deadline(request.queueTimeoutMs + (request.waitForConnectMs ?? 0)), ...(callOptions.signal ? { signal: callOptions.signal } : {}) },
        ),
      );
      return response.commandId;
    },
    async listClients(service, callOptions = {}): Promise<ClientInfo[]> {
      const response = await call(() => client.listClients({ service }, callOptions.signal ? { signal: callOptions.signal } : {}));
      return response.clients.map((c) => ({
        clientId: c.id,
        connectedAt: c.connectedAt ? timestampDate(c.connectedAt) : new Date(0),
        lastSeenAt: c.lastSeenAt ? timestampDate(c.lastSeenAt) : new Date(0),
        metadata: { ...c.metadata },
        pendingCommands: c.pendingCommands,
        queuedMessages: 0,
      }));
    },
    async close() {
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
 * A factory for `setRemoteRouterFactory`: one router (one HTTP/2 connection) per target URL,
 * reused by every command client that names that target.
 */
export function connectRemoteRouterFactory(options: Omit<RemoteRouterOptions, "baseUrl" | "transport">): RemoteRouterFactory & {
  close(): Promise<void>;
} {
  const routers = new Map<string, ConnectRemoteRouter>();
  const factory = (target: string): RemoteRouter => {
    let router = routers.get(target);
    if (router === undefined) {
      router = createRemoteRouter({ ...options, baseUrl: target });
      routers.set(target, router);
    }
    return router;
  };
  factory.close = async () => {
    await Promise.all([...routers.values()].map((router) => router.close()));
    routers.clear();
  };
  return factory;
}

/**
 * Makes command clients in this process reach `config.remoteTarget` / `STREAMCMD_URL` over
 * Connect when the service is not registered locally. Returns a cleanup that uninstalls the
 * factory and closes its connections.
 */
export function installRemoteRouter(options: Omit<RemoteRouterOptions, "baseUrl" | "transport">): () => Promise<void> {
  const factory = connectRemoteRouterFactory(options);
  const uninstall = setRemoteRouterFactory(factory);
  return async () => {
    uninstall();
    await factory.close();
  };
}

function isRegistry(value: readonly DescMessage[] | Registry): value is Registry {
  return typeof (value as Registry).getMessage === "function";
}
