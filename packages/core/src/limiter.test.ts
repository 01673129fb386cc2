import { describe, expect, it } from "vitest";
import { createLimiter } from "./limiter.js";

describe("createLimiter", () => {
  it("runs at most max tasks at once and the rest in order", async () => {
    const limiter = createLimiter(2);
    const order: string[] = [];
    let running = 0;
    let peak = 0;
    const gates = new Map<string, () => void>();
    const task = (name: string) =>
      limiter.run(async () => {
        running++;
        peak = Math.max(peak, running);
        order.push(name);
        await new Promise<void>((resolve) => gates.set(name, resolve));
        running--;
      });
    const all = Promise.all(["a", "b", "c", "d"].map(task));
    await expect.poll(() => order).toEqual(["a", "b"]);
    expect(limiter.waiting).toBe(2);
    gates.get("a")!();
    await expect.poll(() => order).toEqual(["a", "b", "c"]);
    gates.get("b")!();
    gates.get("c")!();
    await expect.poll(() => order.length).toBe(4);
    gates.get("d")!();
    await all;
    expect(peak).toBe(2);
    expect([limiter.active, limiter.waiting]).toEqual([0, 0]);
  });

  it("a release frees its slot only once", async () => {
    const limiter = createLimiter(1);
    const release = await limiter.acquire();
    release();
    release();
    expect(limiter.active).toBe(0);
    const again = limiter.tryAcquire();
    expect(again).toBeDefined();
    expect(limiter.tryAcquire()).toBeUndefined();
  });

  it("a waiter whose signal aborts leaves the queue with the signal's reason", async () => {
    const limiter = createLimiter(1);
    await limiter.acquire();
    const controller = new AbortController();
    const waiting = limiter.acquire(controller.signal);
    controller.abort(new Error("gave up"));
    await expect(waiting).rejects.toEqual(new Error("gave up"));
    expect(limiter.waiting).toBe(0);
  });

  it("clear() refuses every waiter with the reason", async () => {
    const limiter = createLimiter(1);
    await limiter.acquire();
    const waiters = [limiter.acquire(), limiter.acquire()];
    limiter.clear(new Error("session over"));
    for (const waiter of waiters) await expect(waiter).rejects.toEqual(new Error("session over"));
  });

  it("rejects a max below 1", () => {
    expect(() => createLimiter(0, "maxConcurrentCommands")).toThrow(/maxConcurrentCommands must be a whole number of at least 1, got 0/);
  });
});
