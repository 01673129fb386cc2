/**
 * Internal: where a call was made, so an error raised later (a timeout, a disconnect, an answer
 * from another process) points at the caller rather than at a timer callback — nats.js keeps
 * "async traces" the same way. Capturing is cheap on V8: the frames are formatted only when read.
 */
export interface CallSite {
  readonly stack?: string | undefined;
}

type CaptureStackTrace = (target: object, constructorOpt?: (...args: never[]) => unknown) => void;
const capture = (Error as { captureStackTrace?: CaptureStackTrace }).captureStackTrace;

/** Captures the current stack, leaving out `above` and the frames above it (internal plumbing). */
export function captureCallSite(above?: (...args: never[]) => unknown): CallSite {
  if (capture === undefined) return { stack: new Error().stack };
  const site: { stack?: string } = {};
  capture(site, above);
  return site;
}

/**
 * Gives `error` the frames of `site` (keeping its own first line, name and message), unless the
 * error was thrown synchronously in the caller's own stack already. Returns `error`.
 */
export function withCallSite<E extends Error>(error: E, site: CallSite | undefined): E {
  const frames = site?.stack;
  if (frames === undefined) return error;
  const newline = frames.indexOf("\n");
  const header = `${error.name}: ${error.message}`;
  try {
    Object.defineProperty(error, "stack", { value: newline < 0 ? header : header + frames.slice(newline), writable: true, configurable: true });
  } catch {
    // A frozen error keeps its own stack.
  }
  return error;
}
