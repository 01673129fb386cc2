import { InvalidArgumentError } from "./errors.js";

/** Internal: the largest duration accepted, setTimeout's own limit (about 24.8 days). */
export const maxDurationMs = 2_147_483_647;

/**
 * Internal: checks a count option (a queue size, a limit): a whole number of at least `min`
 * (default 0). Throws `InvalidArgumentError` naming the option.
 */
export function checkCount(name: string, value: unknown, min = 0): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < min) {
    throw new InvalidArgumentError(`${name} must be a whole number of at least ${min}, got ${describe(value)}`);
  }
  return value;
}

/**
 * Internal: checks a duration option: a finite whole number of milliseconds, at least `min`
 * (default 0) and at most `maxDurationMs`. Throws `InvalidArgumentError` naming the option.
 */
export function checkDuration(name: string, value: unknown, min = 0): number {
  if (typeof value !== "number" || !Number.isInteger(value)) {
    throw new InvalidArgumentError(`${name} must be a whole number of milliseconds, got ${describe(value)}`);
  }
  if (value < 0) throw new InvalidArgumentError(`${name} must not be negative, got ${value}`);
  if (value < min) throw new InvalidArgumentError(`${name} must be at least ${min} ms, got ${value}`);
  if (value > maxDurationMs) throw new InvalidArgumentError(`${name} must be at most ${maxDurationMs} ms, got ${value}`);
  return value;
}

/** Internal: checks that `value` is one of `allowed`. */
export function checkOneOf<T extends string>(name: string, value: unknown, allowed: readonly T[]): T {
  if (typeof value !== "string" || !(allowed as readonly string[]).includes(value)) {
    throw new InvalidArgumentError(`${name} must be ${allowed.map((a) => JSON.stringify(a)).join(" or ")}, got ${describe(value)}`);
  }
  return value as T;
}

/** Internal: checks a non-empty string without surrounding spaces (names, ids). */
export function checkName(name: string, value: unknown): string {
  if (typeof value !== "string" || value.trim() === "" || value !== value.trim()) {
    throw new InvalidArgumentError(`${name} must be a non-empty string without surrounding spaces, got ${describe(value)}`);
  }
  return value;
}

/** Internal: a short description of a bad value for an error message. */
export function describe(value: unknown): string {
  if (typeof value === "number" && Number.isNaN(value)) return "NaN";
  if (typeof value === "string") return JSON.stringify(value.length > 80 ? `${value.slice(0, 77)}...` : value);
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  return typeof value === "object" ? "an object" : String(value);
}

/** Internal: the message of any thrown value. */
export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message;
  if (error === undefined) return "aborted";
  return String(error);
}
