import { withCallSite, type CallSite } from "./call-site.js";
import { watchDeadline } from "./deadline.js";
import type { CommandError } from "./errors.js";

/** Internal: one command waiting for its reply. */
interface Pending<TReply> {
  readonly commandId: string;
  /** The connection the command went to: only it may answer. */
  readonly owner: object;
  readonly site: CallSite | undefined;
  readonly resolve: (reply: TReply) => void;
  readonly reject: (error: CommandError) => void;
  /** Stops the deadline watcher, once armed. */
  dispose: (() => void) | undefined;
}

/** What became of a reply handed to `take`. */
export type ReplyMatch<TReply> =
  | { kind: "pending"; settle(outcome: { reply: TReply } | { error: CommandError }): void }
  /** Its command had timed out or been cancelled: dropped. */
  | { kind: "late" }
  /** Its command was posted (fire-and-forget): nobody waits for it. */
  | { kind: "posted" }
  /** This table never issued the id, or forgot it, or another connection owns it. */
  | { kind: "unknown" };

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
 * exactly once: by its reply, its deadline, its caller's signal, or its connection ending. Errors
 * raised later carry the caller's stack (`site`).
 */
export class PendingCommands<TReply> {
  private readonly byId = new Map<string, Pending<TReply>>();
  private readonly byOwner = new Map<object, Set<Pending<TReply>>>();
  /** Ids whose replies are expected and dropped: timed out or cancelled ("late"), or posted. */
  private readonly recent = new Map<string, "late" | "posted">();
  readonly counters: PendingCounters = { timeouts: 0, cancellations: 0, lateReplies: 0, unknownReplies: 0 };

  /** `recentLimit`: how many late and posted ids to remember (oldest forgotten first). */
  constructor(private readonly recentLimit = 4096) {}

  /** Commands waiting now. */
  get size(): number {
    return this.byId.size;
  }

  /** Commands waiting for `owner`'s reply. */
  countFor(owner: object): number {
    return this.byOwner.get(owner)?.size ?? 0;
  }

  /** Whether `commandId` waits for `owner`'s reply. */
  isPendingFor(owner: object, commandId: string): boolean {
    return this.byId.get(commandId)?.owner === owner;
  }

  /** Registers a command; the promise settles when the command does. */
  register(commandId: string, owner: object, site?: CallSite): Promise<TReply> {
    return new Promise<TReply>((resolve, reject) => {
      const pending: Pending<TReply> = { commandId, owner, site, resolve, reject, dispose: undefined };
      this.byId.set(commandId, pending);
      let set = this.byOwner.get(owner);
      if (set === undefined) this.byOwner.set(owner, (set = new Set()));
      set.add(pending);
    });
  }

  /**
   * Starts the deadline of a queued command: after `timeoutMs` it fails with `timedOut()`, and if
   * `signal` aborts (at once if it has) with `cancelled(reason)`. Either way its id is remembered
   * as late, so a reply after that is counted and dropped.
   */
  arm(
    commandId: string,
    deadline: { timeoutMs: number; signal?: AbortSignal | undefined },
    errors: { timedOut(): CommandError; cancelled(reason: unknown): CommandError },
  ): void {
    const pending = this.byId.get(commandId);
    if (pending === undefined) return;
    pending.dispose = watchDeadline(deadline, (cause) => {
      pending.dispose = undefined;
      if (cause === "timeout") this.counters.timeouts++;
      else this.counters.cancellations++;
      this.remember(commandId, "late");
      this.settle(commandId, { error: cause === "timeout" ? errors.timedOut() : errors.cancelled(deadline.signal?.reason) });
    });
  }

  /** Settles `commandId` (once: false if it was settled already) and releases what it held. */
  settle(commandId: string, outcome: { reply: TReply } | { error: CommandError }): boolean {
    const pending = this.byId.get(commandId);
    if (pending === undefined) return false;
    this.byId.delete(commandId);
    const set = this.byOwner.get(pending.owner);
    set?.delete(pending);
    if (set?.size === 0) this.byOwner.delete(pending.owner);
    pending.dispose?.();
    if ("reply" in outcome) pending.resolve(outcome.reply);
    else pending.reject(withCallSite(outcome.error, pending.site));
    return true;
  }

  /** Matches a reply from `owner` to its command; counts late and unknown replies. */
  take(owner: object, commandId: string): ReplyMatch<TReply> {
    const pending = this.byId.get(commandId);
    if (pending !== undefined && pending.owner === owner) {
      return { kind: "pending", settle: (outcome) => void this.settle(commandId, outcome) };
    }
    const known = this.recent.get(commandId);
    if (known !== undefined) this.recent.delete(commandId);
    if (known === "late") this.counters.lateReplies++;
    if (known === undefined) this.counters.unknownReplies++;
    return { kind: known ?? "unknown" };
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
  rejectOwner(owner: object, error: (commandId: string) => CommandError): number {
    const set = this.byOwner.get(owner);
    if (set === undefined) return 0;
    const ids = [...set].map((pending) => pending.commandId);
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
