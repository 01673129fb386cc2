import { watchDeadline } from "./deadline.js";

/** Internal: how heavy a batch may get (e.g. bytes on the wire). */
export interface BatchBudget<T> {
  weigh(item: T): number;
  max: number;
}

/**
 * Internal: an async iterable that producers push into and one consumer drains — the outbound
 * queue of a client connection, the request side of a stream, a mailbox of answers. Bounded when
 * given a capacity: `tryPush` refuses when full and `waitForRoom` lets a producer wait for space,
 * so backpressure comes from the consumer's pace, never from an unbounded array.
 */
export class PushQueue<T> implements AsyncIterable<T> {
  private items: T[] = [];
  private head = 0;
  private consumer: { resolve(result: IteratorResult<T>): void; reject(error: unknown): void } | undefined;
  private readonly roomWaiters = new Set<() => void>();
  /** Set once no more items come: `drain` lets the consumer take what is queued first. */
  private ending: { error: unknown; drain: boolean } | undefined;

  /** `capacity`: items the queue holds before `tryPush` refuses. Default: unbounded. */
  constructor(readonly capacity = Number.POSITIVE_INFINITY) {}

  /** Items waiting to be taken. */
  get size(): number {
    return this.items.length - this.head;
  }

  /** Whether `end` or `close` was called. */
  get ended(): boolean {
    return this.ending !== undefined;
  }

  /** Adds `item` unless the queue is full or ended; says whether it did. */
  tryPush(item: T): boolean {
    if (this.ending !== undefined || this.size >= this.capacity) return false;
    const consumer = this.consumer;
    if (consumer !== undefined) {
      // The consumer is waiting: hand the item over without storing it.
      this.consumer = undefined;
      consumer.resolve({ value: item, done: false });
    } else this.items.push(item);
    return true;
  }

  /**
   * Resolves once there may be room (the caller tries again) or the queue ended; rejects with
   * `onTimeout()` after `timeoutMs`, or with the signal's reason.
   */
  waitForRoom(timeoutMs: number, signal: AbortSignal | undefined, onTimeout: () => unknown): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const wake = (): void => {
        deadline.dispose();
        this.roomWaiters.delete(wake);
        resolve();
      };
      const deadline = watchDeadline({ timeoutMs, signal }, (cause) => {
        this.roomWaiters.delete(wake);
        reject(cause === "timeout" ? onTimeout() : signal?.reason);
      });
      if (signal?.aborted !== true) this.roomWaiters.add(wake);
    });
  }

  /** The next item; waits for one. Ends (or throws the end's error) once ended and drained. */
  next(): Promise<IteratorResult<T>> {
    if (this.size > 0) return Promise.resolve({ value: this.take(), done: false });
    if (this.ending !== undefined) {
      const { error } = this.ending;
      return error === undefined ? Promise.resolve({ value: undefined, done: true }) : Promise.reject(error);
    }
    if (this.consumer !== undefined) return Promise.reject(new Error("PushQueue: next() called while a previous next() is pending"));
    return new Promise((resolve, reject) => {
      this.consumer = { resolve, reject };
    });
  }

  /**
   * Up to `max` items at once: everything queued when asked, so a busy producer's items travel
   * together — and, with a `budget`, no more than its `max` weight (the first item always goes, so
   * one heavy item is never stuck).
   */
  async nextBatch(max: number, budget?: BatchBudget<T>): Promise<IteratorResult<T[]>> {
    const first = await this.next();
    if (first.done === true) return { value: undefined, done: true };
    const batch = [first.value];
    let weight = budget?.weigh(first.value) ?? 0;
    while (batch.length < max && this.size > 0) {
      if (budget !== undefined) {
        const next = budget.weigh(this.items[this.head] as T);
        if (weight + next > budget.max) break;
        weight += next;
      }
      batch.push(this.take());
    }
    return { value: batch, done: false };
  }

  /** Takes back the first queued item `match` accepts, if the consumer has not taken it yet. */
  remove(match: (item: T) => boolean): boolean {
    for (let i = this.head; i < this.items.length; i++) {
      if (match(this.items[i] as T)) {
        this.items.splice(i, 1);
        this.wakeOneProducer();
        return true;
      }
    }
    return false;
  }

  /** No more items: the consumer takes what is queued, then ends (or gets `error`). */
  end(error?: unknown): void {
    if (this.ending !== undefined) return;
    this.ending = { error, drain: true };
    if (this.size === 0) this.settleConsumer();
    this.wakeAllProducers();
  }

  /**
   * Ends now and discards what was not taken: the consumer ends (or gets `error`) at once, and
   * producers waiting for room wake to find the queue ended. Returns the discarded items.
   */
  close(error?: unknown): T[] {
    if (this.ending !== undefined && !this.ending.drain) return [];
    this.ending = { error: this.ending?.error ?? error, drain: false };
    const discarded = this.items.slice(this.head);
    this.items = [];
    this.head = 0;
    this.settleConsumer();
    this.wakeAllProducers();
    return discarded;
  }

  /**
   * The items, one at a time. The full iterator protocol, as a generator has it (Connect calls
   * `throw` on a request stream): `return()` (a consumer that stops early) and `throw()` close the queue.
   */
  [Symbol.asyncIterator](): AsyncIterator<T> {
    return this.closingIterator(() => this.next());
  }

  /** The items in arrays of up to `max` (and `budget`, see `nextBatch`), each passed through `wrap`. */
  batches<M>(max: number, wrap: (batch: T[]) => M, budget?: BatchBudget<T>): AsyncIterable<M> {
    return {
      [Symbol.asyncIterator]: () =>
        this.closingIterator(async (): Promise<IteratorResult<M>> => {
          const result = await this.nextBatch(max, budget);
          return result.done === true ? { value: undefined, done: true } : { value: wrap(result.value), done: false };
        }),
    };
  }

  /** An iterator over `next` whose `return` and `throw` close the queue. */
  private closingIterator<R>(next: () => Promise<IteratorResult<R>>): AsyncIterator<R> {
    return {
      next,
      return: (value?: unknown) => {
        this.close();
        return Promise.resolve({ value: value as R, done: true });
      },
      throw: (error?: unknown) => {
        this.close();
        return Promise.reject(error);
      },
    };
  }

  private take(): T {
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
    return value;
  }

  private settleConsumer(): void {
    const consumer = this.consumer;
    if (consumer === undefined || this.ending === undefined || this.size > 0) return;
    this.consumer = undefined;
    if (this.ending.error === undefined) consumer.resolve({ value: undefined, done: true });
    else consumer.reject(this.ending.error);
  }

  private wakeOneProducer(): void {
    const first = this.roomWaiters.values().next();
    if (first.done !== true) first.value();
  }

  private wakeAllProducers(): void {
    for (const wake of [...this.roomWaiters]) wake();
  }
}
