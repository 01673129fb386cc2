import * as http from "node:http";
import * as http2 from "node:http2";
import * as net from "node:net";
import type { ConnectRouter } from "@connectrpc/connect";
import { connectNodeAdapter, type ConnectNodeAdapterOptions } from "@connectrpc/connect-node";
import { watchDeadline } from "@streamcmd/core/internal";

/** Options of `startServer`. */
export interface StartServerOptions {
  /** Registers the services, as for `connectNodeAdapter`. */
  routes: (router: ConnectRouter) => void;
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 0: the OS picks a free port (read it from `port` / `url`). */
  port?: number;
  /**
   * Also serve HTTP/1.1 on the same port, so unary RPCs (the CommandRouter) work with curl and
   * JSON. Bidi streams always need HTTP/2. Default true.
   */
  allowHttp1?: boolean;
  /** The largest request message accepted, in bytes; larger ones fail with ResourceExhausted. Default 4 MiB. */
  readMaxBytes?: number;
  /** Any other connectNodeAdapter option (interceptors, compression, …). */
  adapter?: Omit<ConnectNodeAdapterOptions, "routes" | "readMaxBytes">;
}

/** A listening server. */
export interface RunningServer {
  readonly host: string;
  readonly port: number;
  /** `http://host:port`. */
  readonly url: string;
  /** The listener (it hands HTTP/2 connections to an `http2` server and HTTP/1.1 ones to an `http` server). */
  readonly server: net.Server;
  /** HTTP/2 connections accepted so far (for tests and metrics). */
  readonly sessionsAccepted: number;
  /** HTTP/2 connections open now. */
  readonly sessionsOpen: number;
  /**
   * Stops accepting, asks every connection to finish (GOAWAY), and destroys what is still open
   * after `graceMs` (default 2000; 0 destroys at once, like a crash).
   */
  close(options?: { graceMs?: number }): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * Serves Connect routes over plaintext HTTP/2 (and HTTP/1.1 for unary calls) on 127.0.0.1.
 * For TLS, build your own `http2.createSecureServer` around `connectNodeAdapter`.
 */
export async function startServer(options: StartServerOptions): Promise<RunningServer> {
  const host = options.host ?? "127.0.0.1";
  const handler = connectNodeAdapter({
    ...options.adapter,
    routes: options.routes,
    readMaxBytes: options.readMaxBytes ?? 4 * 1024 * 1024,
  });
  // Node's plaintext HTTP/2 server cannot fall back to HTTP/1.1 (that needs TLS and ALPN), so one
  // listener looks at each connection's first bytes: the HTTP/2 preface goes to the HTTP/2 server,
  // anything else to an HTTP/1.1 server with the same handler.
  const h2 = http2.createServer(handler);
  const h1 = options.allowHttp1 === false ? undefined : http.createServer(handler);
  const sessions = new Set<http2.ServerHttp2Session>();
  let sessionsAccepted = 0;
  h2.on("session", (session) => {
    if (closingStarted) {
      session.close();
      return;
    }
    sessionsAccepted++;
    sessions.add(session);
    session.once("close", () => sessions.delete(session));
  });
  // Every accepted socket, so a close can tear down even one still being sniffed.
  const sockets = new Set<net.Socket>();
  let closingStarted = false;
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    socket.once("error", () => socket.destroy());
    // Commands and replies are small and latency-bound: never hold one back to coalesce (Nagle).
    socket.setNoDelay(true);
    // A connection that sends nothing is not kept waiting for its first bytes forever.
    socket.setTimeout(10_000, () => socket.destroy());
    const head: Buffer[] = [];
    let headLength = 0;
    const onData = (chunk: Buffer): void => {
      head.push(chunk);
      headLength += chunk.length;
      if (headLength < 4) return;
      socket.off("data", onData);
      socket.setTimeout(0);
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
      server.close(() => resolve());
      h1?.closeIdleConnections();
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
    url: `http://${host}:${port}`,
    server,
    get sessionsAccepted() {
      return sessionsAccepted;
    },
    get sessionsOpen() {
      return sessions.size;
    },
    close,
    [Symbol.asyncDispose]: () => close(),
  };
}
