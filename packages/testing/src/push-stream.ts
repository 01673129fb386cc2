/**
 * An async iterable a test pushes into: the in-memory stand-in for a transport's request stream.
 * Unbounded on purpose (it is test-only and the hub drains it as fast as it can).
 */
export interface PushStream<T> extends AsyncIterable<T> {
  /** Delivers `value` to the reader; ignored once ended. */
  push(value: T): void;
  /** Ends the stream cleanly (the client hung up). */
  end(): void;
  /** Ends the stream with `error` (the transport broke). */
  fail(error: unknown): void;
  readonly ended: boolean;
}

/** Creates a `PushStream`. */
export function createPushStream<T>(): PushStream<T> {
  const buffered: T[] = [];
  let waiting: { resolve: (r: IteratorResult<T>) => void; reject: (e: unknown) => void } | undefined;
  let ending: { error?: unknown } | undefined;

  const settleWaiting = (): void => {
    if (waiting === undefined) return;
    const current = waiting;
    if (buffered.length > 0) {
      waiting = undefined;
      current.resolve({ value: buffered.shift() as T, done: false });
    } else if (ending !== undefined) {
      waiting = undefined;
      if (ending.error === undefined) current.resolve({ value: undefined, done: true });
      else current.reject(ending.error);
    }
  };

  const iterator: AsyncIterator<T> = {
    next() {
      if (buffered.length > 0) return Promise.resolve({ value: buffered.shift() as T, done: false });
      if (ending !== undefined) {
        return ending.error === undefined ? Promise.resolve({ value: undefined, done: true }) : Promise.reject(ending.error);
      }
      return new Promise((resolve, reject) => {
        waiting = { resolve, reject };
      });
    },
    return() {
      ending ??= {};
      buffered.length = 0;
      settleWaiting();
      return Promise.resolve({ value: undefined, done: true });
    },
  };

  return {
    push(value) {
      if (ending !== undefined) return;
      buffered.push(value);
      settleWaiting();
    },
    end() {
      ending ??= {};
      settleWaiting();
    },
    fail(error) {
      ending ??= { error };
      settleWaiting();
    },
    get ended() {
      return ending !== undefined;
    },
    [Symbol.asyncIterator]: () => iterator,
  };
}
