import { describe, expect, it } from "vitest";
import { createBackoff } from "./backoff.js";

describe("backoff", () => {
  it("doubles from the initial delay up to the cap", () => {
    const backoff = createBackoff({ initialDelayMs: 10, maxDelayMs: 80, jitter: 0 });
    expect(Array.from({ length: 6 }, () => backoff.next())).toEqual([10, 20, 40, 80, 80, 80]);
    expect(backoff.attempt).toBe(6);
  });

  it("starts over after a reset", () => {
    const backoff = createBackoff({ initialDelayMs: 10, maxDelayMs: 1_000, jitter: 0 });
    backoff.next();
    backoff.next();
    backoff.reset();
    expect(backoff.next()).toBe(10);
  });

  it("varies each delay by at most ± jitter, both ways", () => {
    const low = createBackoff({ initialDelayMs: 100, jitter: 0.2 }, () => 0);
    const high = createBackoff({ initialDelayMs: 100, jitter: 0.2 }, () => 0.9999999);
    expect(low.next()).toBe(80);
    expect(high.next()).toBe(120);
  });

  it("stays at the cap after very many attempts (no overflow to Infinity or NaN)", () => {
    const backoff = createBackoff({ initialDelayMs: 100, maxDelayMs: 5_000, jitter: 0 });
    for (let i = 0; i < 2_000; i++) backoff.next();
    expect(backoff.next()).toBe(5_000);
  });

  it.each([
    [{ jitter: 2 }, /jitter must be between 0 and 1/],
    [{ initialDelayMs: -1 }, /reconnect.initialDelayMs must not be negative/],
    [{ maxDelayMs: 1.5 }, /reconnect.maxDelayMs must be a whole number/],
  ])("rejects %o", (options, message) => {
    expect(() => createBackoff(options)).toThrow(message);
  });
});
