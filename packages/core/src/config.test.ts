import { afterEach, describe, expect, it, vi } from "vitest";
import { createCommandClientConfig, defaultCommandClientConfig, InvalidArgumentError, withOverrides } from "./index.js";

afterEach(() => {
  vi.unstubAllEnvs();
});

describe("CommandClientConfig", () => {
  it("defaults to a 5 s reply timeout, fail-fast queue and connect waits, no remote target", () => {
    vi.stubEnv("STREAMCMD_URL", "");
    expect(createCommandClientConfig()).toEqual({
      replyTimeoutMs: 5000,
      queueTimeoutMs: 0,
      waitForConnectMs: 0,
      remoteTarget: undefined,
    });
  });

  it("takes the remote target from STREAMCMD_URL unless overridden", () => {
    vi.stubEnv("STREAMCMD_URL", "http://127.0.0.1:50051");
    expect(createCommandClientConfig().remoteTarget).toBe("http://127.0.0.1:50051");
    expect(createCommandClientConfig({ remoteTarget: "https://router.internal:443" }).remoteTarget).toBe(
      "https://router.internal:443",
    );
  });

  it("rejects an invalid STREAMCMD_URL at once, naming the variable", () => {
    vi.stubEnv("STREAMCMD_URL", "localhost:50051");
    expect(() => createCommandClientConfig()).toThrow(/STREAMCMD_URL is not a valid target: remoteTarget must be an http/);
  });

  it("withOverrides returns a frozen copy and leaves the original alone", () => {
    const base = createCommandClientConfig({ replyTimeoutMs: 1000 });
    const changed = withOverrides(base, { replyTimeoutMs: 250, waitForConnectMs: 100, queueTimeoutMs: 50 });
    expect(changed).toMatchObject({ replyTimeoutMs: 250, waitForConnectMs: 100, queueTimeoutMs: 50 });
    expect(base.replyTimeoutMs).toBe(1000);
    expect(Object.isFrozen(changed)).toBe(true);
    expect(Object.isFrozen(defaultCommandClientConfig)).toBe(true);
  });

  it.each([
    [{ replyTimeoutMs: -1 }, /replyTimeoutMs must not be negative, got -1/],
    [{ replyTimeoutMs: 0 }, /replyTimeoutMs must be at least 1 ms, got 0/],
    [{ replyTimeoutMs: Number.NaN }, /replyTimeoutMs must be a whole number of milliseconds, got NaN/],
    [{ queueTimeoutMs: 1.5 }, /queueTimeoutMs must be a whole number/],
    [{ waitForConnectMs: Number.POSITIVE_INFINITY }, /waitForConnectMs must be a whole number/],
    [{ replyTimeoutMs: "100" }, /replyTimeoutMs must be a whole number of milliseconds, got "100"/],
    [{ replyTimeoutMs: 2 ** 31 }, /replyTimeoutMs must be at most/],
    [{ timeout: 5 }, /unknown config option "timeout"; known options: replyTimeoutMs/],
    [{ remoteTarget: "" }, /remoteTarget must be a non-empty URL string/],
    [{ remoteTarget: "not a url" }, /remoteTarget is not a URL/],
    [{ remoteTarget: "ftp://x" }, /remoteTarget must be an http:\/\/ or https:\/\/ URL/],
  ])("rejects %o with a clear InvalidArgumentError", (overrides, message) => {
    const attempt = () => createCommandClientConfig(overrides as never);
    expect(attempt).toThrow(InvalidArgumentError);
    expect(attempt).toThrow(message);
  });
});
