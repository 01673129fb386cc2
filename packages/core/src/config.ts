import { InvalidArgumentError } from "./errors.js";

/**
 * How a command client waits. Every field is read by `createCommandClient` (and passed on to the
 * streaming service or the remote router); none is decorative.
 */
export interface CommandClientConfig {
  /** How long `send` waits for the client's reply, in ms (at least 1). Default 5000. */
  readonly replyTimeoutMs: number;
  /**
   * How long `send` / `post` wait for room when the client's outbound queue is full, in ms.
   * 0 (default) fails at once with `QueueFullError`.
   */
  readonly queueTimeoutMs: number;
  /**
   * How long `send` / `post` wait for a client that is not connected, in ms.
   * 0 (default) fails at once with `ClientNotConnectedError`.
   */
  readonly waitForConnectMs: number;
  /**
   * Where the cross-process CommandRouter listens (e.g. `"http://127.0.0.1:50051"`), used when no
   * streaming service of that name is registered in this process. Default: the `STREAMCMD_URL`
   * environment variable, if set.
   */
  readonly remoteTarget: string | undefined;
}

/** The defaults: a 5 s reply timeout, fail fast on a full queue or a missing client. */
export const defaultCommandClientConfig: CommandClientConfig = Object.freeze({
  replyTimeoutMs: 5_000,
  queueTimeoutMs: 0,
  waitForConnectMs: 0,
  remoteTarget: undefined,
});

const durationKeys = ["replyTimeoutMs", "queueTimeoutMs", "waitForConnectMs"] as const;
const knownKeys: ReadonlySet<string> = new Set([...durationKeys, "remoteTarget"]);

/** The largest duration accepted: setTimeout's own limit (about 24.8 days). */
export const maxDurationMs = 2_147_483_647;

/**
 * Builds a config from the defaults, the `STREAMCMD_URL` environment variable and `overrides`,
 * rejecting anything invalid with an `InvalidArgumentError` that names the field.
 */
export function createCommandClientConfig(overrides: Partial<CommandClientConfig> = {}): CommandClientConfig {
  const fromEnv = readEnv("STREAMCMD_URL");
  let base = defaultCommandClientConfig;
  if (fromEnv !== undefined) {
    try {
      base = { ...defaultCommandClientConfig, remoteTarget: validateTarget(fromEnv) };
    } catch (cause) {
      throw new InvalidArgumentError(`STREAMCMD_URL is not a valid target: ${(cause as Error).message}`, { cause });
    }
  }
  return withOverrides(base, overrides);
}

/** A copy of `config` with `overrides` applied and validated; `config` is not changed. */
export function withOverrides(
  config: CommandClientConfig,
  overrides: Partial<CommandClientConfig> = {},
): CommandClientConfig {
  if (typeof overrides !== "object" || overrides === null) {
    throw new InvalidArgumentError(`config overrides must be an object, got ${describe(overrides)}`);
  }
  for (const key of Object.keys(overrides)) {
    if (!knownKeys.has(key)) {
      throw new InvalidArgumentError(
        `unknown config option "${key}"; known options: ${[...knownKeys].join(", ")}`,
      );
    }
  }
  const merged = { ...config };
  for (const key of durationKeys) {
    const value = overrides[key];
    // A reply timeout of 0 would mean "fail at once" here and "server default" on the wire: refuse it.
    if (value !== undefined) merged[key] = validateDuration(key, value, key === "replyTimeoutMs" ? 1 : 0);
  }
  if ("remoteTarget" in overrides) {
    merged.remoteTarget = validateTarget(overrides.remoteTarget);
  }
  return Object.freeze(merged);
}

/**
 * Checks one duration option: a finite whole number of milliseconds, at least `min` (default 0)
 * and at most `maxDurationMs`.
 */
export function validateDuration(name: string, value: unknown, min = 0): number {
  if (typeof value !== "number" || !Number.isFinite(value) || !Number.isInteger(value)) {
    throw new InvalidArgumentError(`${name} must be a whole number of milliseconds, got ${describe(value)}`);
  }
  if (value < 0) {
    throw new InvalidArgumentError(`${name} must not be negative, got ${value}`);
  }
  if (value < min) {
    throw new InvalidArgumentError(`${name} must be at least ${min} ms, got ${value}`);
  }
  if (value > maxDurationMs) {
    throw new InvalidArgumentError(`${name} must be at most ${maxDurationMs} ms, got ${value}`);
  }
  return value;
}

function validateTarget(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "string" || value.trim() === "") {
    throw new InvalidArgumentError(`remoteTarget must be a non-empty URL string, got ${describe(value)}`);
  }
  let url: URL;
  try {
    url = new URL(value);
  } catch (cause) {
    throw new InvalidArgumentError(`remoteTarget is not a URL: ${JSON.stringify(value)}`, { cause });
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new InvalidArgumentError(`remoteTarget must be an http:// or https:// URL, got ${JSON.stringify(value)}`);
  }
  return value;
}

function readEnv(name: string): string | undefined {
  // `process` is absent outside Node-like runtimes; the core must not assume it.
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env;
  const value = env?.[name];
  return value === undefined || value === "" ? undefined : value;
}

/** Internal: a short description of a bad value for an error message. */
export function describe(value: unknown): string {
  if (typeof value === "number" && Number.isNaN(value)) return "NaN";
  if (typeof value === "string") return JSON.stringify(value);
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  return typeof value === "object" ? "an object" : String(value);
}
