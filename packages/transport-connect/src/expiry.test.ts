import { anyPack, anyUnpack } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { ClientDisconnectedError } from "@streamcmd/core";
import { PushQueue } from "@streamcmd/core/internal";
import * as demoBot from "@streamcmd/demo-protocol";
import { botAgentBinding, botCommands, botService, createBotClient } from "@streamcmd/demo-protocol";
import { afterEach, describe, expect, it, vi } from "vitest";
import { CommandRouterService, type ExecuteStreamRequest } from "./gen/streamcmd/v1/command_router_pb.js";
import { createRemoteRouter } from "./index.js";
import { untilExpiry } from "./stream-handler.js";
import { resultFor, testScope } from "./test-support/bot-server.js";
import { credentials, secureAgent, startSecureServer } from "./test-support/secure-server.js";

const scope = testScope();
afterEach(() => scope.closeAll());

async function server() {
  const started = await startSecureServer();
  scope.defer(() => started.close());
  const bystander = await secureAgent(started.url, "bystander");
  scope.defer(() => bystander.close());
  await bystander.waitUntilConnected();
  return started;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("untilExpiry", () => {
  afterEach(() => void vi.useRealTimers());

  it("aborts at the moment given, also past setTimeout's 24.8-day range", () => {
    vi.useFakeTimers();
    const inForty = untilExpiry(new Date(Date.now() + 40 * 86_400_000));
    vi.advanceTimersByTime(40 * 86_400_000 - 1);
    expect(inForty.signal.aborted).toBe(false);
    vi.advanceTimersByTime(1);
    expect(inForty.signal.aborted).toBe(true);
    expect(untilExpiry(new Date(Date.now() - 1)).signal.aborted).toBe(true);
  });

  it("an invalid date never fires and arms no timer (no 1 ms re-arm loop)", () => {
    vi.useFakeTimers();
    const invalid = untilExpiry(new Date(Number.NaN));
    expect(vi.getTimerCount()).toBe(0);
    vi.advanceTimersByTime(86_400_000);
    expect(invalid.signal.aborted).toBe(false);
  });
});

describe("a stream does not outlive its credential", () => {
  it("a bot's stream ends Unauthenticated when its token expires; other bots keep working", async () => {
    const secure = await server();
    const { ca, botToken } = await credentials();
    const transport = createGrpcTransport({ baseUrl: secure.url, nodeOptions: { ca: ca.cert } });
    const requests = new PushQueue<demoBot.ConnectRequest>();
    requests.tryPush(botAgentBinding.hello({ clientId: "bot-short" }));
    scope.defer(() => requests.close());
    const token = await botToken("bot-short", { expiresInSeconds: 2 });
    const started = performance.now();
    const ended = (async () => {
      try {
        for await (const _ of createClient(demoBot.BotService, transport).connect(requests, { headers: { authorization: `Bearer ${token}` } })) void _;
        return undefined;
      } catch (error) {
        return ConnectError.from(error);
      }
    })();
    await secure.hub.waitForClient("bot-short", { timeoutMs: 5_000 });
    const error = await ended;
    expect(error?.code).toBe(Code.Unauthenticated);
    expect(error?.rawMessage).toMatch(/credential expired/);
    // The token said 2 s (whole seconds): the stream lived at most that long, with a generous bound.
    expect(performance.now() - started).toBeLessThan(10_000);
    expect(secure.hub.clients().map((client) => client.clientId)).toEqual(["bystander"]);
    expect((await secure.hub.send("bystander", botCommands.ping())).reply.case).toBe("ping");
  });

  it("a bot's mutual-TLS stream ends when its client certificate expires", async () => {
    const secure = await startSecureServer({ mtls: { uriPrefix: "spiffe://streamcmd/bots/" } });
    scope.defer(() => secure.close());
    const { ca } = await credentials();
    // The CA back-dates notBefore by a minute: this certificate is valid for about 3 s more.
    const certificate = await ca.issue({ commonName: "short", uris: ["spiffe://streamcmd/bots/bot-cert"], usage: "client", days: 63 / 86_400 });
    const bot = await secureAgent(secure.url, "bot-cert", { tls: { ca: ca.cert, ...certificate }, reconnect: false });
    scope.defer(() => bot.close());
    const reasons: unknown[] = [];
    bot.on("disconnected", ({ error }) => reasons.push(error));
    await bot.waitUntilConnected();
    await expect.poll(() => bot.state, { timeout: 10_000 }).toBe("closed");
    expect(ConnectError.from(reasons[0]).code).toBe(Code.Unauthenticated);
    expect(ConnectError.from(reasons[0]).rawMessage).toMatch(/credential expired/);
  });

  it("an agent whose token source gives fresh tokens reconnects past each expiry and stays commandable", async () => {
    const secure = await server();
    const { botToken } = await credentials();
    const agent = await secureAgent(secure.url, "bot-rotating", { token: () => botToken("bot-rotating", { expiresInSeconds: 1 }) });
    scope.defer(() => agent.close());
    await agent.waitUntilConnected();
    const deadline = Date.now() + 3_000;
    let answered = 0;
    while (Date.now() < deadline) {
      // A ping in flight at the very moment a stream ends for its expiry may fail, as one whose client left.
      const reply = await secure.hub.send("bot-rotating", botCommands.ping(), { waitForConnectMs: 5_000 }).catch((error: unknown) => error);
      if (reply instanceof ClientDisconnectedError) continue;
      expect(reply).toMatchObject({ reply: { case: "ping" } });
      answered++;
      await sleep(100);
    }
    expect(answered).toBeGreaterThan(10);
  });

  it("a caller's ExecuteStream takes no call after the caller's token expired and ends Unauthenticated", async () => {
    const secure = await server();
    const { ca, callerToken } = await credentials();
    const client = createClient(CommandRouterService, createGrpcTransport({ baseUrl: secure.url, nodeOptions: { ca: ca.cert } }));
    const token = await callerToken([`execute:${botService.name}`], "ops", 2);
    const call = (callId: bigint) => ({
      calls: [{ callId, kind: { case: "execute" as const, value: { service: botService.name, clientId: "bystander", command: anyPack(demoBot.ConnectResponseSchema, botCommands.ping()), timeoutMs: 5_000 } } }],
    });
    const requests = new PushQueue<ExecuteStreamRequest | ReturnType<typeof call>>();
    scope.defer(() => requests.close());
    const answered: bigint[] = [];
    requests.tryPush(call(1n));
    const ended = (async () => {
      try {
        for await (const response of client.executeStream(requests, { headers: { authorization: `Bearer ${token}` } })) {
          for (const result of response.results) {
            const reply = result.outcome.case === "reply" ? result.outcome.value.reply : undefined;
            if (reply !== undefined && anyUnpack(reply, demoBot.CommandResultSchema)?.reply.case === "ping") answered.push(result.callId);
          }
        }
        return undefined;
      } catch (error) {
        return ConnectError.from(error);
      }
    })();
    await expect.poll(() => answered).toEqual([1n]);
    await sleep(2_100);
    requests.tryPush(call(2n));
    const error = await ended;
    expect(error?.code).toBe(Code.Unauthenticated);
    expect(error?.rawMessage).toMatch(/credential expired/);
    expect(answered).toEqual([1n]);
  });

  it("a call made while a long one still rides a stream whose token expired goes on a new stream at once", async () => {
    const secure = await server();
    const slow = await secureAgent(secure.url, "slow", { onCommand: async (command) => (await sleep(4_000), resultFor(command, "slow")) });
    scope.defer(() => slow.close());
    await slow.waitUntilConnected();
    const { ca, callerToken } = await credentials();
    const remote = createRemoteRouter({ baseUrl: secure.url, tls: { ca: ca.cert }, token: () => callerToken([`execute:${botService.name}`], "ops", 1) });
    scope.defer(() => remote.close());
    const longCall = createBotClient({ clientId: "slow", router: remote }).ping({}, { timeoutMs: 10_000 });
    await sleep(2_100); // the stream's token has expired; the long call keeps it open
    const started = performance.now();
    const quick = await createBotClient({ clientId: "bystander", router: remote }).ping({}, { timeoutMs: 1_500 });
    expect(quick.version).toBe("bystander:ping");
    expect(performance.now() - started).toBeLessThan(1_500);
    expect((await longCall).version).toBe("slow:ping");
  });

  it("a remote router with rotating caller tokens keeps every call working across expiries", async () => {
    const secure = await server();
    const { ca, callerToken } = await credentials();
    const remote = createRemoteRouter({ baseUrl: secure.url, tls: { ca: ca.cert }, token: () => callerToken([`execute:${botService.name}`], "ops", 1) });
    scope.defer(() => remote.close());
    const client = createBotClient({ clientId: "bystander", router: remote });
    const deadline = Date.now() + 3_000;
    let calls = 0;
    while (Date.now() < deadline) {
      // Several calls in flight at once, so some ride a stream as its token runs out.
      const replies = await Promise.all(Array.from({ length: 5 }, () => client.ping()));
      expect(replies.map((reply) => reply.version)).toEqual(Array(5).fill("bystander:ping"));
      calls += replies.length;
      await sleep(20);
    }
    expect(calls).toBeGreaterThan(20);
  });
});
