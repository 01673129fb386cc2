/**
 * Internal: the one way a wait gets a deadline and an abort signal. Everything that waits (a
 * pending command, a wait for a client, a full queue, a remote call, a reconnect pause) uses it,
 * so there is one place where a timer and a listener are set up and, above all, torn down.
 */

/** How a watched wait ended early. */
export type DeadlineCause = "timeout" | "abort";

/** What `watchDeadline` watches. */
export interface DeadlineOptions {
  /** Ends the wait after this many ms; undefined: no deadline. */
  timeoutMs?: number | undefined;
  /** Ends the wait when aborted. */
  signal?: AbortSignal | undefined;
  /** Whether the timer may keep the process alive. Default true. */
  ref?: boolean;
}

const noop = (): void => {};

/**
 * Calls `onEnd` once, when the deadline passes or the signal aborts (at once, synchronously, if it
 * already has), unless the returned `dispose` is called first. Cheap enough for the hot path: one
 * timer and one listener, no AbortController.
 */
export function watchDeadline(options: DeadlineOptions, onEnd: (cause: DeadlineCause) => void): () => void {
  const { timeoutMs, signal } = options;
  if (signal?.aborted) {
    onEnd("abort");
    return noop;
  }
  let timer: ReturnType<typeof setTimeout> | undefined;
  let onAbort: (() => void) | undefined;
  const dispose = (): void => {
    if (timer !== undefined) clearTimeout(timer);
    if (onAbort !== undefined) signal?.removeEventListener("abort", onAbort);
    timer = undefined;
    onAbort = undefined;
  };
  if (timeoutMs !== undefined) {
    timer = setTimeout(() => {
      dispose();
      onEnd("timeout");
    }, timeoutMs);
    if (options.ref === false) (timer as { unref?: () => void }).unref?.();
  }
  if (signal !== undefined) {
    onAbort = () => {
      dispose();
      onEnd("abort");
    };
    signal.addEventListener("abort", onAbort, { once: true });
  }
  return dispose;
}

/**
 * Resolves after `ms`, or rejects with the signal's reason when it aborts first. `ref: false` lets
 * the process exit during the pause.
 */
export function delay(ms: number, signal?: AbortSignal, options: { ref?: boolean } = {}): Promise<void> {
  return new Promise((resolve, reject) => {
    watchDeadline({ timeoutMs: ms, signal, ...options }, (cause) => (cause === "timeout" ? resolve() : reject(signal?.reason)));
  });
}

/**
 * A signal that aborts when `parent` aborts (with its reason) or after `timeoutMs` (with
 * `reason()`, a typed error rather than a bare `AbortError`). Call `dispose` when the work is done.
 */
export function deadlineSignal(timeoutMs: number | undefined, reason: () => unknown, parent?: AbortSignal): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  const dispose = watchDeadline({ timeoutMs, signal: parent }, (cause) => controller.abort(cause === "timeout" ? reason() : parent?.reason));
  return { signal: controller.signal, dispose };
}
