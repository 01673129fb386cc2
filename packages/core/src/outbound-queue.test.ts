import { describe, expect, it } from "vitest";
import { OutboundQueue } from "./outbound-queue.js";

describe("OutboundQueue", () => {
  it("hands items out in order and refuses more than its capacity", async () => {
    const queue = new OutboundQueue<number>(2);
    expect(queue.tryPush(1)).toBe(true);
    expect(queue.tryPush(2)).toBe(true);
    expect(queue.tryPush(3)).toBe(false);
    expect(await queue.next()).toEqual({ value: 1, done: false });
    expect(queue.tryPush(3)).toBe(true);
    expect(await queue.next()).toEqual({ value: 2, done: false });
    expect(await queue.next()).toEqual({ value: 3, done: false });
    expect(queue.size).toBe(0);
  });

  it("a waiting consumer gets the next push directly", async () => {
    const queue = new OutboundQueue<string>(1);
    const next = queue.next();
    expect(queue.tryPush("a")).toBe(true);
    expect(await next).toEqual({ value: "a", done: false });
    expect(queue.size).toBe(0);
  });

  it("waitForRoom wakes a producer when the consumer takes an item", async () => {
    const queue = new OutboundQueue<number>(1);
    queue.tryPush(1);
    const room = queue.waitForRoom(1_000, undefined, () => new Error("timeout"));
    await queue.next();
    await expect(room).resolves.toBeUndefined();
    expect(queue.tryPush(2)).toBe(true);
  });

  it("waitForRoom rejects with the timeout error, or with the signal's reason", async () => {
    const queue = new OutboundQueue<number>(1);
    queue.tryPush(1);
    await expect(queue.waitForRoom(10, undefined, () => new Error("no room"))).rejects.toThrow("no room");
    const controller = new AbortController();
    const waiting = queue.waitForRoom(1_000, controller.signal, () => new Error("no room"));
    controller.abort(new Error("stop"));
    await expect(waiting).rejects.toThrow("stop");
  });

  it("close ends the consumer cleanly, or with an error, and discards what is left", async () => {
    const clean = new OutboundQueue<number>(4);
    const waiting = clean.next();
    clean.close();
    expect(await waiting).toEqual({ value: undefined, done: true });
    const failed = new OutboundQueue<number>(4);
    failed.tryPush(1);
    failed.tryPush(2);
    expect(failed.close(new Error("dropped"))).toEqual([1, 2]);
    await expect(failed.next()).rejects.toThrow("dropped");
    expect(failed.tryPush(3)).toBe(false);
  });

  it("stays correct across many pushes and pulls (internal compaction)", async () => {
    const queue = new OutboundQueue<number>(5_000);
    for (let i = 0; i < 3_000; i++) queue.tryPush(i);
    for (let i = 0; i < 2_000; i++) expect((await queue.next()).value).toBe(i);
    for (let i = 3_000; i < 4_000; i++) queue.tryPush(i);
    for (let i = 2_000; i < 4_000; i++) expect((await queue.next()).value).toBe(i);
    expect(queue.size).toBe(0);
  });
});
