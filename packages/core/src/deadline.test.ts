import { afterEach, describe, expect, it, vi } from "vitest";
import { deadlineSignal, delay, watchDeadline } from "./deadline.js";

afterEach(() => {
  vi.useRealTimers();
});

describe("watchDeadline", () => {
  it("ends with timeout at the deadline, once, and leaves no timer or listener", async () => {
    vi.useFakeTimers();
    const controller = new AbortController();
    const ends: string[] = [];
    watchDeadline({ timeoutMs: 50, signal: controller.signal }, (cause) => ends.push(cause));
    await vi.advanceTimersByTimeAsync(49);
    expect(ends).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    controller.abort();
    expect(ends).toEqual(["timeout"]);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("ends with abort when the signal aborts first, and clears its timer", () => {
    vi.useFakeTimers();
    const controller = new AbortController();
    const ends: string[] = [];
    watchDeadline({ timeoutMs: 50, signal: controller.signal }, (cause) => ends.push(cause));
    controller.abort();
    expect(ends).toEqual(["abort"]);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("ends at once, synchronously, with an already aborted signal", () => {
    const ends: string[] = [];
    watchDeadline({ timeoutMs: 50, signal: AbortSignal.abort() }, (cause) => ends.push(cause));
    expect(ends).toEqual(["abort"]);
  });

  it("dispose stops both: nothing ends", async () => {
    vi.useFakeTimers();
    const controller = new AbortController();
    const ends: string[] = [];
    const deadline = watchDeadline({ timeoutMs: 10, signal: controller.signal }, (cause) => ends.push(cause));
    deadline.dispose();
    controller.abort();
    await vi.advanceTimersByTimeAsync(20);
    expect(ends).toEqual([]);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("without a deadline, only the signal ends it", async () => {
    vi.useFakeTimers();
    const controller = new AbortController();
    const ends: string[] = [];
    watchDeadline({ signal: controller.signal }, (cause) => ends.push(cause));
    expect(vi.getTimerCount()).toBe(0);
    controller.abort();
    expect(ends).toEqual(["abort"]);
  });
});

describe("watchDeadline with a context", () => {
  it("passes its context to one shared onEnd, so a caller needs no closure per wait", async () => {
    vi.useFakeTimers();
    const ends: [string, number][] = [];
    const onEnd = (cause: string, id: number) => ends.push([cause, id]);
    const controller = new AbortController();
    watchDeadline({ timeoutMs: 10 }, onEnd, 1);
    watchDeadline({ timeoutMs: 50, signal: controller.signal }, onEnd, 2);
    await vi.advanceTimersByTimeAsync(10);
    controller.abort();
    expect(ends).toEqual([["timeout", 1], ["abort", 2]]);
    expect(vi.getTimerCount()).toBe(0);
  });
});

describe("delay and deadlineSignal", () => {
  it("delay resolves after the pause and rejects with the signal's reason", async () => {
    vi.useFakeTimers();
    const done = delay(30);
    await vi.advanceTimersByTimeAsync(30);
    await expect(done).resolves.toBeUndefined();
    const controller = new AbortController();
    const cut = delay(30, controller.signal);
    controller.abort(new Error("stop"));
    await expect(cut).rejects.toEqual(new Error("stop"));
  });

  it("deadlineSignal aborts with a typed reason at the deadline, or with the parent's reason", async () => {
    vi.useFakeTimers();
    const timed = deadlineSignal(20, () => new RangeError("deadline exceeded"));
    await vi.advanceTimersByTimeAsync(20);
    expect(timed.signal.reason).toEqual(new RangeError("deadline exceeded"));
    const parent = new AbortController();
    const child = deadlineSignal(1_000, () => new Error("never"), parent.signal);
    parent.abort(new Error("parent"));
    expect(child.signal.reason).toEqual(new Error("parent"));
    expect(vi.getTimerCount()).toBe(0);
  });
});
