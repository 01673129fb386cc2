/**
 * Internal: one client's bounded outbound queue. State without I/O: the hub pushes, the transport
 * pulls through `next()`, and a producer that finds it full may wait for room with a deadline.
 * Backpressure comes from the transport awaiting each write before it pulls the next message.
 */
export class OutboundQueue<T> {
  private items: T[] = [];
  private head = 0;
  private consumer: ((result: IteratorResult<T>) => void) | undefined;
  private consumerReject: ((error: unknown) => void) | undefined;
  private roomWaiters = new Set<() => void>();
  private closedWith: { error: unknown } | undefined;

  constructor(readonly capacity: number) {}

  /** Messages waiting to be pulled. */
  get size(): number {
    return this.items.length - this.head;
  }

  get closed(): boolean {
    return this.closedWith !== undefined;
  }

  /** Adds `item` unless the queue is full or closed; says whether it did. */
  tryPush(item: T): boolean {
    if (this.closedWith !== undefined || this.size >= this.capacity) return false;
    const consumer = this.consumer;
    if (consumer !== undefined) {
      // Someone is already waiting: hand the item over without storing it.
      this.consumer = undefined;
      this.consumerReject = undefined;
      consumer({ value: item, done: false });
      return true;
    }
    this.items.push(item);
    return true;
  }

  /**
   * Resolves once there may be room (the caller re-checks with `tryPush`) or the queue closed;
   * rejects with `onTimeout()` after `timeoutMs`, or with the signal's reason.
   */
  waitForRoom(timeoutMs: number, signal: AbortSignal | undefined, onTimeout: () => unknown): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const done = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        this.roomWaiters.delete(wake);
      };
      const wake = (): void => {
        done();
        resolve();
      };
      const onAbort = (): void => {
        done();
        reject(signal?.reason);
      };
      const timer = setTimeout(() => {
        done();
        reject(onTimeout());
      }, timeoutMs);
      signal?.addEventListener("abort", onAbort, { once: true });
      this.roomWaiters.add(wake);
    });
  }

  /** The next message; waits for one; ends (or throws the close error) once closed and drained of waiters. */
  next(): Promise<IteratorResult<T>> {
    if (this.size > 0) {
      const value = this.items[this.head] as T;
      this.items[this.head] = undefined as T;
      this.head++;
      if (this.head === this.items.length) {
        this.items = [];
        this.head = 0;
      } else if (this.head > 1024 && this.head * 2 > this.items.length) {
        this.items = this.items.slice(this.head);
        this.head = 0;
      }
      this.wakeOneProducer();
      return Promise.resolve({ value, done: false });
    }
    if (this.closedWith !== undefined) {
      const { error } = this.closedWith;
      return error === undefined ? Promise.resolve({ value: undefined, done: true }) : Promise.reject(error);
    }
    if (this.consumer !== undefined) {
      return Promise.reject(new Error("OutboundQueue: next() called while a previous next() is pending"));
    }
    return new Promise((resolve, reject) => {
      this.consumer = resolve;
      this.consumerReject = reject;
    });
  }

  /**
   * Closes the queue and discards what was not pulled: the consumer ends (or gets `error`), and
   * producers waiting for room wake up to find it closed. Returns the discarded messages.
   */
  close(error?: unknown): T[] {
    if (this.closedWith !== undefined) return [];
    this.closedWith = { error };
    const discarded = this.items.slice(this.head);
    this.items = [];
    this.head = 0;
    const consumer = this.consumer;
    const consumerReject = this.consumerReject;
    this.consumer = undefined;
    this.consumerReject = undefined;
    if (error === undefined) consumer?.({ value: undefined, done: true });
    else consumerReject?.(error);
    for (const wake of [...this.roomWaiters]) wake();
    return discarded;
  }

  private wakeOneProducer(): void {
    const first = this.roomWaiters.values().next();
    if (!first.done) first.value();
  }
}
