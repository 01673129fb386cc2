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

/** A running watch: `dispose()` stops it (once it ended, or to cancel it). */
export interface Deadline {
  dispose(): void;
}

/** The timer's callback: one function for every deadline, given its deadline as an argument. */
function expire(deadline: { end(cause: DeadlineCause): void }): void {
  deadline.end("timeout");
}

/**
 * One object per wait, nothing else: the timer carries it as an argument and the signal calls its
 * `handleEvent`, so the hot path (a deadline on every command) allocates no closures.
 */
class Watch<C> implements Deadline {
  private timer: ReturnType<typeof setTimeout> | undefined;
  private signal: AbortSignal | undefined;

  constructor(
    options: DeadlineOptions,
    private readonly onEnd: (cause: DeadlineCause, context: C) => void,
    private readonly context: C,
  ) {
    if (options.timeoutMs !== undefined) {
      this.timer = setTimeout(expire, options.timeoutMs, this);
      if (options.ref === false) (this.timer as { unref?: () => void }).unref?.();
    }
    if (options.signal !== undefined) {
      this.signal = options.signal;
      options.signal.addEventListener("abort", this, { once: true });
    }
  }

  handleEvent(): void {
    this.end("abort");
  }

  end(cause: DeadlineCause): void {
    if (this.timer === undefined && this.signal === undefined) return;
    this.dispose();
    this.onEnd(cause, this.context);
  }

  dispose(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.signal?.removeEventListener("abort", this);
    this.timer = undefined;
    this.signal = undefined;
  }
}

const ended: Deadline = { dispose() {} };

/**
 * Calls `onEnd(cause, context)` once, when the deadline passes or the signal aborts (at once,
 * synchronously, if it already has), unless `dispose()` is called first. `context` lets one
 * `onEnd` function serve every wait, so no closure is made per wait.
 */
export function watchDeadline(options: DeadlineOptions, onEnd: (cause: DeadlineCause) => void): Deadline;
export function watchDeadline<C>(options: DeadlineOptions, onEnd: (cause: DeadlineCause, context: C) => void, context: C): Deadline;
export function watchDeadline<C>(options: DeadlineOptions, onEnd: (cause: DeadlineCause, context: C | undefined) => void, context?: C): Deadline {
  if (options.signal?.aborted) {
    onEnd("abort", context);
    return ended;
  }
  return new Watch(options, onEnd, context);
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
  const watch = watchDeadline({ timeoutMs, signal: parent }, (cause) => controller.abort(cause === "timeout" ? reason() : parent?.reason));
  return { signal: controller.signal, dispose: () => watch.dispose() };
}
