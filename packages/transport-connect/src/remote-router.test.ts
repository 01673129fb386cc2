import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { anyPack, anyUnpack } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { afterEach, describe, expect, it } from "vitest";
import {
  ClientNotConnectedError,
  CommandCancelledError,
  CommandTimeoutError,
  QueueFullError,
  createCommandClient,
  createStreamingService,
  InvalidArgumentError,
  RouterUnavailableError,
  ServiceNotFoundError,
  UnauthenticatedError,
} from "@streamcmd/core";
import { maxDurationMs } from "@streamcmd/core/internal";
import { createHarness, demoBotProtocol, neverReply, testService } from "@streamcmd/testing";
import * as demoBot from "@streamcmd/demo-protocol";
import { botService, createBotClient } from "@streamcmd/demo-protocol";
import { createCommandRouter, createRemoteRouter, CommandRouterService, startServer, type ConnectRemoteRouter } from "./index.js";
import type { ExecuteStreamRequestSchema } from "./gen/streamcmd/v1/command_router_pb.js";

const run = promisify(execFile);
import { startCommand, testScope, type BotServer } from "./test-support/bot-server.js";

const scope = testScope();
afterEach(() => scope.closeAll());
const agentOn = scope.agent;

async function setup(options: Parameters<typeof scope.server>[0] = {}): Promise<{ bots: BotServer; router: ConnectRemoteRouter }> {
  const bots = await scope.server(options);
  const router = createRemoteRouter({ baseUrl: bots.url });
  scope.defer(() => router.close());
  return { bots, router };
}

