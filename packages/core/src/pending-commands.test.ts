import { afterEach, describe, expect, it, vi } from "vitest";
import { captureCallSite } from "./call-site.js";
import { ClientDisconnectedError, CommandCancelledError, CommandTimeoutError } from "./errors.js";
import { PendingCommands } from "./pending-commands.js";

const owner = {};
const other = {};
const errors = {
  timedOut: () => new CommandTimeoutError("timed out"),
  cancelled: (reason: unknown) => new CommandCancelledError("cancelled", { cause: reason }),
};

afterEach(() => {
  vi.useRealTimers();
});

describe("PendingCommands", () => {
  it("settles a command with its owner's reply, exactly once", async () => {
    const table = new PendingCommands<string>();
    const reply = table.register("c1", owner);
    const match = table.take(owner, "c1");
    expect(match.kind).toBe("pending");
    if (match.kind === "pending") match.settle({ reply: "done" });
    expect(table.settle("c1", { reply: "again" })).toBe(false);
    expect(await reply).toBe("done");
    expect([table.size, table.countFor(owner)]).toEqual([0, 0]);
  });

  it("does not let another connection answer a command", () => {
    const table = new PendingCommands<string>();
    void table.register("c1", owner);
    expect(table.take(other, "c1").kind).toBe("unknown");
    expect(table.isPendingFor(owner, "c1")).toBe(true);
    expect(table.counters.unknownReplies).toBe(1);
  });

  it("times out an armed command at its deadline and counts a reply after it as late", async () => {
    vi.useFakeTimers();
    const table = new PendingCommands<string>();
    const reply = table.register("c1", owner).catch((e: unknown) => e);
    table.arm("c1", { timeoutMs: 100 }, errors);
    await vi.advanceTimersByTimeAsync(100);
    expect(await reply).toBeInstanceOf(CommandTimeoutError);
    expect(table.take(owner, "c1").kind).toBe("late");
    expect(table.counters).toMatchObject({ timeouts: 1, lateReplies: 1 });
    expect(vi.getTimerCount()).toBe(0);
  });

  it("cancels an armed command when its signal aborts, keeping the reason as cause", async () => {
    const table = new PendingCommands<string>();
    const controller = new AbortController();
    const reply = table.register("c1", owner).catch((e: unknown) => e);
    table.arm("c1", { timeoutMs: 60_000, signal: controller.signal }, errors);
    controller.abort("stop");
    const error = (await reply) as Error;
    expect(error).toBeInstanceOf(CommandCancelledError);
    expect(error.cause).toBe("stop");
    expect(table.counters.cancellations).toBe(1);
  });

  it("a settled command disarms its deadline: no timer left behind", async () => {
    vi.useFakeTimers();
    const table = new PendingCommands<string>();
    const reply = table.register("c1", owner);
    table.arm("c1", { timeoutMs: 100 }, errors);
    expect(vi.getTimerCount()).toBe(1);
    table.settle("c1", { reply: "fast" });
    expect(vi.getTimerCount()).toBe(0);
    expect(await reply).toBe("fast");
  });

  it("rejectOwner rejects every command of one connection and leaves the others", async () => {
    const table = new PendingCommands<string>();
    const mine = [table.register("a", owner), table.register("b", owner)].map((p) => p.catch((e: unknown) => e));
    const theirs = table.register("c", other);
    expect(table.rejectOwner(owner, (id) => new ClientDisconnectedError(`gone before ${id}`))).toBe(2);
    expect((await Promise.all(mine)).map((e) => (e as Error).message)).toEqual(["gone before a", "gone before b"]);
    expect(table.countFor(other)).toBe(1);
    table.settle("c", { reply: "ok" });
    expect(await theirs).toBe("ok");
  });

  it("a posted id's reply is dropped quietly, once", () => {
    const table = new PendingCommands<string>();
    table.posted("p1");
    expect(table.take(owner, "p1").kind).toBe("posted");
    expect(table.take(owner, "p1").kind).toBe("unknown");
  });

  it("remembers a bounded number of late and posted ids, forgetting the oldest", () => {
    const table = new PendingCommands<string>(2);
    table.posted("1");
    table.posted("2");
    table.posted("3");
    expect(table.take(owner, "1").kind).toBe("unknown");
    expect(table.take(owner, "3").kind).toBe("posted");
  });

  it("an error settled later carries the registering caller's stack", async () => {
    const table = new PendingCommands<string>();
    function registeringCaller() {
      return table.register("c1", owner, captureCallSite(registeringCaller));
    }
    const reply = (function outerCaller() {
      return registeringCaller();
    })().catch((e: unknown) => e);
    table.settle("c1", { error: new CommandTimeoutError("late") });
    const error = (await reply) as Error;
    expect(error.stack).toMatch(/^CommandTimeoutError: late\n/);
    expect(error.stack).toContain("outerCaller");
  });
});
