import { watchDeadline } from "./deadline.js";
import type { CommandError } from "./errors.js";

type Waiter = (error?: CommandError) => void;

/**
 * Internal: which connection holds each client id now, and who is waiting for an id to connect.
 * Knows nothing of policies: the hub decides whether a second connection replaces the first.
 */
export class ClientDirectory<C> {
  private readonly byId = new Map<string, C>();
  private readonly waiters = new Map<string, Set<Waiter>>();
  private waiting = 0;

  /** `maxWaiters`: calls that may wait for a client to connect at once, across all ids. */
  constructor(private readonly maxWaiters = Number.POSITIVE_INFINITY) {}

  get size(): number {
    return this.byId.size;
  }

  get(clientId: string): C | undefined {
    return this.byId.get(clientId);
  }

  values(): IterableIterator<C> {
    return this.byId.values();
  }

  /** `connection` holds `clientId` from now on; everyone waiting for it wakes. */
  set(clientId: string, connection: C): void {
    this.byId.set(clientId, connection);
    const waiting = this.waiters.get(clientId);
    if (waiting === undefined) return;
    this.waiters.delete(clientId);
    for (const wake of waiting) wake();
  }

  /** Removes `clientId` if `connection` still holds it (a replaced connection no longer does). */
  delete(clientId: string, connection: C): void {
    if (this.byId.get(clientId) === connection) this.byId.delete(clientId);
  }

  /**
   * Resolves when `clientId` is set (the caller looks it up again: it may be gone already);
   * rejects with `timedOut()` after `timeoutMs`, `cancelled()` when `signal` aborts, `full()` at
   * once when `maxWaiters` calls wait already, or the error of `rejectAll`.
   */
  waitFor(
    clientId: string,
    options: { timeoutMs: number; signal?: AbortSignal | undefined },
    errors: { timedOut(): CommandError; cancelled(): CommandError; full(max: number): CommandError },
  ): Promise<void> {
    if (options.signal?.aborted === true) return Promise.reject(errors.cancelled());
    if (this.waiting >= this.maxWaiters) return Promise.reject(errors.full(this.maxWaiters));
    this.waiting++;
    return new Promise<void>((resolve, reject) => {
      let set = this.waiters.get(clientId);
      if (set === undefined) this.waiters.set(clientId, (set = new Set()));
      const waiting = set;
      const finish: Waiter = (error) => {
        deadline.dispose();
        if (waiting.delete(finish)) this.waiting--;
        if (waiting.size === 0 && this.waiters.get(clientId) === waiting) this.waiters.delete(clientId);
        if (error === undefined) resolve();
        else reject(error);
      };
      const deadline = watchDeadline(options, (cause) => finish(cause === "timeout" ? errors.timedOut() : errors.cancelled()));
      waiting.add(finish);
    });
  }

  /** Rejects every waiter with `error` (the hub closed: nobody will connect any more). */
  rejectAll(error: CommandError): void {
    for (const waiting of [...this.waiters.values()]) for (const finish of [...waiting]) finish(error);
    this.waiters.clear();
  }
}
