import { afterEach, describe, expect, it, vi } from "vitest";
import { ClientDirectory } from "./client-directory.js";
import { ClientNotConnectedError, CommandCancelledError, QueueFullError, ServiceClosedError } from "./errors.js";

const errors = {
  timedOut: () => new ClientNotConnectedError("did not connect"),
  cancelled: () => new CommandCancelledError("cancelled"),
  full: (max: number) => new QueueFullError(`${max} waiting`),
};

afterEach(() => {
  vi.useRealTimers();
});

describe("ClientDirectory", () => {
  it("maps ids to connections; a replaced connection cannot remove its successor", () => {
    const directory = new ClientDirectory<object>();
    const first = {};
    const second = {};
    directory.set("bot-1", first);
    directory.set("bot-1", second);
    directory.delete("bot-1", first);
    expect(directory.get("bot-1")).toBe(second);
    directory.delete("bot-1", second);
    expect(directory.size).toBe(0);
  });

  it("wakes every waiter for an id when it connects", async () => {
    const directory = new ClientDirectory<object>();
    const waiting = [directory.waitFor("bot-1", { timeoutMs: 1_000 }, errors), directory.waitFor("bot-1", { timeoutMs: 1_000 }, errors)];
    directory.set("bot-1", {});
    await expect(Promise.all(waiting)).resolves.toEqual([undefined, undefined]);
  });

  it("rejects a waiter at its deadline and leaves no timer behind", async () => {
    vi.useFakeTimers();
    const directory = new ClientDirectory<object>();
    const waiting = directory.waitFor("ghost", { timeoutMs: 50 }, errors).catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(50);
    expect(await waiting).toBeInstanceOf(ClientNotConnectedError);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("rejects a waiter whose signal aborts, at once if it already has", async () => {
    const directory = new ClientDirectory<object>();
    await expect(directory.waitFor("x", { timeoutMs: 50, signal: AbortSignal.abort() }, errors)).rejects.toBeInstanceOf(CommandCancelledError);
    const controller = new AbortController();
    const waiting = directory.waitFor("x", { timeoutMs: 50, signal: controller.signal }, errors);
    controller.abort();
    await expect(waiting).rejects.toBeInstanceOf(CommandCancelledError);
  });

  it("rejectAll refuses every waiter with the error", async () => {
    const directory = new ClientDirectory<object>();
    const waiting = directory.waitFor("x", { timeoutMs: 1_000 }, errors);
    directory.rejectAll(new ServiceClosedError("closed"));
    await expect(waiting).rejects.toBeInstanceOf(ServiceClosedError);
  });

  it("refuses a waiter beyond maxWaiters at once, across ids, and counts a waiter out when it ends however it ends", async () => {
    vi.useFakeTimers();
    const directory = new ClientDirectory<object>(2);
    const controller = new AbortController();
    const first = directory.waitFor("a", { timeoutMs: 50 }, errors).catch((e: unknown) => e);
    const second = directory.waitFor("b", { timeoutMs: 1_000, signal: controller.signal }, errors).catch((e: unknown) => e);
    await expect(directory.waitFor("c", { timeoutMs: 1_000 }, errors)).rejects.toThrow("2 waiting");
    expect(vi.getTimerCount()).toBe(2);
    await vi.advanceTimersByTimeAsync(50);
    expect(await first).toBeInstanceOf(ClientNotConnectedError);
    controller.abort();
    expect(await second).toBeInstanceOf(CommandCancelledError);
    const third = directory.waitFor("c", { timeoutMs: 1_000 }, errors);
    const fourth = directory.waitFor("c", { timeoutMs: 1_000 }, errors);
    directory.set("c", {});
    await expect(Promise.all([third, fourth])).resolves.toEqual([undefined, undefined]);
    // Both slots are free again: a new waiter is taken (and times out, not refused).
    const fifth = directory.waitFor("d", { timeoutMs: 10 }, errors).catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(10);
    expect(await fifth).toBeInstanceOf(ClientNotConnectedError);
  });
});
