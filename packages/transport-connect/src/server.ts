import * as http from "node:http";
import * as http2 from "node:http2";
import * as net from "node:net";
import type { TLSSocket } from "node:tls";
import type { DescService } from "@bufbuild/protobuf";
import { createContextValues, type ConnectRouter, type ContextValues } from "@connectrpc/connect";
import { connectNodeAdapter, type ConnectNodeAdapterOptions } from "@connectrpc/connect-node";
import { InvalidArgumentError } from "@streamcmd/core";
import { checkCount, watchDeadline } from "@streamcmd/core/internal";
import { peerCertificateKey, requestTrustedKey, type PeerCertificate } from "./authenticators.js";
import { responseRoom, responseRoomKey } from "./response-room.js";
import { ConnectionGuard, resolveLimits, type ServerLimits } from "./connection-guard.js";
import { isLoopbackHost } from "./tls-options.js";
import { leanRouteRecorder, serveLean, watchRoutes, type LeanRoute } from "./lean-stream.js";
import { registerHealth, type HealthStatuses } from "./health.js";
import { registerReflection } from "./reflection.js";
import { Health } from "./gen/grpc/health/v1/health_pb.js";

/** The server's certificate, and (for mutual TLS) the CA its clients' certificates must chain to. */
export interface ServerTlsOptions {
  /** PEM certificate (chain). */
  cert: string;
  /** PEM private key. */
  key: string;
  /** PEM CA: clients must present a certificate it issued (mutual TLS); without it no client certificate is asked for. */
  clientCa?: string;
}

/** Options of `startServer`. */
export interface StartServerOptions {
  /** Registers the services, as for `connectNodeAdapter`. */
  routes: (router: ConnectRouter) => void;
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 0: the OS picks a free port (read it from `port` / `url`). */
  port?: number;
  /** Serve HTTP/2 over TLS (and HTTP/1.1 through ALPN, for curl). Without it the server speaks plaintext. */
  tls?: ServerTlsOptions;
  /** Plaintext on an address other than loopback: refused unless this is true (anyone on the path reads and forges everything). */
  insecure?: boolean;
  /** Also serve HTTP/1.1, so unary RPCs (the CommandRouter) work with curl and JSON. Bidi streams always need HTTP/2. Default true. */
  allowHttp1?: boolean;
  /** The largest request message accepted by any route, in bytes; a route may set less (`streamRouteOptions`). Default 1 MiB. */
  readMaxBytes?: number;
  /** Connection limits; see `ServerLimits`. */
  limits?: ServerLimits;
  /**
   * Serve the library's bidi streams (the bot stream of `createStreamHandler`, the router's
   * `ExecuteStream`) straight on their HTTP/2 streams — binary protobuf over gRPC or the Connect
   * streaming protocol, uncompressed — instead of through connect-node: same bytes on the wire, a
   * fraction of the CPU and memory per message. Everything else (unary calls, JSON, compressed
   * streams, your own methods) is connect-node's either way. Off when `adapter` has `interceptors`,
   * `requestGate` or `contextValues` (the lean path would skip them). Default true.
   */
  leanStreams?: boolean;
  /**
   * Serve the gRPC health checking protocol (`grpc.health.v1.Health`, Check and Watch): "" and every
   * registered service SERVING until `close()` begins, then NOT_SERVING (`RunningServer.health` sets
   * them yourself). Unauthenticated, as health probes are. Default true.
   */
  health?: boolean;
  /**
   * Serve gRPC server reflection (v1 and v1alpha) for every registered service, so `grpcurl` and
   * `buf curl --reflect` work without the .proto files. Unauthenticated: it shows anyone who reaches
   * the port your whole API (never your data). Default false.
   */
  reflection?: boolean;
  /** Any other connectNodeAdapter option (interceptors, compression, JSON options, …). */
  adapter?: Omit<ConnectNodeAdapterOptions, "routes" | "readMaxBytes">;
}

