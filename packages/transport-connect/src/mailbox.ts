/**
 * Internal: an async iterable the owner pushes into and one consumer drains, for streams whose
 * messages come from many concurrent tasks (replies on ExecuteStream, requests from a caller).
 * It holds no more than the tasks in flight, which each owner bounds.
 */
export class Mailbox<T> implements AsyncIterable<T> {
  private items: T[] = [];
  private waiting: ((result: IteratorResult<T>) => void) | undefined;
  private ended = false;
  /** How many times the consumer asked for the next item. */
  pulls = 0;
  /** Called each time the consumer asks for the next item (the agent uses it to see writes happen). */
  onPull: (() => void) | undefined;

  push(item: T): void {
    if (this.ended) return;
    const waiting = this.waiting;
    if (waiting !== undefined) {
      this.waiting = undefined;
      waiting({ value: item, done: false });
    } else this.items.push(item);
  }

  /** Takes back the first queued item `match` accepts, if the consumer has not taken it yet. */
  remove(match: (item: T) => boolean): boolean {
    const index = this.items.findIndex(match);
    if (index < 0) return false;
    this.items.splice(index, 1);
    return true;
  }

  /** No more items: the consumer finishes what is queued, then ends. */
  end(): void {
    this.ended = true;
    if (this.items.length === 0) {
      const waiting = this.waiting;
      this.waiting = undefined;
      waiting?.({ value: undefined, done: true });
    }
  }

  // A generator, because Connect needs the full iterator protocol (next, return and throw).
  async *[Symbol.asyncIterator](): AsyncGenerator<T> {
    for (;;) {
      this.pulls++;
      this.onPull?.();
      const item = this.items.shift();
      if (item !== undefined) {
        yield item;
        continue;
      }
      if (this.ended) return;
      const next = await new Promise<IteratorResult<T>>((resolve) => (this.waiting = resolve));
      if (next.done === true) return;
      yield next.value;
    }
  }

  /**
   * The same items, in arrays of up to `max`: everything queued when the consumer asks, so a busy
   * producer's items travel together.
   */
  async *batches<M>(max: number, wrap: (batch: T[]) => M): AsyncGenerator<M> {
    for (;;) {
      this.pulls++;
      this.onPull?.();
      if (this.items.length > 0) {
        yield wrap(this.items.splice(0, max));
        continue;
      }
      if (this.ended) return;
      const next = await new Promise<IteratorResult<T>>((resolve) => (this.waiting = resolve));
      if (next.done === true) return;
      yield wrap([next.value, ...this.items.splice(0, max - 1)]);
    }
  }
}
