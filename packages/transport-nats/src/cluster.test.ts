import { create } from "@bufbuild/protobuf";
import { connect, headers, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  ClientNotConnectedError,
  ClientReplacedError,
  CommandCancelledError,
  CommandFailedError,
  CommandTimeoutError,
  createCommandClient,
  InvalidArgumentError,
  NodeLostError,
  QueueFullError,
  RouterUnavailableError,
} from "@streamcmd/core";
import { BotStatus, botCommands, botService, CommandResultSchema, type CommandResult, type ConnectResponse } from "@streamcmd/demo-protocol";
import { createHarness, delayed, demoBotProtocol, failWith, neverReply, replyWith, type Behaviour, type Harness } from "@streamcmd/testing";
import { createNatsNode, type NatsNode } from "./index.js";
import { startNatsServer, type NatsServer } from "@streamcmd/testing";

type BotHarness = Harness<unknown, unknown, ConnectResponse, CommandResult>;
let server: NatsServer;
beforeAll(async () => {
  server = await startNatsServer();
});
afterAll(() => server.stop());

const closers: (() => unknown)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

/** A NATS connection that retries for ever (a restarted NATS comes back). */
async function natsConnection(): Promise<NatsConnection> {
  const nc = await connect({ servers: server.url, reconnectTimeWait: 50, maxReconnectAttempts: -1 });
  closers.push(() => nc.close());
  return nc;
}

/** A server node: its own hub (fake demo bots, in memory) and its own NATS connection. */
async function node(nodeId: string, options: { nodeLostAfterMs?: number; drainGraceMs?: number; maxConnectWaiters?: number } = {}): Promise<{ node: NatsNode; hub: BotHarness; nats: NatsConnection }> {
  const hub = createHarness(demoBotProtocol) as unknown as BotHarness;
  closers.push(() => hub.close());
  const nats = await natsConnection();
  const created = await createNatsNode({ nats, services: [hub.service as never], nodeId, heartbeatIntervalMs: 100, nodeLostAfterMs: options.nodeLostAfterMs ?? 600, ...options });
  closers.push(() => created.close());
  return { node: created, hub, nats };
}

/** A reply naming the bot that ran the command. */
const answerAs = (botId: string): Behaviour<ConnectResponse, CommandResult> =>
  replyWith(() => create(CommandResultSchema, { reply: { case: "start", value: { status: BotStatus.RUNNING, detail: botId } } }));
const start = (reason = "go") => botCommands.start({ reason });

