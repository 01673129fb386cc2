// Property-based, over real HTTP/2: random interleavings of calls through the remote router (stream
// and unary), timeouts, cancels, absent clients, waits for connect, idempotency keys, and clients
// connecting, leaving and breaking leave nothing pending and end every call with a typed error.
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createCommandClient, isCommandError } from "@streamcmd/core";
import { botService } from "@streamcmd/demo-protocol";
import type { CommandResult, ConnectResponse } from "@streamcmd/demo-protocol";
import { createHarness, demoBotProtocol, disconnectOnCommand, failWith, neverReply, type Behaviour } from "@streamcmd/testing";
import { createRemoteRouter, type ConnectRemoteRouter } from "./index.js";
import { startCommand, testScope, type BotServer } from "./test-support/bot-server.js";

const scope = testScope();
let bots: BotServer;
let routers: Record<"stream" | "unary", ConnectRemoteRouter>;
beforeAll(async () => {
  bots = await scope.server();
  routers = { stream: createRemoteRouter({ baseUrl: bots.url }), unary: createRemoteRouter({ baseUrl: bots.url, executeVia: "unary" }) };
  scope.defer(() => routers.stream.close());
  scope.defer(() => routers.unary.close());
});
afterAll(() => scope.closeAll());

const behaviours: Record<"fail" | "silent" | "quit", () => Behaviour<ConnectResponse, CommandResult>> = {
  fail: () => failWith("nope", "refused"),
  silent: () => neverReply(),
  quit: () => disconnectOnCommand(),
};
type Script = "reply" | keyof typeof behaviours;
const slot = fc.integer({ min: 0, max: 2 });
const op = fc.oneof(
  fc.record({ kind: fc.constant("connect" as const), slot, behaviour: fc.constantFrom<Script>("reply", "fail", "silent", "quit") }),
  fc.record({ kind: fc.constant("leave" as const), slot }),
  fc.record({
    kind: fc.constant("send" as const),
    slot,
    via: fc.constantFrom<"stream" | "unary">("stream", "unary"),
    timeoutMs: fc.integer({ min: 1, max: 60 }),
    waitForConnectMs: fc.constantFrom(0, 0, 30),
    cancelAfterMs: fc.option(fc.integer({ min: 0, max: 40 }), { nil: undefined }),
    key: fc.option(fc.constantFrom("k1", "k2"), { nil: undefined }),
  }),
  fc.record({ kind: fc.constant("pause" as const), ms: fc.integer({ min: 0, max: 10 }) }),
);

describe("router properties", () => {
  it("random interleavings through the router leave nothing pending and settle every call typed", async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 5, maxLength: 30 }), async (ops) => {
        run++;
        const harness = createHarness(demoBotProtocol, { service: bots.hub });
        const clients = new Map<number, Awaited<ReturnType<typeof harness.connect>>>();
        const id = (n: number) => `p${run}-${n}`;
        const calls: Promise<string>[] = [];
        for (const step of ops) {
          if (step.kind === "connect") {
            const script = step.behaviour;
            clients.set(step.slot, await harness.connect(id(step.slot), script === "reply" ? {} : { behaviour: behaviours[script]() }));
          } else if (step.kind === "leave") clients.get(step.slot)?.disconnect();
          else if (step.kind === "pause") await new Promise((resolve) => setTimeout(resolve, step.ms));
          else {
            const controller = new AbortController();
            if (step.cancelAfterMs !== undefined) setTimeout(() => controller.abort(new Error("changed my mind")), step.cancelAfterMs);
            const client = createCommandClient(botService, { clientId: id(step.slot), router: routers[step.via] });
            const call = client.send(startCommand("p"), {
              timeoutMs: step.timeoutMs,
              waitForConnectMs: step.waitForConnectMs,
              signal: controller.signal,
              ...(step.key === undefined ? {} : { idempotencyKey: `${run}-${step.key}` }),
            });
            calls.push(call.then(() => "ok", (error: unknown) => (isCommandError(error) ? error.code : `untyped: ${String(error)}`)));
          }
        }
        const outcomes = await Promise.all(calls);
        expect(outcomes.filter((outcome) => outcome.startsWith("untyped"))).toEqual([]);
        await harness.close();
        await expect.poll(() => bots.hub.stats().pendingCommands, { timeout: 5_000 }).toBe(0);
      }),
      { numRuns: 150 },
    );
    // And the router still serves.
    const bystander = await createHarness(demoBotProtocol, { service: bots.hub }).connect("bystander");
    expect((await createCommandClient(botService, { clientId: "bystander", router: routers.stream }).send(startCommand("after"))).reply.case).toBe("start");
    bystander.disconnect();
  }, 120_000);
});
