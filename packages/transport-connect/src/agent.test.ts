import { create } from "@bufbuild/protobuf";
import { afterEach, describe, expect, it } from "vitest";
import { ClosedError, CommandFailedError, InvalidArgumentError } from "@streamcmd/core";
import * as demoBot from "@streamcmd/demo-protocol";
import { botAgent, botAgentBinding, createBotClient } from "@streamcmd/demo-protocol";
import { connectAgent, type AgentEvents } from "./index.js";
import { startBotServer, startCommand, testScope } from "./test-support/bot-server.js";

const scope = testScope();
afterEach(() => scope.closeAll());
const server = scope.server;
const agent = scope.agent;

describe("agent runtime", () => {
  it("reconnects after the server goes away and comes back, and takes commands again", async () => {
    const first = await startBotServer();
    const port = first.server.port;
    const events: string[] = [];
    const bots = [agent(first.url, "bot-1"), agent(first.url, "bot-2")];
    bots[0]!.on("connected", () => events.push("connected"));
    bots[0]!.on("disconnected", () => events.push("disconnected"));
    bots[0]!.on("reconnecting", () => events.push("reconnecting"));
    await Promise.all(["bot-1", "bot-2"].map((id) => first.hub.waitForClient(id, { timeoutMs: 5_000 })));
    expect((await first.hub.send("bot-1", startCommand("before"))).reply.case).toBe("start");

    await first.server.close({ graceMs: 0 }); // a crash: connections torn down
    await first.hub.close();
    await expect.poll(() => bots.map((b) => b.state)).toEqual(["reconnecting", "reconnecting"]);

    const second = await server({ port });
    // The agents' own signal: each is connected again once the new server's welcome arrived.
    await Promise.all(bots.map((bot) => bot.waitUntilConnected()));
    expect(["bot-1", "bot-2"].map((id) => second.hub.isConnected(id))).toEqual([true, true]);
    const reply = await second.hub.send("bot-2", startCommand("after"));
    expect(reply.reply).toMatchObject({ case: "start", value: { detail: "bot-2:start:after" } });
    expect(events.slice(0, 3)).toEqual(["connected", "disconnected", "reconnecting"]);
    expect(events).toContain("connected");
    expect(events.lastIndexOf("connected")).toBeGreaterThan(0);
  });

  it("with several server URLs, fails over to the next when its server goes away", async () => {
    const [first, second] = [await startBotServer(), await server()];
    const bot = agent([first.url, second.url], "bot-roaming");
    await first.hub.waitForClient("bot-roaming", { timeoutMs: 5_000 });
    expect(second.hub.isConnected("bot-roaming")).toBe(false);
    await first.server.close({ graceMs: 0 }); // a node dies
    await first.hub.close();
    await second.hub.waitForClient("bot-roaming", { timeoutMs: 5_000 });
    expect((await second.hub.send("bot-roaming", startCommand("elsewhere"))).reply).toMatchObject({ case: "start", value: { detail: "bot-roaming:start:elsewhere" } });
    expect(bot.state).toBe("connected");
  });

  it("runs a generated protocol's handlers (botAgent): each command gets its own typed reply, a failure keeps its code", async () => {
    const bots = await server();
    const { RUNNING } = demoBot.BotStatus;
    const bot = connectAgent({
      baseUrl: bots.url,
      clientId: "bot-typed",
      heartbeatIntervalMs: 0,
      ...botAgent({
        start: (command) => ({ status: RUNNING, detail: `started: ${command.reason}` }),
        stop: (command) => {
          throw new CommandFailedError("not_flat", `cannot stop ${command.graceful ? "gracefully" : "at once"}`);
        },
        configUpdate: (command) => ({ status: RUNNING, detail: command.fieldPaths.join(",") }),
        ping: async () => ({ status: RUNNING, version: "1.2.3" }),
      }),
    });
    scope.defer(() => bot.close());
    await bot.waitUntilConnected();
    const client = createBotClient({ clientId: "bot-typed", service: bots.hub });
    expect(await client.start({ reason: "open" })).toMatchObject({ status: RUNNING, detail: "started: open" });
    await expect(client.stop({ reason: "close", graceful: true })).rejects.toMatchObject({ clientErrorCode: "not_flat", clientErrorMessage: "cannot stop gracefully" });
    expect((await client.configUpdate({ config: { risk: 1 }, partial: true, fieldPaths: ["risk"] })).detail).toBe("risk");
    expect(await client.ping()).toMatchObject({ status: RUNNING, version: "1.2.3" });
  });

  it("reports connected on the server's welcome: by then the hub has the client", async () => {
    const bots = await server();
    const bot = agent(bots.url, "bot-1");
    expect(bot.state).toBe("connecting");
    await bot.waitUntilConnected();
    expect(bots.hub.isConnected("bot-1")).toBe(true);
    expect(bot.state).toBe("connected");
  });

  it("never reports connected when the server refuses it before admitting it", async () => {
    const bots = await server({ serviceOptions: { duplicatePolicy: "reject" } });
    await agent(bots.url, "twin").waitUntilConnected();
    const refused = agent(bots.url, "twin", { reconnect: { initialDelayMs: 10, maxDelayMs: 20, jitter: 0 } });
    const seen: string[] = [];
    refused.on("connected", () => seen.push("connected"));
    refused.on("disconnected", () => seen.push("disconnected"));
    const reasons: unknown[] = [];
    refused.on("reconnecting", ({ error }) => reasons.push(error));
    await expect.poll(() => reasons.length).toBeGreaterThanOrEqual(3);
    expect(seen).toEqual([]);
    expect((reasons[0] as Error).message).toMatch(/client twin is already connected/);
  });

  it("keeps trying while the server is down, with growing delays", async () => {
    const bots = await server();
    const url = bots.url;
    await bots.server.close({ graceMs: 0 });
    const delays: number[] = [];
    const lonely = agent(url, "bot-1", { reconnect: { initialDelayMs: 10, maxDelayMs: 80, jitter: 0 } });
    lonely.on("reconnecting", ({ delayMs }) => delays.push(delayMs));
    await expect.poll(() => delays.length, { timeout: 5_000 }).toBeGreaterThanOrEqual(5);
    expect(delays.slice(0, 5)).toEqual([10, 20, 40, 80, 80]);
  });

  it("does not reconnect when reconnect is false, and ends closed", async () => {
    const bots = await server();
    const once = agent(bots.url, "bot-1", { reconnect: false });
    await once.waitUntilConnected();
    await bots.server.close({ graceMs: 0 });
    await expect.poll(() => once.state).toBe("closed");
  });

  it("sends heartbeats the hub sees as messages", async () => {
    const bots = await server();
    const kinds: string[] = [];
    bots.hub.onMessage((_, message) => kinds.push(message.message.case ?? "?"));
    agent(bots.url, "bot-1", { heartbeatIntervalMs: 30 });
    await expect.poll(() => kinds.filter((k) => k === "heartbeat").length).toBeGreaterThanOrEqual(3);
  });

  it("send() puts the app's own messages (status reports) on the stream, only while connected", async () => {
    const bots = await server();
    const reports: string[] = [];
    bots.hub.onMessage((_, message) => {
      if (message.message.case === "statusReport") reports.push(message.message.value.detail);
    });
    const bot = agent(bots.url, "bot-1");
    const report = create(demoBot.ConnectRequestSchema, { message: { case: "statusReport", value: { detail: "warming up" } } });
    expect(bot.send(report)).toBe(false);
    await bot.waitUntilConnected();
    expect(bot.send(report)).toBe(true);
    await expect.poll(() => reports).toEqual(["warming up"]);
  });

  it("handles at most maxConcurrentCommands at once and still answers them all", async () => {
    const bots = await server();
    let running = 0;
    let peak = 0;
    agent(bots.url, "bot-1", {
      maxConcurrentCommands: 2,
      onCommand: async (command) => {
        running++;
        peak = Math.max(peak, running);
        await new Promise((resolve) => setTimeout(resolve, 20));
        running--;
        return create(demoBot.CommandResultSchema, { reply: { case: "start", value: { detail: command.commandId } } });
      },
    });
    await bots.hub.waitForClient("bot-1", { timeoutMs: 5_000 });
    const replies = await Promise.all(Array.from({ length: 8 }, (_, i) => bots.hub.send("bot-1", startCommand(String(i)))));
    expect(replies).toHaveLength(8);
    expect(peak).toBe(2);
  });

  it("gives a handler a signal that aborts when the connection ends", async () => {
    const bots = await server();
    let handlerSignal: AbortSignal | undefined;
    const bot = agent(bots.url, "bot-1", {
      onCommand: (_, context) => {
        handlerSignal = context.signal;
        return new Promise(() => {});
      },
    });
    await bots.hub.waitForClient("bot-1", { timeoutMs: 5_000 });
    void bots.hub.send("bot-1", startCommand("long")).catch(() => {});
    await expect.poll(() => handlerSignal).toBeDefined();
    await bot.close();
    expect(handlerSignal!.aborted).toBe(true);
  });

  it("closes when its signal aborts", async () => {
    const bots = await server();
    const controller = new AbortController();
    const states: (keyof AgentEvents)[] = [];
    const bot = agent(bots.url, "bot-1", { signal: controller.signal });
    bot.on("closed", () => states.push("closed"));
    await bot.waitUntilConnected();
    controller.abort();
    await expect.poll(() => bot.state).toBe("closed");
    expect(states).toEqual(["closed"]);
    await expect(bot.waitUntilConnected()).rejects.toBeInstanceOf(ClosedError);
  });

  it("notices a lost connection and closes even when every handler slot is stuck", async () => {
    const bots = await startBotServer();
    const stuck = agent(bots.url, "bot-1", { maxConcurrentCommands: 1, onCommand: () => new Promise(() => {}) });
    await bots.hub.waitForClient("bot-1", { timeoutMs: 5_000 });
    for (let i = 0; i < 3; i++) void bots.hub.send("bot-1", startCommand(String(i)), { timeoutMs: 60_000 }).catch(() => {});
    await expect.poll(() => bots.hub.client("bot-1")?.pendingCommands).toBe(3);
    await bots.server.close({ graceMs: 0 });
    await bots.hub.close();
    await expect.poll(() => stuck.state).toBe("reconnecting");
    await stuck.close();
    expect(stuck.state).toBe("closed");
  });

  it("backs off (does not retry at the initial delay forever) when the server keeps refusing it", async () => {
    const bots = await server({ serviceOptions: { duplicatePolicy: "reject" } });
    agent(bots.url, "twin");
    await bots.hub.waitForClient("twin", { timeoutMs: 5_000 });
    const delays: number[] = [];
    const refused = agent(bots.url, "twin", { reconnect: { initialDelayMs: 10, maxDelayMs: 160, jitter: 0 } });
    refused.on("reconnecting", ({ delayMs }) => delays.push(delayMs));
    await expect.poll(() => delays.length, { timeout: 5_000 }).toBeGreaterThanOrEqual(4);
    expect(delays.slice(0, 4)).toEqual([10, 20, 40, 80]);
  });

  it("two agents with one id back off and say so, instead of replacing each other forever", async () => {
    const bots = await server();
    let replacements = 0;
    bots.hub.onDisconnect((event) => event.reason === "replaced" && replacements++);
    const said: string[] = [];
    const logger = { debug() {}, info() {}, warn() {}, error: (_: unknown, message: string) => said.push(message) };
    const reconnect = { initialDelayMs: 20, maxDelayMs: 5_000, jitter: 0 };
    agent(bots.url, "twin", { reconnect, logger });
    agent(bots.url, "twin", { reconnect, logger });
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    // Taking turns at the initial delay would be dozens in this time; with backoff it is a handful.
    expect(replacements).toBeGreaterThan(0);
    expect(replacements).toBeLessThan(20);
    expect(said[0]).toMatch(/another connection took over client twin: is a second process running with this id\?/);
  });

  it("survives a binding whose heartbeat throws, and a hello that throws (it retries)", async () => {
    const bots = await server();
    const errors: string[] = [];
    const logger = { debug() {}, info() {}, warn() {}, error: (_: unknown, message: string) => errors.push(message) };
    agent(bots.url, "bot-1", {
      heartbeatIntervalMs: 10,
      binding: { ...botAgentBinding, heartbeat: () => { throw new Error("no clock"); } },
      logger,
    });
    await bots.hub.waitForClient("bot-1", { timeoutMs: 5_000 });
    await expect.poll(() => errors.length).toBeGreaterThanOrEqual(2);
    expect(errors[0]).toMatch(/failed to build the heartbeat/);
    expect((await bots.hub.send("bot-1", startCommand("still fine"))).reply.case).toBe("start");

    let calls = 0;
    const flaky = agent(bots.url, "bot-2", {
      binding: {
        ...botAgentBinding,
        hello: (identity) => {
          if (++calls === 1) throw new Error("not ready yet");
          return botAgentBinding.hello(identity);
        },
      },
    });
    const attempts: unknown[] = [];
    const disconnects: unknown[] = [];
    flaky.on("reconnecting", ({ error }) => attempts.push(error));
    flaky.on("disconnected", ({ error }) => disconnects.push(error));
    await bots.hub.waitForClient("bot-2", { timeoutMs: 5_000 });
    // The failed attempt never connected: it is a reason to reconnect, not a disconnect.
    expect(attempts).toEqual([new Error("not ready yet")]);
    expect(disconnects).toEqual([]);
  });

  it("rejects bad options with InvalidArgumentError", () => {
    const base = {
      baseUrl: "http://127.0.0.1:1",
      method: demoBot.BotService.method.connect,
      clientId: "bot-1",
      binding: botAgentBinding,
      onCommand: () => create(demoBot.CommandResultSchema, {}),
    };
    expect(() => connectAgent({ ...base, maxConcurrentCommands: 0 })).toThrow(InvalidArgumentError);
    expect(() => connectAgent({ ...base, heartbeatIntervalMs: -1 })).toThrow(/heartbeatIntervalMs must not be negative/);
    expect(() => connectAgent({ ...base, reconnect: { jitter: 2 } })).toThrow(/jitter must be between 0 and 1/);
    expect(() => connectAgent({ ...base, method: {} as never })).toThrow(/needs a bidi streaming method/);
    expect(() => connectAgent({ ...base, baseUrl: undefined })).toThrow(/needs a baseUrl or a transport/);
    expect(() => connectAgent({ ...base, baseUrl: "not a url" })).toThrow(/baseUrl is not a URL/);
    expect(() => connectAgent({ ...base, clientId: "" })).toThrow(/clientId must be a non-empty string/);
  });
});
