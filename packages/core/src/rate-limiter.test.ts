import { describe, expect, it } from "vitest";
import { TokenBucket } from "./rate-limiter.js";

describe("TokenBucket", () => {
  it("allows a burst of the rate, then refuses until time refills it", () => {
    const bucket = new TokenBucket(5, 0);
    expect(Array.from({ length: 6 }, () => bucket.take(0))).toEqual([true, true, true, true, true, false]);
    expect(bucket.take(199)).toBe(false);
    expect(bucket.take(200)).toBe(true);
  });

  it("a steady sender at the rate is never refused", () => {
    const bucket = new TokenBucket(10, 0);
    for (let at = 0; at < 10_000; at += 100) expect(bucket.take(at)).toBe(true);
  });

  it("never stores more than one second's worth", () => {
    const bucket = new TokenBucket(3, 0);
    const later = 60_000;
    expect(Array.from({ length: 4 }, () => bucket.take(later))).toEqual([true, true, true, false]);
  });
});
