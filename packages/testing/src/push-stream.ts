import { PushQueue } from "@streamcmd/core/internal";

/**
 * An async iterable a test pushes into: the in-memory stand-in for a transport's request stream.
 * Unbounded on purpose (it is test-only and the hub drains it as fast as it can).
 */
export interface PushStream<T> extends AsyncIterable<T> {
  /** Delivers `value` to the reader; ignored once ended. */
  push(value: T): void;
  /** Ends the stream cleanly (the client hung up) once what was pushed is read. */
  end(): void;
  /** Ends the stream with `error` (the transport broke) once what was pushed is read. */
  fail(error: unknown): void;
  readonly ended: boolean;
}

/** Creates a `PushStream` (over the workspace's one push queue). */
export function createPushStream<T>(): PushStream<T> {
  const queue = new PushQueue<T>();
  return {
    push: (value) => void queue.tryPush(value),
    end: () => queue.end(),
    fail: (error) => queue.end(error),
    get ended() {
      return queue.ended;
    },
    [Symbol.asyncIterator]: () => queue[Symbol.asyncIterator](),
  };
}
