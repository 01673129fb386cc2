import { constants as http2Constants, type ServerHttp2Stream } from "node:http2";
import type * as http2 from "node:http2";
import type * as net from "node:net";
import { checkCount, checkDuration, TokenBucket, watchDeadline, type Deadline } from "@streamcmd/core/internal";

/**
 * Kept on each socket itself: an HTTP/2 session hands out a Proxy as its `socket`, which reads
 * properties through to the real one (and refuses `destroy`), so a session finds its socket here.
 */
const watchedSocket = Symbol("streamcmd.watchedSocket");
const ownSocket = Symbol("streamcmd.ownSocket");

/** The TCP connection a socket rides on, by its peer: how a TLS socket finds its TCP socket (Node gives no public link). */
const peerKey = (socket: net.Socket): string => `${socket.remoteAddress ?? "?"}:${socket.remotePort ?? "?"}`;

/** Internal: hard-closes a connection (an RST: a peer that stopped reading cannot hold it open). */
function reset(socket: net.Socket): void {
  try {
    socket.resetAndDestroy();
  } catch {
    socket.destroy();
  }
}

/** Limits an unauthenticated peer cannot get past; each with a default, each documented in the README. */
export interface ServerLimits {
  /**
   * A connection that has not opened a request by then (TLS handshake, HTTP/2 preface, the first
   * request's headers) is closed, in ms. Default 5000.
   */
  handshakeTimeoutMs?: number;
  /** An HTTP/2 connection with no open stream for this long is closed (GOAWAY), in ms. Default 10000. */
  idleTimeoutMs?: number;
  /**
   * New connections one remote address may open per second (bursts up to this many); more are
   * refused before any TLS work, so a flood of handshakes cannot take the CPU from connected clients.
   * Default 200.
   */
  maxNewConnectionsPerSecond?: number;
  /** Connections open at once; more are refused at once. Default 10000. */
  maxConnections?: number;
  /** Connections open at once from one remote address. Default 1000. */
  maxConnectionsPerAddress?: number;
  /** Streams one HTTP/2 connection may have open at once (SETTINGS_MAX_CONCURRENT_STREAMS). Default 128. */
  maxStreamsPerConnection?: number;
  /** Memory nghttp2 may hold for one connection (headers, frames in flight), in MB; beyond it the connection is reset. Default 10. */
  maxSessionMemoryMb?: number;
  /** The largest header block a request may send (SETTINGS_MAX_HEADER_LIST_SIZE), in bytes. Default 16384. */
  maxHeaderBytes?: number;
}

/** Internal: the limits with their defaults applied and checked. */
export function resolveLimits(limits: ServerLimits = {}) {
  return {
    handshakeTimeoutMs: checkDuration("limits.handshakeTimeoutMs", limits.handshakeTimeoutMs ?? 5_000, 1),
    idleTimeoutMs: checkDuration("limits.idleTimeoutMs", limits.idleTimeoutMs ?? 10_000, 1),
    maxNewConnectionsPerSecond: checkCount("limits.maxNewConnectionsPerSecond", limits.maxNewConnectionsPerSecond ?? 200, 1),
    maxConnections: checkCount("limits.maxConnections", limits.maxConnections ?? 10_000, 1),
    maxConnectionsPerAddress: checkCount("limits.maxConnectionsPerAddress", limits.maxConnectionsPerAddress ?? 1_000, 1),
    maxStreamsPerConnection: checkCount("limits.maxStreamsPerConnection", limits.maxStreamsPerConnection ?? 128, 1),
    maxSessionMemoryMb: checkCount("limits.maxSessionMemoryMb", limits.maxSessionMemoryMb ?? 10, 1),
    maxHeaderBytes: checkCount("limits.maxHeaderBytes", limits.maxHeaderBytes ?? 16_384, 1_024),
  };
}

/**
 * Internal: watches every connection of a server. Refuses connections over the caps (in total and
 * per address) at once; closes a connection that has not opened a request within the handshake
 * timeout, and an HTTP/2 connection left with no open stream for the idle timeout. Counts what it
 * closed, for tests and metrics.
 */
export class ConnectionGuard {
  private readonly perAddress = new Map<string, number>();
  private readonly pending = new Map<object, Deadline>();
  private readonly tcpByPeer = new Map<string, net.Socket>();
  /**
   * New-connection rate per address, kept after its connections close (a burst then a reset must
   * not earn a fresh bucket); the oldest addresses are forgotten beyond `maxRateEntries`.
   */
  private readonly rates = new Map<string, TokenBucket>();
  private static readonly maxRateEntries = 100_000;
  readonly closed = { refused: 0, handshakeTimeout: 0, idle: 0 };
  open = 0;

  constructor(private readonly limits: ReturnType<typeof resolveLimits>) {}