describe("a cluster on NATS: any caller reaches any client", () => {
  it("a caller on A reaches bots on B and C, and its own bots in memory", async () => {
    const [a, b, c] = await Promise.all([node("A"), node("B"), node("C")]);
    await a.hub.connect("bot-a", { behaviour: answerAs("bot-a") });
    await b.hub.connect("bot-b", { behaviour: answerAs("bot-b") });
    await c.hub.connect("bot-c", { behaviour: answerAs("bot-c") });
    for (const id of ["bot-a", "bot-b", "bot-c"]) {
      const client = createCommandClient(botService, { clientId: id, router: a.node.router });
      const reply = await client.send(start());
      expect(reply.reply).toMatchObject({ case: "start", value: { detail: id } });
    }
    // 100 at once to a bot on C, from A.
    const client = createCommandClient(botService, { clientId: "bot-c", router: a.node.router });
    const replies = await Promise.all(Array.from({ length: 100 }, (_, i) => client.send(start(`r${i}`))));
    expect(replies.every((r) => r.reply.case === "start")).toBe(true);
    expect(c.hub.service.stats()).toMatchObject({ repliesOk: 101, pendingCommands: 0 });
    expect(a.hub.service.stats().commandsSent).toBe(1); // its own bot only: the rest went out over NATS
  });

  it("an unknown client fails fast with ClientNotConnectedError (NATS: no responders)", async () => {
    const [a] = await Promise.all([node("A"), node("B")]);
    const client = createCommandClient(botService, { clientId: "ghost", router: a.node.router });
    await client.send(start()).catch(() => {}); // warm
    const began = performance.now();
    const error = await client.send(start(), { timeoutMs: 30_000 }).catch((e: unknown) => e);
    const tookMs = performance.now() - began;
    expect(error).toBeInstanceOf(ClientNotConnectedError);
    expect(error).toMatchObject({ clientId: "ghost", service: botService.name });
    expect(tookMs).toBeLessThan(1_000); // in practice a few ms; far from the 30 s timeout
  });

  it("errors come back as the same classes: a failure with its code, a timeout, a cancel that reaches the bot's node", async () => {
    const [a, b] = await Promise.all([node("A"), node("B")]);
    await b.hub.connect("bot-busy", { behaviour: failWith("busy", "try later") });
    const silentBot = await b.hub.connect("bot-silent", { behaviour: neverReply() });
    const busy = createCommandClient(botService, { clientId: "bot-busy", router: a.node.router });
    const failed = await busy.send(start()).catch((e: unknown) => e);
    expect(failed).toBeInstanceOf(CommandFailedError);
    expect(failed).toMatchObject({ clientErrorCode: "busy", clientErrorMessage: "try later", clientId: "bot-busy" });

    const silent = createCommandClient(botService, { clientId: "bot-silent", router: a.node.router });
    const timedOut = await silent.send(start(), { timeoutMs: 200 }).catch((e: unknown) => e);
    expect(timedOut).toBeInstanceOf(CommandTimeoutError);
    await expect.poll(() => b.hub.service.stats().pendingCommands).toBe(0);

    const controller = new AbortController();
    const cancelled = silent.send(start(), { timeoutMs: 60_000, signal: controller.signal }).catch((e: unknown) => e);
    await expect.poll(() => b.hub.service.stats().pendingCommands).toBe(1);
    controller.abort(new Error("changed my mind"));
    expect(await cancelled).toBeInstanceOf(CommandCancelledError);
    await expect.poll(() => b.hub.service.stats()).toMatchObject({ pendingCommands: 0, cancellations: 1 });
    // The bot itself is told to stop both: the one that timed out and the one its caller on A cancelled.
    const cancels = () => (silentBot.stream.written as ConnectResponse[]).filter((m) => m.command.case === "cancel").map((m) => m.commandId);
    await expect.poll(cancels).toEqual(silentBot.received.map((r) => r.commandId));
    expect(cancels()).toHaveLength(2);
  });

  it("waitForConnectMs works cluster-wide: a bot that connects to any node within the wait gets the command", async () => {
    const [a, , c] = await Promise.all([node("A"), node("B"), node("C")]);
    const client = createCommandClient(botService, { clientId: "late-bot", router: a.node.router });
    const reply = client.send(start(), { waitForConnectMs: 5_000 });
    await new Promise((resolve) => setTimeout(resolve, 200));
    await c.hub.connect("late-bot", { behaviour: answerAs("late-bot on C") });
    expect((await reply).reply).toMatchObject({ value: { detail: "late-bot on C" } });
    const never = await createCommandClient(botService, { clientId: "never-bot", router: a.node.router })
      .send(start(), { waitForConnectMs: 300 })
      .catch((e: unknown) => e);
    expect(never).toBeInstanceOf(ClientNotConnectedError);
  });

  it("calls waiting for a client share one subscription to its announcement, and are capped (maxConnectWaiters)", async () => {
    const [a, , c] = await Promise.all([node("A", { maxConnectWaiters: 3 }), node("B"), node("C")]);
    const client = createCommandClient(botService, { clientId: "awaited", router: a.node.router });
    const waiting = Array.from({ length: 3 }, (_, i) => client.send(start(`w${i}`), { waitForConnectMs: 10_000 }));
    await new Promise((resolve) => setTimeout(resolve, 100));
    const refused = await client.send(start("one too many"), { waitForConnectMs: 10_000 }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(QueueFullError);
    await c.hub.connect("awaited", { behaviour: answerAs("awaited") });
    for (const reply of await Promise.all(waiting)) expect(reply.reply).toMatchObject({ value: { detail: "awaited" } });
    // Room again once they are done.
    expect((await client.send(start("again"), { waitForConnectMs: 1_000 })).reply).toMatchObject({ value: { detail: "awaited" } });
  });

  it("the same id connecting to a second node: the older connection is closed as replaced, commands go to the newer", async () => {
    const [a, b, c] = await Promise.all([node("A"), node("B"), node("C")]);
    const first = await b.hub.connect("twin", { behaviour: answerAs("twin on B") });
    await new Promise((resolve) => setTimeout(resolve, 20));
    await c.hub.connect("twin", { behaviour: answerAs("twin on C") });
    expect((await first.stream.ended).error).toBeInstanceOf(ClientReplacedError);
    expect(b.hub.service.isConnected("twin")).toBe(false);
    const client = createCommandClient(botService, { clientId: "twin", router: a.node.router });
    for (let i = 0; i < 5; i++) expect((await client.send(start())).reply).toMatchObject({ value: { detail: "twin on C" } });
  });

  it("a call right after a client's hello is admitted never gets 'no responders': the node subscribes before the welcome", async () => {
    const [a, b] = await Promise.all([node("A"), node("B")]);
    for (let i = 0; i < 50; i++) {
      const bot = await b.hub.connect(`fresh-${i}`, { behaviour: answerAs(`fresh-${i}`) });
      expect(bot.stream.written[0]).toMatchObject({ command: { case: "welcome" } });
      const reply = await createCommandClient(botService, { clientId: `fresh-${i}`, router: a.node.router }).send(start());
      expect(reply.reply).toMatchObject({ value: { detail: `fresh-${i}` } });
    }
  });

  it("while the same id moves from B to C with commands flowing, no command runs twice and every caller gets one outcome", async () => {
    const [a, b, c] = await Promise.all([node("A"), node("B"), node("C")]);
    const onB = await b.hub.connect("mover", { behaviour: delayed(5, answerAs("on B")) });
    const client = createCommandClient(botService, { clientId: "mover", router: a.node.router });
    const outcomes = Array.from({ length: 200 }, (_, i) => client.send(start(`c${i}`), { timeoutMs: 10_000 }).then(
      (reply) => (reply.reply.case === "start" ? reply.reply.value.detail : "?"),
      (error: unknown) => (error as Error).name,
    ));
    const onC = await c.hub.connect("mover", { behaviour: answerAs("on C") });
    const results = await Promise.all(outcomes);
    const ran = [...onB.received, ...onC.received].map((r) => (r.command.command.case === "start" ? r.command.command.value.reason : ""));
    expect(new Set(ran).size).toBe(ran.length); // none twice
    // Each outcome is a reply or a typed error: a command cut off on B fails as disconnected, never silently.
    for (const result of results) expect(["on B", "on C", "ClientDisconnectedError", "ClientNotConnectedError"]).toContain(result);
    expect(results.filter((r) => r === "on B" || r === "on C").length).toBeLessThanOrEqual(ran.length);
    expect((await client.send(start("after"))).reply).toMatchObject({ value: { detail: "on C" } });
  });

  it("a call cancelled before the holder acknowledged it is dropped there too", async () => {
    const [a, b] = await Promise.all([node("A"), node("B")]);
    await b.hub.connect("bot-b", { behaviour: neverReply() });
    const client = createCommandClient(botService, { clientId: "bot-b", router: a.node.router });
    const calls = Array.from({ length: 20 }, () => {
      const controller = new AbortController();
      const call = client.send(start(), { timeoutMs: 60_000, signal: controller.signal }).catch((e: unknown) => e);
      setImmediate(() => controller.abort());
      return call;
    });
    for (const error of await Promise.all(calls)) expect(error).toBeInstanceOf(CommandCancelledError);
    await expect.poll(() => b.hub.service.stats().pendingCommands).toBe(0);
  });

  it("presence across the cluster: every node's clients with their node, and isConnected anywhere", async () => {
    const [a, b, c] = await Promise.all([node("A"), node("B"), node("C")]);
    await b.hub.connect("bot-b1");
    await b.hub.connect("bot-b2");
    await c.hub.connect("bot-c1", { metadata: { version: "7" } });
    await expect.poll(() => a.node.nodes().size).toBe(3);
    const listed = await a.node.listClients(botService);
    expect(listed.map((client) => [client.clientId, client.nodeId]).sort()).toEqual([["bot-b1", "B"], ["bot-b2", "B"], ["bot-c1", "C"]]);
    expect(listed.find((client) => client.clientId === "bot-c1")?.metadata).toEqual({ version: "7" });
    expect(await a.node.isConnected(botService, "bot-c1")).toBe(true);
    expect(await a.node.isConnected(botService, "ghost")).toBe(false);
  });

  it("a broadcast reaches every client on every node: one outcome each, with its node, failures typed", async () => {
    const [a, b, c] = await Promise.all([node("A"), node("B"), node("C")]);
    await a.hub.connect("bot-a", { behaviour: answerAs("bot-a") });
    await b.hub.connect("bot-b1", { behaviour: answerAs("bot-b1") });
    await b.hub.connect("bot-b2", { behaviour: answerAs("bot-b2") });
    await c.hub.connect("bot-c", { behaviour: failWith("busy", "not now") });
    await expect.poll(() => a.node.nodes().size).toBe(3);
    const outcomes = await a.node.broadcast(botService, start("everyone"), { timeoutMs: 2_000 });
    const byId = Object.fromEntries(outcomes.map((o) => [o.clientId, o]));
    expect(Object.keys(byId).sort()).toEqual(["bot-a", "bot-b1", "bot-b2", "bot-c"]);
    expect(byId["bot-b2"]).toMatchObject({ ok: true, nodeId: "B", reply: { reply: { case: "start", value: { detail: "bot-b2" } } } });
    expect(byId["bot-a"]).toMatchObject({ ok: true, nodeId: "A" });
    expect(byId["bot-c"]).toMatchObject({ ok: false, nodeId: "C" });
    expect((byId["bot-c"] as { error: unknown }).error).toBeInstanceOf(CommandFailedError);
  });

  it("an idempotency key travels: a retry from another node gets the first outcome, the bot runs it once", async () => {
    const [a, b, c] = await Promise.all([node("A"), node("B"), node("C")]);
    const bot = await c.hub.connect("bot-1", { behaviour: delayed(100, answerAs("bot-1")) });
    const fromA = createCommandClient(botService, { clientId: "bot-1", router: a.node.router });
    const fromB = createCommandClient(botService, { clientId: "bot-1", router: b.node.router });
    const [one, two] = await Promise.all([fromA.send(start(), { idempotencyKey: "order-42" }), fromB.send(start(), { idempotencyKey: "order-42" })]);
    expect(one).toEqual(two);
    expect(bot.received).toHaveLength(1);
  });

  it("a node cut off from NATS with commands on it: they fail with NodeLostError within the loss window, not at their deadline", async () => {
    const [a, b] = await Promise.all([node("A"), node("B", { nodeLostAfterMs: 600 })]);
    await b.hub.connect("bot-b", { behaviour: neverReply() });
    const client = createCommandClient(botService, { clientId: "bot-b", router: a.node.router });
    const calls = Array.from({ length: 64 }, () => client.send(start(), { timeoutMs: 60_000 }).catch((e: unknown) => e));
    await expect.poll(() => b.hub.service.stats().pendingCommands).toBe(64);
    const cut = performance.now();
    await b.nats.close(); // no goodbye, no more beats: as if partitioned (or hung)
    const errors = await Promise.all(calls);
    expect(performance.now() - cut).toBeLessThan(3_000);
    for (const error of errors) expect(error).toBeInstanceOf(NodeLostError);
    // New calls find nobody holding the bot: fast and typed.
    expect(await client.send(start()).catch((e: unknown) => e)).toBeInstanceOf(ClientNotConnectedError);
  });

  it("a node that leaves gracefully answers what it had taken: no reply is lost", async () => {
    const [a, b] = await Promise.all([node("A"), node("B")]);
    await b.hub.connect("bot-b", { behaviour: delayed(200, answerAs("bot-b")) });
    const client = createCommandClient(botService, { clientId: "bot-b", router: a.node.router });
    const calls = Array.from({ length: 20 }, () => client.send(start()));
    await expect.poll(() => b.hub.service.stats().pendingCommands).toBe(20);
    await b.node.close();
    const replies = await Promise.all(calls);
    expect(replies.every((reply) => reply.reply.case === "start")).toBe(true);
    expect(await client.send(start()).catch((e: unknown) => e)).toBeInstanceOf(ClientNotConnectedError);
  });

  it("a malformed request on a client's subject is answered with InvalidArgumentError; the bot keeps working", async () => {
    const [a, b] = await Promise.all([node("A"), node("B")]);
    await b.hub.connect("bot-b", { behaviour: answerAs("bot-b") });
    const answers = await Promise.all([
      a.nats.request("streamcmd.c.demo~2ebot~2ev1~2eBotService.bot-b", new Uint8Array([1, 2, 3]), { timeout: 2_000 }),
      a.nats.request("streamcmd.c.demo~2ebot~2ev1~2eBotService.bot-b", new Uint8Array([0xff, 0xff]), { timeout: 2_000, headers: withKind("execute") }),
    ]);
    // The first is refused before it is taken; the second is taken (then refused: its bytes are no command).
    expect(answers.map((msg) => msg.headers?.get("Sc-Outcome"))).toEqual(["error", "error"]);
    expect(answers[1]!.json<{ info: { code: string } }>().info.code).toBe("invalid_argument");
    expect(answers[0]!.json<{ info: { code: string } }>().info.code).toBe("invalid_argument");
    const client = createCommandClient(botService, { clientId: "bot-b", router: a.node.router });
    expect((await client.send(start())).reply).toMatchObject({ value: { detail: "bot-b" } });
    expect(b.hub.service.stats().repliesOk).toBe(1);
  });

  it("refuses a command of the wrong type before anything is sent", async () => {
    const [a] = await Promise.all([node("A"), node("B")]);
    const wrong = { $typeName: "demo.bot.v1.Something" } as unknown as ConnectResponse;
    const error = await a.node.router.execute(botService, { clientId: "x", command: wrong, timeoutMs: 1_000, waitForConnectMs: 0, queueTimeoutMs: 0 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidArgumentError);
  });
});

describe("NATS itself restarts", () => {
  it("calls during the outage fail fast and typed; once NATS is back the nodes resubscribe and calls succeed", async () => {
    const [a, b] = await Promise.all([node("A", { nodeLostAfterMs: 500 }), node("B", { nodeLostAfterMs: 500 })]);
    await b.hub.connect("bot-b", { behaviour: answerAs("bot-b") });
    const client = createCommandClient(botService, { clientId: "bot-b", router: a.node.router });
    expect((await client.send(start())).reply.case).toBe("start");
    const port = server.port;
    await server.stop();
    const began = performance.now();
    const during = await client.send(start(), { timeoutMs: 30_000 }).catch((e: unknown) => e);
    expect(during).toBeInstanceOf(RouterUnavailableError);
    expect(performance.now() - began).toBeLessThan(3_000);
    server = await startNatsServer({ port });
    await expect.poll(async () => (await client.send(start()).catch((e: unknown) => e)) as unknown, { timeout: 10_000, interval: 100 }).toMatchObject({ reply: { case: "start" } });
  });
});

function withKind(kind: string) {
  const h = headers();
  h.set("Sc-Kind", kind);
  return h;
}
