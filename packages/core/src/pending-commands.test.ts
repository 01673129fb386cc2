import { afterEach, describe, expect, it, vi } from "vitest";
import { ClientDisconnectedError, CommandCancelledError, CommandTimeoutError } from "./errors.js";
import { PendingCommands, type PendingOwner } from "./pending-commands.js";

const connection = (): PendingOwner & { name: string } => ({ name: "c", pendingIds: new Set() });
const errors = {
  timedOut: (_: PendingOwner, commandId: string, timeoutMs: number) => new CommandTimeoutError(`${commandId} timed out after ${timeoutMs} ms`),
  cancelled: (_: PendingOwner, commandId: string, reason: unknown) => new CommandCancelledError(`${commandId} cancelled`, { cause: reason }),
};
const table = () => new PendingCommands<string, PendingOwner>(errors);

afterEach(() => {
  vi.useRealTimers();
});

describe("PendingCommands", () => {
  it("settles a command with its owner's reply, exactly once, and forgets it", async () => {
    const pending = table();
    const owner = connection();
    const reply = pending.register("c1", owner);
    expect(owner.pendingIds.has("c1")).toBe(true);
    expect(pending.take(owner, "c1")).toBe("pending");
    expect(pending.settle("c1", { reply: "done" })).toBe(true);
    expect(pending.settle("c1", { reply: "again" })).toBe(false);
    expect(await reply).toBe("done");
    expect([pending.size, owner.pendingIds.size]).toEqual([0, 0]);
  });

  it("does not let another connection answer a command", () => {
    const pending = table();
    const owner = connection();
    void pending.register("c1", owner);
    expect(pending.take(connection(), "c1")).toBe("unknown");
    expect(pending.isPendingFor(owner, "c1")).toBe(true);
    expect(pending.counters.unknownReplies).toBe(1);
  });

  it("times out an armed command at its deadline, in its own words, and counts a reply after it as late", async () => {
    vi.useFakeTimers();
    const pending = table();
    const owner = connection();
    const reply = pending.register("c1", owner).catch((e: unknown) => e);
    pending.arm("c1", 100, undefined);
    await vi.advanceTimersByTimeAsync(99);
    expect(pending.size).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(await reply).toEqual(new CommandTimeoutError("c1 timed out after 100 ms"));
    expect(pending.take(owner, "c1")).toBe("late");
    expect(pending.counters).toMatchObject({ timeouts: 1, lateReplies: 1 });
    expect(vi.getTimerCount()).toBe(0);
  });

  it("cancels an armed command when its signal aborts, keeping the reason as cause", async () => {
    const pending = table();
    const controller = new AbortController();
    const reply = pending.register("c1", connection()).catch((e: unknown) => e);
    pending.arm("c1", 60_000, controller.signal);
    controller.abort("stop");
    const error = (await reply) as Error;
    expect(error).toBeInstanceOf(CommandCancelledError);
    expect(error.cause).toBe("stop");
    expect(pending.counters.cancellations).toBe(1);
  });

  it("settles at once, keeping nothing, when armed with an already aborted signal", async () => {
    vi.useFakeTimers();
    const pending = table();
    const reply = pending.register("c1", connection()).catch((e: unknown) => e);
    pending.arm("c1", 60_000, AbortSignal.abort("too late"));
    expect(await reply).toBeInstanceOf(CommandCancelledError);
    expect([pending.size, vi.getTimerCount()]).toEqual([0, 0]);
  });

  it("a settled command disarms its deadline and its signal listener: nothing left behind", async () => {
    vi.useFakeTimers();
    const pending = table();
    const controller = new AbortController();
    const reply = pending.register("c1", connection());
    pending.arm("c1", 100, controller.signal);
    expect(vi.getTimerCount()).toBe(1);
    pending.settle("c1", { reply: "fast" });
    expect(vi.getTimerCount()).toBe(0);
    controller.abort();
    expect(pending.counters.cancellations).toBe(0);
    expect(await reply).toBe("fast");
  });

  it("rejectOwner rejects every command of one connection and leaves the others", async () => {
    const pending = table();
    const owner = connection();
    const other = connection();
    const mine = [pending.register("a", owner), pending.register("b", owner)].map((p) => p.catch((e: unknown) => e));
    const theirs = pending.register("c", other);
    expect(pending.rejectOwner(owner, (id) => new ClientDisconnectedError(`gone before ${id}`))).toBe(2);
    expect((await Promise.all(mine)).map((e) => (e as Error).message)).toEqual(["gone before a", "gone before b"]);
    expect(other.pendingIds.size).toBe(1);
    pending.settle("c", { reply: "ok" });
    expect(await theirs).toBe("ok");
  });

  it("a posted id's reply is dropped quietly, once", () => {
    const pending = table();
    pending.posted("p1");
    expect(pending.take(connection(), "p1")).toBe("posted");
    expect(pending.take(connection(), "p1")).toBe("unknown");
  });

  it("remembers a bounded number of late and posted ids, forgetting the oldest", () => {
    const pending = new PendingCommands<string, PendingOwner>(errors, 2);
    pending.posted("1");
    pending.posted("2");
    pending.posted("3");
    expect(pending.take(connection(), "1")).toBe("unknown");
    expect(pending.take(connection(), "3")).toBe("posted");
  });
});
