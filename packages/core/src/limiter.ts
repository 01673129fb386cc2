import { checkCount } from "./validate.js";

/** Internal: at most `max` tasks at once; the rest wait in order. See `createLimiter`. */
export interface Limiter {
  readonly max: number;
  /** Tasks holding a slot now. */
  readonly active: number;
  /** Tasks waiting for a slot. */
  readonly waiting: number;
  /** A slot now, or undefined if none is free (never jumps the queue). */
  tryAcquire(): (() => void) | undefined;
  /**
   * Resolves with the slot's release once one is free; rejects with the signal's reason if it
   * aborts first, or with `clear`'s reason. Each release frees the slot once.
   */
  acquire(signal?: AbortSignal): Promise<() => void>;
  /** Runs `task` in a slot and frees the slot when it settles. */
  run<T>(task: () => T | Promise<T>, signal?: AbortSignal): Promise<T>;
  /** Rejects every waiting task with `reason` (slots held stay held until released). */
  clear(reason: unknown): void;
}

interface Waiter {
  grant(release: () => void): void;
  refuse(reason: unknown): void;
}

/** Internal: a counting semaphore, the one concurrency limit of the workspace. */
export function createLimiter(max: number, name = "limit"): Limiter {
  checkCount(name, max, 1);
  let active = 0;
  const queue: Waiter[] = [];

  function makeRelease(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = queue.shift();
      if (next === undefined) active--;
      else next.grant(makeRelease()); // the slot passes straight on
    };
  }

  function tryAcquire(): (() => void) | undefined {
    if (active >= max || queue.length > 0) return undefined;
    active++;
    return makeRelease();
  }

  function acquire(signal?: AbortSignal): Promise<() => void> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    const now = tryAcquire();
    if (now !== undefined) return Promise.resolve(now);
    return new Promise((resolve, reject) => {
      const onAbort = (): void => {
        const index = queue.indexOf(waiter);
        if (index >= 0) queue.splice(index, 1);
        reject(signal?.reason);
      };
      const waiter: Waiter = {
        grant(release) {
          signal?.removeEventListener("abort", onAbort);
          resolve(release);
        },
        refuse(reason) {
          signal?.removeEventListener("abort", onAbort);
          reject(reason);
        },
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      queue.push(waiter);
    });
  }

  return {
    max,
    get active() {
      return active;
    },
    get waiting() {
      return queue.length;
    },
    tryAcquire,
    acquire,
    async run(task, signal) {
      const release = await acquire(signal);
      try {
        return await task();
      } finally {
        release();
      }
    },
    clear(reason) {
      for (const waiter of queue.splice(0)) waiter.refuse(reason);
    },
  };
}
