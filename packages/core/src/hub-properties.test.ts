// Property-based: random interleavings of connect, disconnect, replace, send, reply, failure, timeout
// and cancel never leave a pending command, a queued message or a waiter behind, and settle every
// command exactly once (the hub's own counters add up to what was sent).
import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import { createHarness, delayed, disconnectOnCommand, failWith, neverReply, replyWith, testProtocol, type TestCommand } from "@streamcmd/testing";
import { isCommandError } from "./index.js";

const ids = ["a", "b", "c"] as const;
type Id = (typeof ids)[number];
const behaviours = {
  reply: () => replyWith<TestCommand, unknown>((command) => command.op),
  slow: () => delayed(5, replyWith<TestCommand, unknown>((command) => command.op)),
  fail: () => failWith<TestCommand, unknown>("nope", "refused"),
  silent: () => neverReply<TestCommand, unknown>(),
  quit: () => disconnectOnCommand<TestCommand, unknown>(),
};
type Behaviour = keyof typeof behaviours;

type Op =
  | { kind: "connect"; id: Id; behaviour: Behaviour }
  | { kind: "disconnect"; id: Id }
  | { kind: "break"; id: Id }
  | { kind: "send"; id: Id; timeoutMs: number; waitForConnectMs: number; cancelAfterMs: number | undefined }
  | { kind: "post"; id: Id }
  | { kind: "pause"; ms: number };

const id = fc.constantFrom(...ids);
const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant("connect" as const), id, behaviour: fc.constantFrom(...(Object.keys(behaviours) as Behaviour[])) }),
  fc.record({ kind: fc.constant("disconnect" as const), id }),
  fc.record({ kind: fc.constant("break" as const), id }),
  fc.record({
    kind: fc.constant("send" as const),
    id,
    timeoutMs: fc.integer({ min: 1, max: 20 }),
    waitForConnectMs: fc.constantFrom(0, 0, 10),
    cancelAfterMs: fc.option(fc.integer({ min: 0, max: 15 }), { nil: undefined }),
  }),
  fc.record({ kind: fc.constant("post" as const), id }),
  fc.record({ kind: fc.constant("pause" as const), ms: fc.integer({ min: 0, max: 5 }) }),
);

const harnesses: { close(): Promise<void> }[] = [];
afterEach(async () => {
  await Promise.all(harnesses.splice(0).map((h) => h.close()));
});

describe("hub properties", () => {
  it("random interleavings leave nothing behind and settle every command once", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 40 }), async (ops) => {
        const h = createHarness(testProtocol);
        harnesses.push(h);
        const clients = new Map<Id, Awaited<ReturnType<typeof h.connect>>>();
        const calls: Promise<unknown>[] = [];
        for (const step of ops) {
          switch (step.kind) {
            case "connect":
              // A second connect with a live id replaces the first (the default policy).
              clients.set(step.id, await h.connect(step.id, { behaviour: behaviours[step.behaviour]() }));
              break;
            case "disconnect":
              clients.get(step.id)?.disconnect();
              break;
            case "break":
              clients.get(step.id)?.breakStream(new Error("reset"));
              break;
            case "send": {
              const controller = new AbortController();
              if (step.cancelAfterMs !== undefined) setTimeout(() => controller.abort(new Error("changed my mind")), step.cancelAfterMs);
              const call = h.service.send(step.id, { op: `op-${calls.length}` }, { timeoutMs: step.timeoutMs, waitForConnectMs: step.waitForConnectMs, signal: controller.signal });
              calls.push(call.then(() => "ok", (error: unknown) => (isCommandError(error) ? error.code : `untyped: ${String(error)}`)));
              break;
            }
            case "post":
              calls.push(h.service.post(step.id, { op: "posted" }).then(() => "posted", (error: unknown) => (isCommandError(error) ? error.code : `untyped: ${String(error)}`)));
              break;
            case "pause":
              await new Promise((resolve) => setTimeout(resolve, step.ms));
              break;
          }
        }
        const outcomes = await Promise.all(calls);
        // Every call settled, and only ever with a typed error.
        expect(outcomes.filter((outcome) => typeof outcome === "string" && outcome.startsWith("untyped"))).toEqual([]);
        // Nothing waits any more for anything.
        await expect.poll(() => h.service.stats().pendingCommands).toBe(0);
        const stats = h.service.stats();
        // Each command that was sent was settled exactly once: by a reply, a failure, a timeout, a cancel or a disconnect.
        // A command settled twice would count twice here, against one outcome its caller saw.
        const count = (outcome: string) => outcomes.filter((o) => o === outcome).length;
        expect({ ok: stats.repliesOk, failed: stats.repliesFailed, timeouts: stats.timeouts, disconnected: stats.disconnectRejections }).toEqual({
          ok: count("ok"),
          failed: count("command_failed"),
          timeouts: count("command_timeout"),
          disconnected: count("client_disconnected"),
        });
        expect(stats.cancellations).toBe(count("command_cancelled"));
        await h.close();
        expect(h.service.stats()).toMatchObject({ connectedClients: 0, pendingCommands: 0, queuedMessages: 0 });
      }),
      { numRuns: 200 },
    );
  }, 60_000);
});
