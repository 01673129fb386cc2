import type { NatsConnection, Subscription } from "@nats-io/transport-node";

/**
 * Internal: who waits for which client's announcement (`waitForConnectMs`): one subscription per
 * client subject, shared by every call waiting for that client, gone with the last of them.
 */
export class UpWatches {
  private readonly watches = new Map<string, { sub: Subscription; waiters: Set<() => void> }>();
  /** Calls waiting now, over every client. */
  waiting = 0;

  constructor(private readonly nats: NatsConnection) {}

  /** Calls `onUp` on each announcement on `subject`; returns the stop. Throws when NATS refuses the subscription. */
  watch(subject: string, onUp: () => void): () => void {
    let watch = this.watches.get(subject);
    if (watch === undefined) {
      const waiters = new Set<() => void>();
      const sub = this.nats.subscribe(subject, { callback: () => [...waiters].forEach((wake) => wake()) });
      watch = { sub, waiters };
      this.watches.set(subject, watch);
    }
    const current = watch;
    current.waiters.add(onUp);
    this.waiting++;
    let stopped = false;
    return () => {
      if (stopped) return;
      stopped = true;
      this.waiting--;
      current.waiters.delete(onUp);
      if (current.waiters.size > 0) return;
      current.sub.unsubscribe();
      this.watches.delete(subject);
    };
  }
}
