import { InvalidArgumentError } from "@streamcmd/core";
import { checkDuration } from "@streamcmd/core/internal";

/** Reconnection with exponential backoff. */
export interface ReconnectOptions {
  /** First delay after a lost connection, in ms. Default 100. */
  initialDelayMs?: number;
  /** The delay doubles up to this, in ms. Default 10000. */
  maxDelayMs?: number;
  /** Each delay is varied by up to ± this fraction, so a fleet does not reconnect in lockstep. Default 0.2. */
  jitter?: number;
}

/** Internal: the delays between reconnect attempts. */
export interface Backoff {
  /** Attempts since the last reset. */
  readonly attempt: number;
  /** The delay before the next attempt (and counts it). */
  next(): number;
  /** Starts over from the initial delay (after a connection that worked). */
  reset(): void;
}

/**
 * Internal: exponential backoff with jitter — initialDelayMs × 2^attempt, capped at maxDelayMs,
 * varied by ± jitter. `random` is injectable so tests can pin it.
 */
export function createBackoff(options: ReconnectOptions = {}, random: () => number = Math.random): Backoff {
  const initialDelayMs = checkDuration("reconnect.initialDelayMs", options.initialDelayMs ?? 100);
  const maxDelayMs = checkDuration("reconnect.maxDelayMs", options.maxDelayMs ?? 10_000);
  const jitter = options.jitter ?? 0.2;
  if (typeof jitter !== "number" || !(jitter >= 0 && jitter <= 1)) throw new InvalidArgumentError(`reconnect.jitter must be between 0 and 1, got ${String(jitter)}`);
  let attempt = 0;
  return {
    get attempt() {
      return attempt;
    },
    next() {
      // 2 ** attempt overflows to Infinity after ~1000 attempts; min() keeps it at the cap.
      const base = Math.min(maxDelayMs, initialDelayMs * 2 ** attempt);
      attempt++;
      return Math.max(0, Math.round(base * (1 + jitter * (random() * 2 - 1))));
    },
    reset() {
      attempt = 0;
    },
  };
}
