import { describe, expect, it } from "vitest";
import { createPushStream } from "./index.js";

describe("push stream", () => {
  it("delivers pushed values in order, to a reader waiting or not", async () => {
    const stream = createPushStream<number>();
    stream.push(1);
    const seen: number[] = [];
    const reading = (async () => {
      for await (const value of stream) seen.push(value);
    })();
    stream.push(2);
    await expect.poll(() => seen).toEqual([1, 2]); // the reader is now waiting for the next value
    stream.push(3);
    stream.end();
    await reading;
    expect(seen).toEqual([1, 2, 3]);
    expect(stream.ended).toBe(true);
  });

  it("fail() makes the reader throw, after what was already pushed", async () => {
    const stream = createPushStream<number>();
    stream.push(1);
    stream.fail(new Error("reset"));
    const iterator = stream[Symbol.asyncIterator]();
    expect(await iterator.next()).toEqual({ value: 1, done: false });
    await expect(iterator.next()).rejects.toThrow("reset");
  });

  it("ignores pushes after the end", async () => {
    const stream = createPushStream<number>();
    stream.end();
    stream.push(1);
    expect(await stream[Symbol.asyncIterator]().next()).toEqual({ value: undefined, done: true });
  });
});