  /**
   * A new TCP connection: refused (false, and destroyed) if over a cap; otherwise watched until its
   * first request (`watchHandshake: false` where TLS's own handshake timeout comes first).
   */
  admit(socket: net.Socket, watchHandshake = true): boolean {
    const address = socket.remoteAddress ?? "?";
    const fromThere = this.perAddress.get(address) ?? 0;
    let rate = this.rates.get(address);
    if (rate === undefined) {
      if (this.rates.size >= ConnectionGuard.maxRateEntries) this.rates.delete(this.rates.keys().next().value as string);
      this.rates.set(address, (rate = new TokenBucket(this.limits.maxNewConnectionsPerSecond, Date.now())));
    }
    if (this.open >= this.limits.maxConnections || fromThere >= this.limits.maxConnectionsPerAddress || !rate.take(Date.now())) {
      this.closed.refused++;
      socket.destroy();
      return false;
    }
    this.open++;
    this.perAddress.set(address, fromThere + 1);
    const peer = peerKey(socket);
    this.tcpByPeer.set(peer, socket);
    socket.once("close", () => {
      if (this.tcpByPeer.get(peer) === socket) this.tcpByPeer.delete(peer);
      this.open--;
      const left = (this.perAddress.get(address) ?? 1) - 1;
      if (left === 0) this.perAddress.delete(address);
      else this.perAddress.set(address, left);
      this.settled(socket);
    });
    this.link(socket);
    if (watchHandshake) this.watch(socket, () => reset(socket));
    return true;
  }

  /** Lets the guard find the TCP socket under `socket` (itself, or the one a TLS socket rides on) from its HTTP/2 session. */
  link(socket: net.Socket): void {
    (socket as { [ownSocket]?: net.Socket })[ownSocket] = this.tcpByPeer.get(peerKey(socket)) ?? socket;
  }

  /**
   * `key` (a socket, a TLS socket, a stream) must see a request within the handshake timeout (or,
   * `"idle"`, its next request within the idle timeout), or `close` runs.
   */
  watch(key: object, close: () => void, kind: "handshake" | "idle" = "handshake"): void {
    this.settled(key);
    (key as { [watchedSocket]?: object })[watchedSocket] = key;
    const timeoutMs = kind === "idle" ? this.limits.idleTimeoutMs : this.limits.handshakeTimeoutMs;
    this.pending.set(
      key,
      watchDeadline({ timeoutMs, ref: false }, () => {
        this.pending.delete(key);
        if (kind === "idle") this.closed.idle++;
        else this.closed.handshakeTimeout++;
        close();
      }),
    );
  }

  /** The caller of `stream` is authenticated: it may stay open as long as it likes. */
  trusted(stream: ServerHttp2Stream): void {
    this.settled(stream);
  }

  /** A request arrived on `key`: it is no longer a handshake. */
  settled(key: object): void {
    this.pending.get(key)?.dispose();
    this.pending.delete(key);
  }

  /** Watches an HTTP/2 session: a first stream within the handshake timeout, then never idle (no stream) for long. */
  session(session: http2.ServerHttp2Session): void {
    // The connection's own watch ends here: the session's takes over (same deadline, from now).
    const socket = (session.socket as { [watchedSocket]?: object } | undefined)?.[watchedSocket];
    if (socket !== undefined) this.settled(socket);
    let streams = 0;
    let idle: Deadline | undefined;
    // A session that never got its preface does not close its socket on destroy() (Node ends it
    // and waits for the peer): the socket is destroyed too, read at close time through the proxy.
    const close = (): void => {
      const own = (session.socket as { [ownSocket]?: net.Socket } | undefined)?.[ownSocket];
      if (own !== undefined) reset(own);
      if (!session.destroyed) session.destroy();
    };
    this.watch(session, close);
    const startIdle = (): void => {
      idle = watchDeadline({ timeoutMs: this.limits.idleTimeoutMs, ref: false }, () => {
        this.closed.idle++;
        session.close(); // GOAWAY: a client with nothing open reconnects when it needs to
        watchDeadline({ timeoutMs: 1_000, ref: false }, close);
      });
    };
    // First among the session's listeners: the watch is armed before any handler runs (one that
    // trusts the stream at once, synchronously, must find it there to settle).
    session.prependListener("stream", (stream) => {
      this.settled(session);
      idle?.dispose();
      idle = undefined;
      streams++;
      // Until its caller is authenticated (or its request is complete) a stream holds the connection
      // only for the handshake timeout: a request body that never ends must not pin it (Connect reads
      // a unary request whole before anyone can check who sent it).
      this.watch(stream, () => stream.close(http2Constants.NGHTTP2_CANCEL));
      stream.once("end", () => this.settled(stream));
      stream.once("close", () => {
        this.settled(stream);
        streams--;
        if (streams === 0 && !session.closed) startIdle();
      });
    });
    session.once("close", () => {
      this.settled(session);
      idle?.dispose();
    });
  }
}
