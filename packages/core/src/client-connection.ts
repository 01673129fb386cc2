import { watchDeadline, type Deadline } from "./deadline.js";
import type { CommandError } from "./errors.js";
import { PushQueue } from "./push-queue.js";
import type { PendingOwner } from "./pending-commands.js";
import type { TokenBucket } from "./rate-limiter.js";
import type { ClientIdentity } from "./service-definition.js";
import type { ClientInfo, DisconnectReason } from "./streaming-service-types.js";

/** Where a connection is in its life: waiting for its hello, serving, or over. */
export type ConnectionState = "handshake" | "open" | "closed";

/** Why a connection ended: what its pending commands are rejected with. */
export interface ConnectionEnd {
  readonly reason: DisconnectReason;
  /** The error behind the reason; undefined when the client or the transport simply hung up. */
  readonly error: CommandError | undefined;
}

/**
 * Internal: one client stream, from accept to end — the connection state machine. It owns the
 * outbound queue and the hello timer; `close` is the one way out and runs once. Who the client is
 * among the others (replacement, duplicates) is the directory's business, not this one's.
 */
export class ClientConnection<TOut> implements PendingOwner {
  private stateNow: ConnectionState = "handshake";
  clientId: string | undefined;
  metadata: Record<string, string> = {};
  connectedAt: number;
  lastSeenAt: number;
  readonly queue: PushQueue<TOut>;
  /** The ids of its commands waiting for replies (kept by the pending-command table). */
  readonly pendingIds = new Set<string>();
  /** Aborted when the connection ends, so the read loop stops reading. */
  readonly stopReading = new AbortController();
  /** Why it ended, once it has. */
  ended: ConnectionEnd | undefined;
  /**
   * Admitted on the transport's identity before any message: a hello may still come first, and
   * must then name the same client.
   */
  helloOptional = false;
  private helloTimer: Deadline | undefined;

  /** `bucket`: the client's rate limit, when the hub has one. */
  constructor(
    queueCapacity: number,
    at: number,
    readonly bucket: TokenBucket | undefined,
  ) {
    this.queue = new PushQueue<TOut>(queueCapacity);
    this.connectedAt = at;
    this.lastSeenAt = at;
  }

  /** The state now (a getter, so a check after an await reads the current value). */
  get state(): ConnectionState {
    return this.stateNow;
  }

  /** Whether it ended (a getter: read it again after every await). */
  get closed(): boolean {
    return this.stateNow === "closed";
  }

  /** Ends the handshake with `onExpire` unless `open` comes within `timeoutMs`. */
  startHelloTimer(timeoutMs: number, onExpire: () => void): void {
    this.helloTimer = watchDeadline({ timeoutMs }, onExpire);
  }

  /** handshake → open, as `identity`. */
  open(identity: ClientIdentity, at: number): void {
    this.helloTimer?.dispose();
    this.helloTimer = undefined;
    this.clientId = identity.clientId;
    this.metadata = { ...identity.metadata };
    this.connectedAt = at;
    this.stateNow = "open";
  }

  /**
   * → closed: stops reading, discards what was queued and ends the outbound stream (with `error`,
   * so the transport can tell the client why, or cleanly). False if it was closed already.
   */
  close(end: ConnectionEnd, streamError: CommandError | undefined): boolean {
    if (this.stateNow === "closed") return false;
    this.stateNow = "closed";
    this.ended = end;
    this.helloTimer?.dispose();
    this.helloTimer = undefined;
    this.stopReading.abort();
    this.queue.close(streamError);
    return true;
  }

  /** A snapshot for listings and events. */
  info(): ClientInfo {
    return {
      clientId: this.clientId ?? "",
      connectedAt: new Date(this.connectedAt),
      lastSeenAt: new Date(this.lastSeenAt),
      metadata: { ...this.metadata },
      pendingCommands: this.pendingIds.size,
      queuedMessages: this.queue.size,
    };
  }
}