/** A listening server. */
export interface RunningServer {
  readonly host: string;
  readonly port: number;
  /** `https://host:port` with TLS, `http://host:port` without. */
  readonly url: string;
  /** The listener. */
  readonly server: net.Server;
  /** HTTP/2 connections accepted so far (for tests and metrics). */
  readonly sessionsAccepted: number;
  /** HTTP/2 connections open now. */
  readonly sessionsOpen: number;
  /** The health statuses the server answers with (`grpc.health.v1.Health`); undefined with `health: false`. */
  readonly health: HealthStatuses | undefined;
  /** Connections closed by the limits: refused over a cap, stalled in their handshake, idle. */
  readonly limited: { readonly refused: number; readonly handshakeTimeout: number; readonly idle: number };
  /**
   * Stops accepting, asks every connection to finish (GOAWAY), and destroys what is still open
   * after `graceMs` (default 2000; 0 destroys at once, like a crash).
   */
  close(options?: { graceMs?: number }): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** A certificate's `valid_to` ("Nov 28 01:30:00 2026 GMT") as a Date; undefined if absent or unreadable. */
function validTo(text: string | undefined): Date | undefined {
  const date = text ? new Date(text) : undefined;
  return date === undefined || Number.isNaN(date.getTime()) ? undefined : date;
}

function peerCertificateOf(socket: TLSSocket | undefined): PeerCertificate | undefined {
  if (socket === undefined || typeof socket.getPeerCertificate !== "function") return undefined;
  const certificate = socket.getPeerCertificate();
  if (certificate === null || Object.keys(certificate).length === 0) return undefined;
  const names = (certificate.subjectaltname ?? "").split(", ");
  return {
    commonName: typeof certificate.subject?.CN === "string" ? certificate.subject.CN : undefined,
    uris: names.filter((name) => name.startsWith("URI:")).map((name) => name.slice(4)),
    authorized: socket.authorized === true,
    validTo: validTo(certificate.valid_to),
  };
}

/**
 * Serves Connect routes over HTTP/2 — TLS when `tls` is given (with HTTP/1.1 for unary calls
 * through ALPN), plaintext otherwise, and plaintext only on a loopback address unless `insecure`.
 * Every connection is held to `limits`.
 */
export async function startServer(options: StartServerOptions): Promise<RunningServer> {
  const host = options.host ?? "127.0.0.1";
  if (options.tls === undefined && options.insecure !== true && !isLoopbackHost(host)) {
    throw new InvalidArgumentError(`refusing to serve plaintext on ${host}: pass tls (a certificate and key), or insecure: true to accept that anyone on the network can read and forge every call`);
  }
  const limits = resolveLimits(options.limits);
  const guard = new ConnectionGuard(limits);
  const adapter = options.adapter ?? {};
  const readMaxBytes = checkCount("readMaxBytes", options.readMaxBytes ?? 1024 * 1024, 1);
  /** What a handler finds in `context.values` besides the user's own: the peer's certificate, the guard's trust, room in the response. */
  const valuesOf = (values: ContextValues, socket: net.Socket | undefined, writable: http2.ServerHttp2Stream | net.Socket, trust: () => void): ContextValues =>
    values
      // The client certificate (mutual TLS), for authenticators: context.values.get(peerCertificateKey).
      .set(peerCertificateKey, peerCertificateOf(socket as TLSSocket | undefined))
      .set(requestTrustedKey, trust)
      // Whether the peer reads what it is sent: the HTTP/2 stream's buffer (the socket's on HTTP/1.1).
      .set(responseRoomKey, responseRoom(writable));
  const leanRoutes = new Map<string, LeanRoute>();
  const lean = options.leanStreams !== false && adapter.interceptors === undefined && adapter.requestGate === undefined && adapter.contextValues === undefined;
  const recordLean = lean ? leanRouteRecorder({ readMaxBytes, maxTimeoutMs: adapter.maxTimeoutMs ?? Number.MAX_SAFE_INTEGER }, leanRoutes) : undefined;
  const services: DescService[] = [];
  let health: HealthStatuses | undefined;
  const routes = (router: ConnectRouter): void => {
    watchRoutes(options.routes, (service, impl, routeOptions) => (services.push(service), recordLean?.(service, impl, routeOptions)))(router);
    if (options.health !== false) health = registerHealth(router, services.map((service) => service.typeName));
    if (options.reflection === true) registerReflection(router, options.health === false ? services : [...services, Health]);
  };
  const handler = connectNodeAdapter({
    ...adapter,
    routes,
    readMaxBytes,
    contextValues: (request) =>
      "stream" in request
        ? valuesOf(adapter.contextValues?.(request) ?? createContextValues(), request.stream.session?.socket, request.stream, () => guard.trusted(request.stream))
        : valuesOf(adapter.contextValues?.(request) ?? createContextValues(), request.socket, request.socket, () => guard.settled(request.socket)),
  });
  const http2Options = {
    settings: { maxConcurrentStreams: limits.maxStreamsPerConnection, maxHeaderListSize: limits.maxHeaderBytes },
    maxSessionMemory: limits.maxSessionMemoryMb,
  };
  const allowHttp1 = options.allowHttp1 !== false;
  const tls = options.tls;
  const h2: http2.Http2Server | http2.Http2SecureServer =
    tls === undefined
      ? http2.createServer(http2Options, handler)
      : http2.createSecureServer(
          {
            ...http2Options,
            cert: tls.cert,
            key: tls.key,
            allowHTTP1: allowHttp1,
            handshakeTimeout: limits.handshakeTimeoutMs,
            ...(tls.clientCa === undefined ? {} : { ca: tls.clientCa, requestCert: true, rejectUnauthorized: true }),
          },
          handler,
        );
  if (leanRoutes.size > 0) {
    // The library's streams are served here; every other stream goes on to connect-node (through
    // Node's compatibility layer, the listener it put on "stream" for the handler above).
    const compat = h2.listeners("stream") as ((...args: unknown[]) => void)[];
    h2.removeAllListeners("stream");
    h2.on("stream", (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, ...rest: unknown[]) => {
      const route = leanRoutes.get(String(headers[":path"]));
      const values = (): ContextValues => valuesOf(createContextValues(), stream.session?.socket, stream, () => guard.trusted(stream));
      if (route !== undefined && serveLean(route, stream, headers, values(), adapter.shutdownSignal)) return;
      for (const listener of compat) listener.call(h2, stream, headers, ...rest);
    });
  }
  const sessions = new Set<http2.ServerHttp2Session>();
  let sessionsAccepted = 0;
  let closingStarted = false;
  h2.on("session", (session) => {
    if (closingStarted) return void session.close();
    sessionsAccepted++;
    sessions.add(session);
    session.once("close", () => sessions.delete(session));
    guard.session(session);
  });
  // HTTP/1.1 requests (curl, over TLS through ALPN): the first request ends the handshake watch.
  // HTTP/1.1 requests (curl, over TLS through ALPN): the first request ends the handshake watch, and a
  // connection then idle (keep-alive) for the idle timeout is closed.
  h2.on("request", (request: http.IncomingMessage | http2.Http2ServerRequest, response: http.ServerResponse | http2.Http2ServerResponse) => {
    if ("stream" in request) return;
    const socket = request.socket;
    guard.settled(socket);
    // An HTTP/2 server's HTTP/1.1 side has no keep-alive timeout of its own: the guard is it.
    response.once("finish", () => guard.watch(socket, () => socket.destroy(), "idle"));
  });
  // The caps count every TCP connection, before TLS or any byte of HTTP.
  const sockets = new Set<net.Socket>();
  const accept = (socket: net.Socket): boolean => {
    if (!guard.admit(socket, tls === undefined)) return false;
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    socket.once("error", () => socket.destroy());
    // Commands and replies are small and latency-bound: never hold one back to coalesce (Nagle).
    socket.setNoDelay(true);
    return true;
  };
  if (tls !== undefined) {
    h2.on("connection", (socket: net.Socket) => void accept(socket));
    // An HTTP/2 connection is watched as a session (Node made it before this listener runs);
    // HTTP/1.1 over TLS until its first request.
    h2.on("secureConnection", (socket: TLSSocket) => {
      guard.link(socket);
      if (socket.alpnProtocol !== "h2") guard.watch(socket, () => socket.destroy());
    });
  }
  const h1 = tls === undefined && allowHttp1 ? plaintextHttp1(handler, limits.handshakeTimeoutMs) : undefined;
  h1?.on("request", (request: http.IncomingMessage) => guard.settled(request.socket));
  const server: net.Server = tls !== undefined ? h2 : plaintextListener(h2, h1, accept);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const port = (server.address() as net.AddressInfo).port;
  let closing: Promise<void> | undefined;

  function close(closeOptions: { graceMs?: number } = {}): Promise<void> {
    closing ??= new Promise<void>((resolve) => {
      const graceMs = closeOptions.graceMs ?? 2_000;
      closingStarted = true;
      health?.drain(); // probes see NOT_SERVING before the connections are asked to go
      server.close(() => resolve());
      for (const session of sessions) {
        if (graceMs === 0) session.destroy();
        else session.close();
      }
      if (graceMs === 0) {
        for (const socket of sockets) socket.destroy();
      } else if (sockets.size > 0) {
        watchDeadline({ timeoutMs: graceMs, ref: false }, () => {
          for (const session of sessions) session.destroy();
          for (const socket of sockets) socket.destroy();
        });
      }
    });
    return closing;
  }

  return {
    host,
    port,
    url: `${tls === undefined ? "http" : "https"}://${host.includes(":") ? `[${host}]` : host}:${port}`,
    server,
    get sessionsAccepted() {
      return sessionsAccepted;
    },
    get sessionsOpen() {
      return sessions.size;
    },
    health,
    limited: guard.closed,
    close,
    [Symbol.asyncDispose]: () => close(),
  };
}

/** Internal: the HTTP/1.1 server for plaintext unary calls, with a deadline on request headers. */
function plaintextHttp1(handler: http.RequestListener, headersTimeoutMs: number): http.Server {
  const h1 = http.createServer({ headersTimeout: headersTimeoutMs, requestTimeout: 60_000, connectionsCheckingInterval: Math.min(1_000, headersTimeoutMs) }, handler);
  h1.keepAliveTimeout = 5_000;
  return h1;
}

/**
 * Internal: Node's plaintext HTTP/2 server cannot fall back to HTTP/1.1 (that needs TLS and ALPN),
 * so one listener looks at each connection's first bytes: the HTTP/2 preface goes to the HTTP/2
 * server, anything else to the HTTP/1.1 server with the same handler.
 */
function plaintextListener(h2: http2.Http2Server | http2.Http2SecureServer, h1: http.Server | undefined, accept: (socket: net.Socket) => boolean): net.Server {
  return net.createServer((socket) => {
    if (!accept(socket)) return;
    const head: Buffer[] = [];
    let headLength = 0;
    const onData = (chunk: Buffer): void => {
      head.push(chunk);
      headLength += chunk.length;
      if (headLength < 4) return;
      socket.off("data", onData);
      socket.pause();
      const first = Buffer.concat(head);
      socket.unshift(first);
      if (h1 === undefined || first.subarray(0, 4).toString("latin1") === "PRI ") {
        // The HTTP/2 session takes over the socket's handle and reads what was put back itself.
        h2.emit("connection", socket);
      } else {
        h1.emit("connection", socket);
        socket.resume();
      }
    };
    socket.on("data", onData);
  });
}
