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
  InternalError,
  InvalidArgumentError,
  maxDurationMs,
  RouterUnavailableError,
  ServiceNotFoundError,
  UnauthenticatedError,
} from "@streamcmd/core";
import { createHarness, demoBotProtocol, neverReply, testBinding } from "@streamcmd/testing";
import * as demoBot from "@streamcmd/demo-protocol";
import { createCommandRouter, createRemoteRouter, CommandRouterService, startServer, type ConnectRemoteRouter } from "./index.js";
import type { ExecuteStreamRequestSchema } from "./gen/streamcmd/v1/command_router_pb.js";

const run = promisify(execFile);
import { startCommand, testScope, type BotServer } from "./test-support/bot-server.js";

const schemas = [demoBot.ConnectResponseSchema, demoBot.CommandResultSchema];
const scope = testScope();
afterEach(() => scope.closeAll());
const agentOn = scope.agent;

async function setup(options: Parameters<typeof scope.server>[0] = {}): Promise<{ bots: BotServer; router: ConnectRemoteRouter }> {
  const bots = await scope.server(options);
  const router = createRemoteRouter({ baseUrl: bots.url, schemas });
  scope.defer(() => router.close());
  return { bots, router };
}

describe("remote router over real HTTP/2", () => {
  it("1,000 cross-process sends from one client use one HTTP/2 connection", async () => {
    const { bots, router } = await setup();
    agentOn(bots.url, "bot-1");
    await bots.hub.waitForClient("bot-1", { timeoutMs: 5_000 });
    const sessionsBefore = bots.server.sessionsAccepted; // the agent's own connection
    const client = createCommandClient<demoBot.ConnectResponse, demoBot.CommandResult>({ clientId: "bot-1", service: "bots", remote: router });
    for (let batch = 0; batch < 10; batch++) {
      const replies = await Promise.all(Array.from({ length: 100 }, (_, i) => client.send(startCommand(`${batch}-${i}`))));
      expect(replies.every((r) => r.outcome.case === "success")).toBe(true);
    }
    expect(bots.server.sessionsAccepted - sessionsBefore).toBe(1);
    expect(bots.hub.stats().repliesOk).toBe(1_000);
  });

  it("a caller's abort cancels the call on the server too", async () => {
    const { bots, router } = await setup();
    agentOn(bots.url, "bot-1", { onCommand: () => new Promise(() => {}) });
    await bots.hub.waitForClient("bot-1", { timeoutMs: 5_000 });
    const client = createCommandClient<demoBot.ConnectResponse, demoBot.CommandResult>({ clientId: "bot-1", service: "bots", remote: router });
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
        return create(demoBot.CommandResultSchema, { outcome: { case: "success", value: {} } });
      },
    });
    await bots.hub.waitForClient("bot-1", { timeoutMs: 5_000 });
    const listed = await router.listClients("bots");
    expect(listed).toMatchObject([{ clientId: "bot-1", metadata: { version: "test" }, pendingCommands: 0 }]);
    expect(listed[0]!.connectedAt).toBeInstanceOf(Date);
    const commandId = await router.post({ service: "bots", clientId: "bot-1", command: startCommand("posted"), queueTimeoutMs: 0 });
    await expect.poll(() => seen).toContain(commandId);
    await expect(router.listClients("nope")).rejects.toBeInstanceOf(ServiceNotFoundError);
  });

  it("refuses bad requests with InvalidArgumentError and keeps serving", async () => {
    const { bots, router } = await setup({ routerOptions: { maxCommandBytes: 512 } });
    agentOn(bots.url, "bot-1");
    await bots.hub.waitForClient("bot-1", { timeoutMs: 5_000 });
    const request = { service: "bots", clientId: "bot-1", timeoutMs: 1_000, waitForConnectMs: 0, queueTimeoutMs: 0 };
    await expect(router.execute({ ...request, clientId: "" , command: startCommand("x") })).rejects.toThrow(/client_id is required/);
    await expect(router.execute({ ...request, service: "", command: startCommand("x") })).rejects.toThrow(/service is required/);
    const huge = create(demoBot.ConnectResponseSchema, {
      command: { case: "configUpdate", value: { config: { blob: "x".repeat(2_000) } } },
    });
    const error = await router.execute({ ...request, command: huge }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect((error as Error).message).toMatch(/over the limit of 512/);
    // A type the router does not know is refused before anything is sent.
    await expect(router.execute({ ...request, command: { not: "a message" } })).rejects.toThrow(/must be a protobuf message/);
    await expect(router.execute({ ...request, command: create(demoBot.HelloSchema, {}) })).rejects.toThrow(
      /demo.bot.v1.Hello is not among the remote router's schemas/,
    );
    expect(bots.hub.stats().commandsSent).toBe(0);
    expect((await router.execute({ ...request, command: startCommand("still fine") })) as demoBot.CommandResult).toMatchObject({
      outcome: { case: "success" },
    });
  });

  it("says a service without protobuf schemas cannot be reached across processes", async () => {
    const plain = createStreamingService(testBinding, { name: "plain" });
    scope.defer(() => plain.close());
    const server = await startServer({ routes: (r) => r.service(CommandRouterService, createCommandRouter({ services: { plain } })) });
    scope.defer(() => server.close({ graceMs: 0 }));
    const router = createRemoteRouter({ baseUrl: server.url, schemas });
    scope.defer(() => router.close());
    const error = await router
      .execute({ service: "plain", clientId: "a", command: startCommand("x"), timeoutMs: 100, waitForConnectMs: 0, queueTimeoutMs: 0 })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InternalError);
    expect((error as Error).message).toMatch(/has no protobuf schemas/);
  });

  it("a router that cannot be reached fails with RouterUnavailableError", async () => {
    const server = await startServer({ routes: () => {} });
    const url = server.url;
    await server.close({ graceMs: 0 });
    const router = createRemoteRouter({ baseUrl: url, schemas, http2: { connectTimeoutMs: 2_000 } });
    scope.defer(() => router.close());
    const client = createCommandClient<demoBot.ConnectResponse, demoBot.CommandResult>({ clientId: "bot-1", service: "bots", remote: router });
    const error = await client.send(startCommand("x")).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RouterUnavailableError);
    expect((error as Error).message).toMatch(/command router is unavailable/);
  });

  it("waits for a client to connect when asked, across the network", async () => {
    const { bots, router } = await setup();
    const client = createCommandClient<demoBot.ConnectResponse, demoBot.CommandResult>({ clientId: "late", service: "bots", remote: router, config: { waitForConnectMs: 5_000 } });
    const reply = client.send(startCommand("when you arrive"));
    setTimeout(() => agentOn(bots.url, "late"), 50);
    expect((await reply).outcome.case).toBe("success");
    const impatient = createCommandClient<demoBot.ConnectResponse, demoBot.CommandResult>({ clientId: "never", service: "bots", remote: router });
    await expect(impatient.send(startCommand("x"))).rejects.toBeInstanceOf(ClientNotConnectedError);
  });

  it("post waits for a client to connect when asked, across the network", async () => {
    const { bots, router } = await setup();
    const posting = router.post({ service: "bots", clientId: "late", command: startCommand("hi"), queueTimeoutMs: 0, waitForConnectMs: 5_000 });
    setTimeout(() => agentOn(bots.url, "late"), 50);
    expect(typeof (await posting)).toBe("string");
  });

  it("the longest allowed reply timeout does not overflow the call's deadline", async () => {
    const { bots, router } = await setup();
    agentOn(bots.url, "bot-1");
    await bots.hub.waitForClient("bot-1", { timeoutMs: 5_000 });
    const client = createCommandClient<demoBot.ConnectResponse, demoBot.CommandResult>({ clientId: "bot-1", service: "bots", remote: router });
    expect((await client.send(startCommand("patient"), { timeoutMs: maxDurationMs })).outcome.case).toBe("success");
  });

  it("unary mode (executeVia: unary) gives the same replies and the same typed errors", async () => {
    const { bots } = await setup();
    const router = createRemoteRouter({ baseUrl: bots.url, schemas, executeVia: "unary" });
    scope.defer(() => router.close());
    agentOn(bots.url, "bot-1");
    await bots.hub.waitForClient("bot-1", { timeoutMs: 5_000 });
    const client = createCommandClient<demoBot.ConnectResponse, demoBot.CommandResult>({ clientId: "bot-1", service: "bots", remote: router });
    expect((await client.send(startCommand("unary"))).outcome.case).toBe("success");
    const ghost = createCommandClient<demoBot.ConnectResponse, demoBot.CommandResult>({ clientId: "ghost", service: "bots", remote: router });
    await expect(ghost.send(startCommand("x"))).rejects.toBeInstanceOf(ClientNotConnectedError);
    expect(() => createRemoteRouter({ baseUrl: bots.url, schemas, executeVia: "carrier-pigeon" as never })).toThrow(InvalidArgumentError);
  });

  it("the command stream survives a server restart: calls in flight fail, the next call reopens it", async () => {
    const first = await scope.server();
    const port = first.server.port;
    const router = createRemoteRouter({ baseUrl: first.url, schemas });
    scope.defer(() => router.close());
    agentOn(first.url, "bot-1", { onCommand: () => new Promise(() => {}) });
    await first.hub.waitForClient("bot-1", { timeoutMs: 5_000 });
    const client = createCommandClient<demoBot.ConnectResponse, demoBot.CommandResult>({ clientId: "bot-1", service: "bots", remote: router });
    const inFlight = client.send(startCommand("lost"), { timeoutMs: 30_000 }).catch((e: unknown) => e);
    await expect.poll(() => first.hub.stats().pendingCommands).toBe(1);
    await first.server.close({ graceMs: 0 });
    await first.hub.close();
    expect(await inFlight).toBeInstanceOf(RouterUnavailableError);
    const second = await scope.server({ port });
    agentOn(second.url, "bot-2");
    await second.hub.waitForClient("bot-2", { timeoutMs: 5_000 });
    const again = createCommandClient<demoBot.ConnectResponse, demoBot.CommandResult>({ clientId: "bot-2", service: "bots", remote: router });
    expect((await again.send(startCommand("reopened"))).outcome.case).toBe("success");
  });

  it("refuses calls beyond maxCallsPerStream with QueueFullError, and serves the rest", async () => {
    const { bots, router } = await setup({ routerOptions: { maxCallsPerStream: 2 } });
    agentOn(bots.url, "bot-1", { onCommand: () => new Promise(() => {}) });
    await bots.hub.waitForClient("bot-1", { timeoutMs: 5_000 });
    const client = createCommandClient<demoBot.ConnectResponse, demoBot.CommandResult>({ clientId: "bot-1", service: "bots", remote: router });
    const held = [client.send(startCommand("1"), { timeoutMs: 60_000 }).catch(() => {}), client.send(startCommand("2"), { timeoutMs: 60_000 }).catch(() => {})];
    await expect.poll(() => bots.hub.stats().pendingCommands).toBe(2);
    await expect(client.send(startCommand("3"))).rejects.toBeInstanceOf(QueueFullError);
    void held;
  });

  it("a caller-side deadline gives up with CommandTimeoutError and cancels the call on the server", async () => {
    const { bots } = await setup();
    // No margin: the caller's own deadline fires together with the bot's silence.
    const router = createRemoteRouter({ baseUrl: bots.url, schemas, deadlineMarginMs: 0 });
    scope.defer(() => router.close());
    agentOn(bots.url, "bot-1", { onCommand: () => new Promise(() => {}) });
    await bots.hub.waitForClient("bot-1", { timeoutMs: 5_000 });
    const error = await router
      .execute({ service: "bots", clientId: "bot-1", command: startCommand("x"), timeoutMs: 100, waitForConnectMs: 0, queueTimeoutMs: 0 })
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
      value: { service: "bots", clientId: "bot-1", command: anyPack(demoBot.ConnectResponseSchema, startCommand(reason)), timeoutMs: 5_000 },
    });
    const collect = async (requests: AsyncIterable<MessageInitShape<typeof ExecuteStreamRequestSchema>>) => {
      const results = new Map<bigint, string>();
      try {
        for await (const response of client.executeStream(requests)) {
          for (const result of response.results) {
            results.set(
              result.callId,
              result.outcome.case === "reply"
                ? (anyUnpack(result.outcome.value.reply!, demoBot.CommandResultSchema)!.outcome.value as { detail: string }).detail
                : `${result.outcome.value?.code}: ${result.message}`,
            );
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
        await new Promise((resolve) => setTimeout(resolve, 50));
        yield { calls: [{ callId: 7n, kind: slow }] };
      })(),
    );
    expect(second.error?.code).toBe(Code.InvalidArgument);
    expect(second.error?.rawMessage).toMatch(/call id 7 is already in flight/);
    await expect.poll(() => bots.hub.stats().pendingCommands).toBe(0);
  });

  it("falls back to unary Execute against a server without ExecuteStream", async () => {
    const bots = await scope.server();
    const full = createCommandRouter({ services: { bots: bots.hub as never } });
    const older = await startServer({
      routes: (r) => r.service(CommandRouterService, { execute: full.execute, post: full.post, listClients: full.listClients } as never),
    });
    scope.defer(() => older.close({ graceMs: 0 }));
    const router = createRemoteRouter({ baseUrl: older.url, schemas });
    scope.defer(() => router.close());
    agentOn(bots.url, "bot-1");
    await bots.hub.waitForClient("bot-1", { timeoutMs: 5_000 });
    const client = createCommandClient<demoBot.ConnectResponse, demoBot.CommandResult>({ clientId: "bot-1", service: "bots", remote: router });
    expect((await Promise.all([client.send(startCommand("a")), client.send(startCommand("b"))])).map((r) => r.outcome.case)).toEqual(["success", "success"]);
    expect((await client.send(startCommand("c"))).outcome.case).toBe("success");
  });

  it("a stream-level refusal keeps its class (unauthenticated), unlike a broken stream", async () => {
    const bots = await scope.server();
    const full = createCommandRouter({ services: { bots: bots.hub as never } });
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
    const router = createRemoteRouter({ baseUrl: guarded.url, schemas });
    scope.defer(() => router.close());
    const error = await router
      .execute({ service: "bots", clientId: "bot-1", command: startCommand("x"), timeoutMs: 1_000, waitForConnectMs: 0, queueTimeoutMs: 0 })
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
      import { botCommands, CommandResultSchema, ConnectResponseSchema } from "@streamcmd/demo-protocol";
      installRemoteRouter({ schemas: [ConnectResponseSchema, CommandResultSchema] });
      const reply = await createCommandClient({ clientId: "bot-1", service: "bots" }).send(botCommands.ping());
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
      body: JSON.stringify({ service: "bots" }),
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
