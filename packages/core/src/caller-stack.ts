/**
 * Internal: an error raised later (a timeout, a disconnect, an answer from another process) is
 * created in a timer or a read loop, so its stack says nothing about who made the call. Capturing
 * the stack again where the call's own `await` resumes gives it the caller's frames — V8's
 * zero-cost async stack traces list every async function awaiting it — and costs nothing unless
 * the call fails (capturing at every call, as nats.js does, cost this hub half its throughput).
 */

type CaptureStackTrace = (target: object, constructorOpt?: (...args: never[]) => unknown) => void;
const capture = (Error as { captureStackTrace?: CaptureStackTrace }).captureStackTrace;

/**
 * Gives `error` the current stack, leaving out `above` and everything above it (the library's own
 * frames); keeps its name and message. Call it in the `catch` of the async function the caller
 * awaits. Returns `error`.
 */
export function restack<E extends Error>(error: E, above: (...args: never[]) => unknown): E {
  try {
    capture?.(error, above);
  } catch {
    // A frozen error keeps the stack it has.
  }
  return error;
}