describe("remote router over real HTTP/2", () => {
  it("1,000 cross-process sends from one client use one HTTP/2 connection", async () => {
    const { bots, router } = await setup();
    agentOn(bots.url, "bot-1");
    await bots.hub.waitForClient("bot-1", { timeoutMs: 5_000 });
    const sessionsBefore = bots.server.sessionsAccepted; // the agent's own connection
    const client = createCommandClient(botService, { clientId: "bot-1", router });
    for (let batch = 0; batch < 10; batch++) {
      const replies = await Promise.all(Array.from({ length: 100 }, (_, i) => client.send(startCommand(`${batch}-${i}`))));
      expect(replies.every((r) => r.reply.case === "start")).toBe(true);
    }
    expect(bots.server.sessionsAccepted - sessionsBefore).toBe(1);
    expect(bots.hub.stats().repliesOk).toBe(1_000);
  });

  it("a caller's abort cancels the call on the server too", async () => {
    const { bots, router } = await setup();
    agentOn(bots.url, "bot-1", { onCommand: () => new Promise(() => {}) });
    await bots.hub.waitForClient("bot-1", { timeoutMs: 5_000 });
    const client = createCommandClient(botService, { clientId: "bot-1", router });
    const controller = new AbortController();
    const outcome = client.send(startCommand("abort me"), { signal: controller.signal, timeoutMs: 30_000 }).catch((e: unknown) => e);
    await expect.poll(() => bots.hub.stats().pendingCommands).toBe(1);
    controller.abort();
    expect(await outcome).toBeInstanceOf(CommandCancelledError);
    await expect.poll(() => bots.hub.stats()).toMatchObject({ pendingCommands: 0, cancellations: 1 });
  });

  it("lists connected clients and posts fire-and-forget commands", async () => {
    const { bots, router } = await setup();
    const seen: string[] = [];
    agentOn(bots.url, "bot-1", {
      onCommand: (command) => {
        seen.push(command.commandId);
        return create(demoBot.CommandResultSchema, { reply: { case: "start", value: {} } });
      },
    });
    await bots.hub.waitForClient("bot-1", { timeoutMs: 5_000 });
    const listed = await router.listClients(botService);
    expect(listed).toMatchObject([{ clientId: "bot-1", metadata: { version: "test" }, pendingCommands: 0 }]);
    expect(listed[0]!.connectedAt).toBeInstanceOf(Date);
    const commandId = await router.post(botService, { clientId: "bot-1", command: startCommand("posted"), queueTimeoutMs: 0, waitForConnectMs: 0 });
    await expect.poll(() => seen).toContain(commandId);
    await expect(router.listClients({ ...botService, name: "nope" })).rejects.toBeInstanceOf(ServiceNotFoundError);
  });

  it("the server refuses bad requests with InvalidArgumentError, and keeps serving", async () => {
    const { bots, router } = await setup({ routerOptions: { maxCommandBytes: 512 } });
    agentOn(bots.url, "bot-1");
    await bots.hub.waitForClient("bot-1", { timeoutMs: 5_000 });
    // A raw client, so nothing is checked before the server sees it.
    const raw = createClient(CommandRouterService, createGrpcTransport({ baseUrl: bots.url }));
    const command = anyPack(demoBot.ConnectResponseSchema, startCommand("x"));
    const refusal = (request: Parameters<typeof raw.execute>[0]) =>
      raw.execute(request).then(
        () => "accepted",
        (e: unknown) => `${Code[ConnectError.from(e).code]}: ${ConnectError.from(e).rawMessage}`,
      );
    expect(await refusal({ service: botService.name, clientId: "", command })).toBe("InvalidArgument: client_id is required");
    expect(await refusal({ service: "", clientId: "bot-1", command })).toBe("InvalidArgument: service is required");
    expect(await refusal({ service: botService.name, clientId: "bot-1" })).toBe("InvalidArgument: command is required");
    expect(await refusal({ service: botService.name, clientId: "bot-1", command: anyPack(demoBot.HelloSchema, create(demoBot.HelloSchema, {})) })).toBe(
      'InvalidArgument: command must be a demo.bot.v1.ConnectResponse, got "type.googleapis.com/demo.bot.v1.Hello"',
    );
    const huge = create(demoBot.ConnectResponseSchema, { command: { case: "configUpdate", value: { config: { blob: "x".repeat(2_000) } } } });
    expect(await refusal({ service: botService.name, clientId: "bot-1", command: anyPack(demoBot.ConnectResponseSchema, huge) })).toMatch(/over the limit of 512/);
    expect(bots.hub.stats().commandsSent).toBe(0);
    const request = { clientId: "bot-1", timeoutMs: 1_000, waitForConnectMs: 0, queueTimeoutMs: 0 };
    expect(await router.execute(botService, { ...request, command: startCommand("still fine") })).toMatchObject({ reply: { case: "start" } });
  });

  it("the caller refuses a command of the wrong type before anything is sent", async () => {
    const { bots, router } = await setup();
    agentOn(bots.url, "bot-1");
    await bots.hub.waitForClient("bot-1", { timeoutMs: 5_000 });
    const request = { clientId: "bot-1", timeoutMs: 1_000, waitForConnectMs: 0, queueTimeoutMs: 0 };
    const notAMessage = { not: "a message" } as unknown as demoBot.ConnectResponse;
    await expect(router.execute(botService, { ...request, command: notAMessage })).rejects.toThrow(/must be a demo.bot.v1.ConnectResponse, got something that is not a protobuf message/);
    const hello = create(demoBot.HelloSchema, {}) as unknown as demoBot.ConnectResponse;
    await expect(router.execute(botService, { ...request, command: hello })).rejects.toThrow(/must be a demo.bot.v1.ConnectResponse, got a demo.bot.v1.Hello/);
    expect(bots.hub.stats().commandsSent).toBe(0);
  });

  it("a service without protobuf schemas is refused when the router is made and before a remote call is sent", async () => {
    const plain = createStreamingService(testService);
    scope.defer(() => plain.close());
    expect(() => createCommandRouter({ services: [plain] })).toThrow(/"test" has no protobuf schemas, so it cannot be reached across processes/);
    const { router } = await setup();
    const error = await router
      .execute(testService, { clientId: "a", command: { op: "x" }, timeoutMs: 100, waitForConnectMs: 0, queueTimeoutMs: 0 })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect((error as Error).message).toMatch(/define it with defineStreamingService\(\{ name, binding, schemas/);
  });

  it("refuses two services of one name", async () => {
    const bots = await scope.server();
    expect(() => createCommandRouter({ services: [bots.hub, bots.hub] })).toThrow(`two services named "${botService.name}"`);
  });

  it("a router that cannot be reached fails with RouterUnavailableError", async () => {
    const server = await startServer({ routes: () => {} });
    const url = server.url;
    await server.close({ graceMs: 0 });
    const router = createRemoteRouter({ baseUrl: url, http2: { connectTimeoutMs: 2_000 } });
    scope.defer(() => router.close());
    const client = createCommandClient(botService, { clientId: "bot-1", router });
    const error = await client.send(startCommand("x")).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RouterUnavailableError);
    expect((error as Error).message).toMatch(/command router is unavailable/);
  });

  it("waits for a client to connect when asked, across the network", async () => {
    const { bots, router } = await setup();
    const client = createBotClient({ clientId: "late", router, waitForConnectMs: 5_000 });
    const reply = client.start({ reason: "when you arrive" });
    setTimeout(() => agentOn(bots.url, "late"), 50);
    expect((await reply).detail).toBe("late:start:when you arrive");
    const impatient = createCommandClient(botService, { clientId: "never", router });
    await expect(impatient.send(startCommand("x"))).rejects.toBeInstanceOf(ClientNotConnectedError);
  });

  it("post waits for a client to connect when asked, across the network", async () => {
    const { bots, router } = await setup();
    const posting = router.post(botService, { clientId: "late", command: startCommand("hi"), queueTimeoutMs: 0, waitForConnectMs: 5_000 });
    setTimeout(() => agentOn(bots.url, "late"), 50);
    expect(typeof (await posting)).toBe("string");
  });

  it("the longest allowed reply timeout does not overflow the call's deadline", async () => {
    const { bots, router } = await setup();
    agentOn(bots.url, "bot-1");
    await bots.hub.waitForClient("bot-1", { timeoutMs: 5_000 });
    const client = createCommandClient(botService, { clientId: "bot-1", router });
    expect((await client.send(startCommand("patient"), { timeoutMs: maxDurationMs })).reply.case).toBe("start");
  });

  it("unary mode (executeVia: unary) gives the same replies and the same typed errors", async () => {
    const { bots } = await setup();
    const router = createRemoteRouter({ baseUrl: bots.url, executeVia: "unary" });
    scope.defer(() => router.close());
    agentOn(bots.url, "bot-1");
    await bots.hub.waitForClient("bot-1", { timeoutMs: 5_000 });
    const client = createBotClient({ clientId: "bot-1", router });
    expect((await client.start({ reason: "unary" })).detail).toBe("bot-1:start:unary");
    const ghost = createCommandClient(botService, { clientId: "ghost", router });
    await expect(ghost.send(startCommand("x"))).rejects.toBeInstanceOf(ClientNotConnectedError);
    expect(() => createRemoteRouter({ baseUrl: bots.url, executeVia: "carrier-pigeon" as never })).toThrow(/executeVia must be "stream" or "unary"/);
  });

  it("the command stream survives a server restart: calls in flight fail, the next call reopens it", async () => {
    const first = await scope.server();
    const port = first.server.port;
    const router = createRemoteRouter({ baseUrl: first.url });
    scope.defer(() => router.close());
    agentOn(first.url, "bot-1", { onCommand: () => new Promise(() => {}) });
    await first.hub.waitForClient("bot-1", { timeoutMs: 5_000 });
    const client = createCommandClient(botService, { clientId: "bot-1", router });
    const inFlight = client.send(startCommand("lost"), { timeoutMs: 30_000 }).catch((e: unknown) => e);
    await expect.poll(() => first.hub.stats().pendingCommands).toBe(1);
    await first.server.close({ graceMs: 0 });
    await first.hub.close();
    expect(await inFlight).toBeInstanceOf(RouterUnavailableError);
    const second = await scope.server({ port });
    agentOn(second.url, "bot-2");
    await second.hub.waitForClient("bot-2", { timeoutMs: 5_000 });
    const again = createCommandClient(botService, { clientId: "bot-2", router });
    expect((await again.send(startCommand("reopened"))).reply.case).toBe("start");
  });

  it("many large commands in flight travel in batches that stay under the server's message limit", async () => {
    const { bots, router } = await setup();
    agentOn(bots.url, "bot-1", { maxConcurrentCommands: 400 });
    await bots.hub.waitForClient("bot-1", { timeoutMs: 5_000 });
    // 300 commands of ~20 KB at once: 6 MB, far over one message of 1 MiB if batched by count alone.
    const big = create(demoBot.ConnectResponseSchema, { command: { case: "configUpdate", value: { config: { blob: "x".repeat(20_000) } } } });
    const client = createCommandClient(botService, { clientId: "bot-1", router });
    const replies = await Promise.all(Array.from({ length: 300 }, () => client.send(big)));
    expect(replies.every((reply) => reply.reply.case === "configUpdate")).toBe(true);
  });

  it("refuses calls beyond maxCallsPerStream with QueueFullError, and serves the rest", async () => {
    const { bots, router } = await setup({ routerOptions: { maxCallsPerStream: 2 } });
    agentOn(bots.url, "bot-1", { onCommand: () => new Promise(() => {}) });
    await bots.hub.waitForClient("bot-1", { timeoutMs: 5_000 });
    const client = createCommandClient(botService, { clientId: "bot-1", router });
    const held = [client.send(startCommand("1"), { timeoutMs: 60_000 }).catch(() => {}), client.send(startCommand("2"), { timeoutMs: 60_000 }).catch(() => {})];
    await expect.poll(() => bots.hub.stats().pendingCommands).toBe(2);
    await expect(client.send(startCommand("3"))).rejects.toBeInstanceOf(QueueFullError);
    void held;
  });

  it("a caller-side deadline gives up with CommandTimeoutError and cancels the call on the server", async () => {
    const { bots } = await setup();
    // No margin: the caller's own deadline fires together with the bot's silence.
    const router = createRemoteRouter({ baseUrl: bots.url, deadlineMarginMs: 0 });
    scope.defer(() => router.close());
    agentOn(bots.url, "bot-1", { onCommand: () => new Promise(() => {}) });
    await bots.hub.waitForClient("bot-1", { timeoutMs: 5_000 });
    const error = await router
      .execute(botService, { clientId: "bot-1", command: startCommand("x"), timeoutMs: 100, waitForConnectMs: 0, queueTimeoutMs: 0 })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CommandTimeoutError);
    await expect.poll(() => bots.hub.stats().pendingCommands).toBe(0);
  });

  it("ExecuteStream on the wire: several calls per message, answers matched by call id, bad calls refused", async () => {
    const { bots } = await setup();
    agentOn(bots.url, "bot-1");
    await bots.hub.waitForClient("bot-1", { timeoutMs: 5_000 });
    const client = createClient(CommandRouterService, createGrpcTransport({ baseUrl: bots.url }));
    const execute = (reason: string) => ({
      case: "execute" as const,
      value: { service: botService.name, clientId: "bot-1", command: anyPack(demoBot.ConnectResponseSchema, startCommand(reason)), timeoutMs: 5_000 },
    });
    const collect = async (requests: AsyncIterable<MessageInitShape<typeof ExecuteStreamRequestSchema>>) => {
      const results = new Map<bigint, string>();
      try {
        for await (const response of client.executeStream(requests)) {
          for (const result of response.results) {
            if (result.outcome.case !== "reply") {
              results.set(result.callId, `${result.outcome.value?.code}: ${result.message}`);
              continue;
            }
            const reply = anyUnpack(result.outcome.value.reply!, demoBot.CommandResultSchema)!.reply;
            results.set(result.callId, reply.case === "start" ? reply.value.detail : `a ${reply.case ?? "missing"} reply`);
          }
        }
        return { results };
      } catch (error) {
        return { results, error: error as ConnectError };
      }
    };
    const first = await collect(
      (async function* () {
        // 4 is cancelled in the same message: never started, never answered.
        yield {
          calls: [
            { callId: 1n, kind: execute("one") },
            { callId: 2n, kind: execute("two") },
            { callId: 3n, kind: { case: undefined } },
            { callId: 4n, kind: execute("four") },
            { callId: 4n, kind: { case: "cancel" as const, value: {} } },
          ],
        };
      })(),
    );
    expect(first.error).toBeUndefined();
    expect(first.results).toEqual(
      new Map([
        [1n, "bot-1:start:one"],
        [2n, "bot-1:start:two"],
        [3n, "invalid_argument: a stream call must either execute or cancel"],
      ]),
    );
    // Reusing an id still in flight would answer the wrong call: the whole stream is refused.
    agentOn(bots.url, "slow", { onCommand: () => new Promise(() => {}) });
    await bots.hub.waitForClient("slow", { timeoutMs: 5_000 });
    const slow = { ...execute("x"), value: { ...execute("x").value, clientId: "slow" } };
    const second = await collect(
      (async function* () {
        yield { calls: [{ callId: 7n, kind: slow }] };
        await expect.poll(() => bots.hub.client("slow")?.pendingCommands).toBe(1); // call 7 is in flight
        yield { calls: [{ callId: 7n, kind: slow }] };
      })(),
    );
    expect(second.error?.code).toBe(Code.InvalidArgument);
    expect(second.error?.rawMessage).toMatch(/call id 7 is already in flight/);
    await expect.poll(() => bots.hub.stats().pendingCommands).toBe(0);
  });

  it("falls back to unary Execute against a server without ExecuteStream", async () => {
    const bots = await scope.server();
    const full = createCommandRouter({ services: [bots.hub], allowUnauthenticated: true });
    const older = await startServer({
      routes: (r) => r.service(CommandRouterService, { execute: full.execute, post: full.post, listClients: full.listClients }),
    });
    scope.defer(() => older.close({ graceMs: 0 }));
    const router = createRemoteRouter({ baseUrl: older.url });
    scope.defer(() => router.close());
    agentOn(bots.url, "bot-1");
    await bots.hub.waitForClient("bot-1", { timeoutMs: 5_000 });
    const client = createBotClient({ clientId: "bot-1", router });
    expect((await Promise.all([client.start({ reason: "a" }), client.start({ reason: "b" })])).map((r) => r.detail)).toEqual(["bot-1:start:a", "bot-1:start:b"]);
    expect((await client.start({ reason: "c" })).detail).toBe("bot-1:start:c");
  });

  it("a stream-level refusal keeps its class (unauthenticated), unlike a broken stream", async () => {
    const bots = await scope.server();
    const full = createCommandRouter({ services: [bots.hub], allowUnauthenticated: true });
    const guarded = await startServer({
      routes: (r) =>
        r.service(CommandRouterService, {
          ...full,
          executeStream: () => {
            throw new ConnectError("no token", Code.Unauthenticated);
          },
        }),
    });
    scope.defer(() => guarded.close({ graceMs: 0 }));
    const router = createRemoteRouter({ baseUrl: guarded.url });
    scope.defer(() => router.close());
    const error = await router
      .execute(botService, { clientId: "bot-1", command: startCommand("x"), timeoutMs: 1_000, waitForConnectMs: 0, queueTimeoutMs: 0 })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UnauthenticatedError);
  });

  it("an idle command stream closes by itself, so a caller that forgets close() still exits", async () => {
    const { bots } = await setup();
    agentOn(bots.url, "bot-1");
    await bots.hub.waitForClient("bot-1", { timeoutMs: 5_000 });
    const script = `
      import { installRemoteRouter } from "@streamcmd/transport-connect";
      import { createCommandClient } from "@streamcmd/core";
      import { botCommands, botService } from "@streamcmd/demo-protocol";
      installRemoteRouter({ baseUrl: process.env.STREAMCMD_URL });
      const reply = await createCommandClient(botService, { clientId: "bot-1" }).send(botCommands.ping());
      console.log(reply.$typeName); // and no cleanup at all
    `;
    const started = performance.now();
    const { stdout } = await run(process.execPath, ["--input-type=module", "-e", script], {
      cwd: fileURLToPath(new URL(".", import.meta.url)),
      env: { ...process.env, STREAMCMD_URL: bots.url },
      timeout: 20_000,
    });
    expect(stdout.trim()).toBe("demo.bot.v1.CommandResult");
    expect(performance.now() - started).toBeLessThan(15_000);
  });

  it("serves the unary router over HTTP/1.1 with JSON too (curl)", async () => {
    const { bots } = await setup();
    const fakes = createHarness(demoBotProtocol, { service: bots.hub });
    await fakes.connect("bot-json", { behaviour: neverReply() });
    const response = await fetch(`${bots.url}/streamcmd.v1.CommandRouterService/ListClients`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ service: botService.name }),
    });
    expect(response.status).toBe(200);
    const body = (await response.json()) as { clients: { id: string }[] };
    expect(body.clients.map((c) => c.id)).toEqual(["bot-json"]);
    const missing = await fetch(`${bots.url}/streamcmd.v1.CommandRouterService/ListClients`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ service: "nope" }),
    });
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as { code: string }).code).toBe("not_found");
  });
});
