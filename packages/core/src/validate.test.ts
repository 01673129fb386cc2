import { describe, expect, it } from "vitest";
import { InvalidArgumentError } from "./errors.js";
import { checkCount, checkDuration, checkName, checkOneOf, describe as describeValue, maxDurationMs } from "./validate.js";

describe("validators", () => {
  it.each([
    [() => checkDuration("timeoutMs", -1), /timeoutMs must not be negative, got -1/],
    [() => checkDuration("timeoutMs", 0, 1), /timeoutMs must be at least 1 ms, got 0/],
    [() => checkDuration("timeoutMs", Number.NaN), /timeoutMs must be a whole number of milliseconds, got NaN/],
    [() => checkDuration("timeoutMs", "5"), /got "5"/],
    [() => checkDuration("timeoutMs", maxDurationMs + 1), /must be at most 2147483647 ms/],
    [() => checkCount("maxQueueSize", 0, 1), /maxQueueSize must be a whole number of at least 1, got 0/],
    [() => checkCount("maxQueueSize", 2.5), /got 2.5/],
    [() => checkOneOf("policy", "keep", ["replace", "reject"]), /policy must be "replace" or "reject", got "keep"/],
    [() => checkName("name", " padded"), /name must be a non-empty string without surrounding spaces/],
  ])("%s throws a clear InvalidArgumentError", (attempt, message) => {
    expect(attempt).toThrow(InvalidArgumentError);
    expect(attempt).toThrow(message);
  });

  it("returns the value when it is valid", () => {
    expect([checkDuration("t", 0), checkDuration("t", maxDurationMs), checkCount("n", 3, 1), checkOneOf("p", "a", ["a"]), checkName("n", "bots")]).toEqual([0, maxDurationMs, 3, "a", "bots"]);
  });

  it("describes bad values briefly: long strings cut, objects and arrays named", () => {
    expect(describeValue("x".repeat(200))).toHaveLength(82);
    expect([describeValue([]), describeValue({}), describeValue(null)]).toEqual(["an array", "an object", "null"]);
  });
});
