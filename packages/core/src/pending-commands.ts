import { watchDeadline, type Deadline, type DeadlineCause } from "./deadline.js";
import type { CommandError } from "./errors.js";

/** What commands wait on: a connection, which keeps the ids of its own pending commands. */
export interface PendingOwner {
  readonly pendingIds: Set<string>;
}

/** How the table words the errors it raises itself. */
export interface PendingErrors<O extends PendingOwner> {
  timedOut(owner: O, commandId: string, timeoutMs: number): CommandError;
  cancelled(owner: O, commandId: string, reason: unknown): CommandError;
}

/** Internal: one command waiting for its reply. */
interface Pending<TReply, O> {
  readonly commandId: string;
  /** The connection the command went to: only it may answer. */
  readonly owner: O;
  readonly resolve: (reply: TReply) => void;
  readonly reject: (error: CommandError) => void;
  timeoutMs: number;
  signal: AbortSignal | undefined;
  /** The armed deadline, once queued. */
  deadline: Deadline | undefined;
}

/** What became of a reply handed to `take`. */
export type ReplyMatch =
  /** Its command is waiting: settle it. */
  | "pending"
  /** Its command had timed out or been cancelled: dropped. */
  | "late"
  /** Its command was posted (fire-and-forget): nobody waits for it. */
  | "posted"
  /** This table never issued the id, or forgot it, or another connection owns it. */
  | "unknown";

/** Counters the hub reports in its stats. */
export interface PendingCounters {
  timeouts: number;
  cancellations: number;
  lateReplies: number;
  unknownReplies: number;
}

/**
 * Internal: the commands waiting for replies — state without I/O, in the shape of nats.js's mux
 * subscription or tRPC's request manager. A command is registered before it is queued (a fast
 * client cannot answer an id not yet known), armed with its deadline once queued, and settled
 * exactly once: by its reply, its deadline, its caller's signal, or its connection ending. It
 * allocates nothing per command beyond the entry and its promise (the hot path).
 */
export class PendingCommands<TReply, O extends PendingOwner> {
  private readonly byId = new Map<string, Pending<TReply, O>>();
  /** Ids whose replies are expected and dropped: timed out or cancelled ("late"), or posted. */
  private readonly recent = new Map<string, "late" | "posted">();
  readonly counters: PendingCounters = { timeouts: 0, cancellations: 0, lateReplies: 0, unknownReplies: 0 };
  /** One function for every deadline: the entry comes as its context. */
  private readonly onDeadline = (cause: DeadlineCause, pending: Pending<TReply, O>): void => {
    pending.deadline = undefined;
    if (cause === "timeout") this.counters.timeouts++;
    else this.counters.cancellations++;
    this.remember(pending.commandId, "late");
    const error =
      cause === "timeout"
        ? this.errors.timedOut(pending.owner, pending.commandId, pending.timeoutMs)
        : this.errors.cancelled(pending.owner, pending.commandId, pending.signal?.reason);
    this.settle(pending.commandId, { error });
  };

  /** `recentLimit`: how many late and posted ids to remember (oldest forgotten first). */
  constructor(
    private readonly errors: PendingErrors<O>,
    private readonly recentLimit = 4096,
  ) {}

  /** Commands waiting now. */
  get size(): number {
    return this.byId.size;
  }

  /** Whether `commandId` waits for `owner`'s reply. */
  isPendingFor(owner: O, commandId: string): boolean {
    return this.byId.get(commandId)?.owner === owner;
  }

  /** Registers a command; the promise settles when the command does. */
  register(commandId: string, owner: O): Promise<TReply> {
    return new Promise<TReply>((resolve, reject) => {
      this.byId.set(commandId, { commandId, owner, resolve, reject, timeoutMs: 0, signal: undefined, deadline: undefined });
      owner.pendingIds.add(commandId);
    });
  }

  /**
   * Starts the deadline of a queued command: after `timeoutMs` it fails with `errors.timedOut`, and
   * if `signal` aborts (at once if it has) with `errors.cancelled`. Either way its id is remembered
   * as late, so a reply after that is counted and dropped.
   */
  arm(commandId: string, timeoutMs: number, signal: AbortSignal | undefined): void {
    const pending = this.byId.get(commandId);
    if (pending === undefined) return;
    pending.timeoutMs = timeoutMs;
    pending.signal = signal;
    const deadline = watchDeadline({ timeoutMs, signal }, this.onDeadline, pending);
    // An already aborted signal has settled it synchronously: nothing to keep.
    if (this.byId.get(commandId) === pending) pending.deadline = deadline;
  }

  /** Settles `commandId` (once: false if it was settled already) and releases what it held. */
  settle(commandId: string, outcome: { reply: TReply } | { error: CommandError }): boolean {
    const pending = this.byId.get(commandId);
    if (pending === undefined) return false;
    this.byId.delete(commandId);
    pending.owner.pendingIds.delete(commandId);
    pending.deadline?.dispose();
    if ("reply" in outcome) pending.resolve(outcome.reply);
    else pending.reject(outcome.error);
    return true;
  }

  /** Classifies a reply from `owner` to `commandId`; counts late and unknown replies. */
  take(owner: O, commandId: string): ReplyMatch {
    if (this.byId.get(commandId)?.owner === owner) return "pending";
    const known = this.recent.get(commandId);
    if (known !== undefined) this.recent.delete(commandId);
    if (known === "late") this.counters.lateReplies++;
    if (known === undefined) this.counters.unknownReplies++;
    return known ?? "unknown";
  }

  /** Remembers a posted command's id, so its reply (if any) is dropped quietly. */
  posted(commandId: string): void {
    this.remember(commandId, "posted");
  }

  /** Forgets a posted id whose command was never queued after all. */
  forget(commandId: string): void {
    this.recent.delete(commandId);
  }

  /** Rejects every command waiting for `owner` (its connection ended); returns how many. */
  rejectOwner(owner: O, error: (commandId: string) => CommandError): number {
    const ids = [...owner.pendingIds];
    for (const commandId of ids) this.settle(commandId, { error: error(commandId) });
    return ids.length;
  }

  /** Forgets the remembered ids (on close; every command was settled by then). */
  clearRecent(): void {
    this.recent.clear();
  }

  private remember(commandId: string, kind: "late" | "posted"): void {
    this.recent.set(commandId, kind);
    if (this.recent.size > this.recentLimit) {
      const oldest = this.recent.keys().next();
      if (oldest.done !== true) this.recent.delete(oldest.value);
    }
  }
}
