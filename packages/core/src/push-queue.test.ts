import { afterEach, describe, expect, it, vi } from "vitest";
import { PushQueue } from "./push-queue.js";

afterEach(() => {
  vi.useRealTimers();
});

describe("PushQueue", () => {
  it("hands items to the consumer in order, and to a waiting consumer at once", async () => {
    const queue = new PushQueue<number>();
    queue.tryPush(1);
    const waiting = (async () => [await queue.next(), await queue.next()])();
    queue.tryPush(2);
    expect(await waiting).toEqual([
      { value: 1, done: false },
      { value: 2, done: false },
    ]);
    expect(queue.size).toBe(0);
  });

  it("refuses beyond its capacity and takes again once the consumer makes room", async () => {
    const queue = new PushQueue<string>(2);
    expect([queue.tryPush("a"), queue.tryPush("b"), queue.tryPush("c")]).toEqual([true, true, false]);
    await queue.next();
    expect(queue.tryPush("c")).toBe(true);
  });

  it("wakes a producer waiting for room when the consumer takes an item", async () => {
    const queue = new PushQueue<string>(1);
    queue.tryPush("a");
    const room = queue.waitForRoom(1_000, undefined, () => new Error("no room"));
    await queue.next();
    await expect(room).resolves.toBeUndefined();
    expect(queue.tryPush("b")).toBe(true);
  });

  it("rejects a producer waiting for room with onTimeout() at the deadline, not before", async () => {
    vi.useFakeTimers();
    const queue = new PushQueue<string>(1);
    queue.tryPush("a");
    let settled = false;
    const room = queue.waitForRoom(100, undefined, () => new Error("still full")).catch((e: unknown) => e).finally(() => (settled = true));
    await vi.advanceTimersByTimeAsync(99);
    expect(settled).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(await room).toEqual(new Error("still full"));
    expect(vi.getTimerCount()).toBe(0);
  });

  it("rejects a producer waiting for room with the signal's reason", async () => {
    const queue = new PushQueue<string>(1);
    queue.tryPush("a");
    const controller = new AbortController();
    const room = queue.waitForRoom(1_000, controller.signal, () => new Error("full"));
    controller.abort(new Error("caller gave up"));
    await expect(room).rejects.toEqual(new Error("caller gave up"));
  });

  it("end() lets the consumer drain what is queued, then ends (or throws the error)", async () => {
    const queue = new PushQueue<number>();
    queue.tryPush(1);
    queue.end(new Error("broken"));
    expect(queue.tryPush(2)).toBe(false);
    expect(await queue.next()).toEqual({ value: 1, done: false });
    await expect(queue.next()).rejects.toEqual(new Error("broken"));
  });

  it("close() discards what is queued, ends a waiting consumer at once and returns the discarded items", async () => {
    const queue = new PushQueue<number>();
    const consumer = new PushQueue<number>();
    const waiting = consumer.next();
    expect(consumer.close()).toEqual([]);
    expect(await waiting).toEqual({ value: undefined, done: true });
    queue.tryPush(1);
    queue.tryPush(2);
    expect(queue.close(new Error("dropped"))).toEqual([1, 2]);
    await expect(queue.next()).rejects.toEqual(new Error("dropped"));
  });

  it("remove() takes back an item the consumer has not taken", async () => {
    const queue = new PushQueue<number>();
    queue.tryPush(1);
    queue.tryPush(2);
    expect(queue.remove((n) => n === 1)).toBe(true);
    expect(queue.remove((n) => n === 9)).toBe(false);
    expect(await queue.next()).toEqual({ value: 2, done: false });
  });

  it("batches() groups what is queued together, up to the maximum", async () => {
    const queue = new PushQueue<number>();
    for (let i = 0; i < 5; i++) queue.tryPush(i);
    queue.end();
    const batches: number[][] = [];
    for await (const batch of queue.batches(2, (items) => items)) batches.push(batch);
    expect(batches).toEqual([[0, 1], [2, 3], [4]]);
  });

  it("a budget keeps a batch under a weight, and still lets one heavy item through alone", async () => {
    const queue = new PushQueue<number>();
    for (const n of [3, 3, 3, 9, 1]) queue.tryPush(n);
    const budget = { weigh: (n: number) => n, max: 7 };
    const batches = [await queue.nextBatch(10, budget), await queue.nextBatch(10, budget), await queue.nextBatch(10, budget)].map((r) => r.value);
    expect(batches).toEqual([[3, 3], [3], [9]]);
    expect((await queue.nextBatch(10, budget)).value).toEqual([1]);
  });

  it("an iterating consumer that stops early closes the queue", async () => {
    const queue = new PushQueue<number>();
    queue.tryPush(1);
    queue.tryPush(2);
    for await (const item of queue) {
      expect(item).toBe(1);
      break;
    }
    expect(queue.ended).toBe(true);
    expect(queue.size).toBe(0);
  });

  it("refuses a second concurrent next()", async () => {
    const queue = new PushQueue<number>();
    void queue.next();
    await expect(queue.next()).rejects.toThrow(/previous next\(\) is pending/);
  });
});
