// Issue 11's fault table, one row per test: each reproduces what went wrong, then pins the fix.
import { spawn, type ChildProcess } from "node:child_process";
import http2 from "node:http2";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { create, toBinary } from "@bufbuild/protobuf";
import { anyPack } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { afterEach, describe, expect, it } from "vitest";
import * as demoBot from "@streamcmd/demo-protocol";
import { botAgentBinding, botService } from "@streamcmd/demo-protocol";
import { createPushStream } from "@streamcmd/testing";
import {
  ClientDisconnectedError,
  CommandCancelledError,
  CommandFailedError,
  CommandTimeoutError,
  createCommandClient,
  createStreamingService,
  defineStreamingService,
  QueueFullError,
  RouterUnavailableError,
} from "@streamcmd/core";
import { ExecuteStreamRequestSchema } from "./gen/streamcmd/v1/command_router_pb.js";
import { CommandErrorDetailSchema, CommandRouterService, createRemoteRouter } from "./index.js";
import { resultFor, startCommand, testScope } from "./test-support/bot-server.js";

const scope = testScope();
afterEach(() => scope.closeAll());

/** A demo bot in its own OS process (built packages), to SIGSTOP; its stdout lines say what it ran. */
async function agentProcess(url: string, botId: string): Promise<{ child: ChildProcess; lines: string[] }> {
  const script = fileURLToPath(new URL("./test-support/agent-process.mjs", import.meta.url));
  const child = spawn(process.execPath, [script, url, botId], { stdio: ["ignore", "pipe", "inherit"] });
  scope.defer(() => child.kill("SIGKILL"));
  const lines: string[] = [];
  child.stdout!.setEncoding("utf8").on("data", (chunk: string) => lines.push(...chunk.split("\n").filter((line) => line !== "")));
  return { child, lines };
}

/** A bot server in its own OS process (built packages), to kill -9; its bot "bot-silent" never answers. */
async function serverProcess(): Promise<{ child: ChildProcess; url: string }> {
  const script = fileURLToPath(new URL("./test-support/server-process.mjs", import.meta.url));
  const child = spawn(process.execPath, [script], { stdio: ["ignore", "pipe", "inherit"] });
  scope.defer(() => child.kill("SIGKILL"));
  const [line] = (await once(child.stdout!.setEncoding("utf8"), "data")) as [string];
  return { child, url: line.trim() };
}

describe("issue 11: every command settles once, with the right error", () => {
  it("a raw Execute with grpc-timeout and no timeout_ms, the bot slower than the deadline: always DEADLINE_EXCEEDED + command_timeout", async () => {
    const bots = await scope.server();
    scope.agent(bots.url, "bot-1", { onCommand: () => new Promise(() => {}) });
    await bots.hub.waitForClient("bot-1", { timeoutMs: 5_000 });
    const client = createClient(CommandRouterService, createGrpcTransport({ baseUrl: bots.url }));
    const command = anyPack(demoBot.ConnectResponseSchema, startCommand("slow"));
    // Warm: connect-node sends grpc-timeout as given, not as what is left after connecting.
    await client.listClients({ service: botService.name });
    const outcomes: string[] = [];
    // One at a time, as a caller with a deadline calls: the server's clock starts when the call arrives.
    for (let i = 0; i < 8; i++) {
      const outcome = await client.execute({ service: botService.name, clientId: "bot-1", command, timeoutMs: 0 }, { timeoutMs: 300 }).then(
        () => "replied",
        (error: unknown) => {
          const e = ConnectError.from(error);
          return `${Code[e.code]} ${e.findDetails(CommandErrorDetailSchema)[0]?.code ?? `(no detail: ${e.message})`}`;
        },
      );
      outcomes.push(outcome);
    }
    expect(outcomes.filter((outcome) => outcome !== "DeadlineExceeded command_timeout")).toEqual([]);
    await expect.poll(() => bots.hub.stats().pendingCommands).toBe(0);
  });

  it("a bot stream ends UNAVAILABLE with a service_closed detail when the server's hub shuts down, which a generic gRPC bot reads as reconnect", async () => {
    const bots = await scope.server();
    const client = createClient(demoBot.BotService, createGrpcTransport({ baseUrl: bots.url }));
    const requests = createPushStream<demoBot.ConnectRequest>();
    requests.push(botAgentBinding.hello({ clientId: "bot-1" }));
    const received: string[] = [];
    const ended = (async () => {
      for await (const message of client.connect(requests)) {
        received.push(message.command.case ?? "none");
        if (message.command.case === "welcome") void bots.hub.close();
      }
    })().then(
      () => "OK",
      (error: unknown) => {
        const e = ConnectError.from(error);
        return `${Code[e.code]} ${e.findDetails(CommandErrorDetailSchema)[0]?.code ?? "(no detail)"}`;
      },
    );
    expect(await ended).toBe("Unavailable service_closed");
    expect(received).toEqual(["welcome"]);
    requests.end();
  });

  it("a command whose client disconnects mid-command answers ABORTED + client_disconnected, a code generic retry policies do not retry", async () => {
    const bots = await scope.server();
    const agent = scope.agent(bots.url, "bot-1", {
      onCommand: () => {
        void agent.close();
        return new Promise(() => {});
      },
    });
    await bots.hub.waitForClient("bot-1", { timeoutMs: 5_000 });
    const client = createClient(CommandRouterService, createGrpcTransport({ baseUrl: bots.url }));
    const command = anyPack(demoBot.ConnectResponseSchema, startCommand("then leave"));
    const error = ConnectError.from(await client.execute({ service: botService.name, clientId: "bot-1", command, timeoutMs: 5_000 }).catch((e: unknown) => e));
    expect([Code[error.code], error.findDetails(CommandErrorDetailSchema)[0]?.code]).toEqual(["Aborted", "client_disconnected"]);
  });

  it.each(["unary", "stream"] as const)("kill -9 of the server with 1,000 %s calls in flight: every call fails with RouterUnavailableError, at once", async (executeVia) => {
    const { child, url } = await serverProcess();
    const router = createRemoteRouter({ baseUrl: url, executeVia });
    scope.defer(() => router.close());
    const bot = createCommandClient(botService, { clientId: "bot-silent", router, defaultTimeoutMs: 60_000 });
    const calls = Array.from({ length: 1_000 }, () => bot.send(startCommand("lost")).catch((error: unknown) => error));
    // Unary calls beyond the router's maxConcurrentCalls (100) wait their turn on the caller's side.
    const inFlight = executeVia === "unary" ? 100 : 1_000;
    const observer = createRemoteRouter({ baseUrl: url });
    scope.defer(() => observer.close());
    await expect.poll(async () => (await observer.listClients(botService))[0]?.pendingCommands, { timeout: 15_000 }).toBe(inFlight);
    const killed = performance.now();
    child.kill("SIGKILL");
    const errors = await Promise.all(calls);
    expect(performance.now() - killed).toBeLessThan(5_000);
    expect(errors.filter((error) => !(error instanceof RouterUnavailableError)).map(String).slice(0, 3)).toEqual([]);
    expect(errors.some((error) => error instanceof CommandCancelledError)).toBe(false);
  });

  it("10,000 concurrent unary calls from one router: each gets its reply (the router queues beyond its limit), and a bystander is served", async () => {
    const bots = await scope.server();
    scope.agent(bots.url, "bot-1");
    scope.agent(bots.url, "bystander");
    await bots.hub.waitForClient("bot-1", { timeoutMs: 5_000 });
    await bots.hub.waitForClient("bystander", { timeoutMs: 5_000 });
    const router = createRemoteRouter({ baseUrl: bots.url, executeVia: "unary" });
    scope.defer(() => router.close());
    const bot = createCommandClient(botService, { clientId: "bot-1", router, defaultTimeoutMs: 60_000 });
    const flood = Array.from({ length: 10_000 }, () => bot.send(startCommand("flood")).then((reply) => reply.reply.case, (error: unknown) => String(error)));
    const other = createRemoteRouter({ baseUrl: bots.url, executeVia: "unary" });
    scope.defer(() => other.close());
    const bystander = await createCommandClient(botService, { clientId: "bystander", router: other }).send(startCommand("me too"), { timeoutMs: 10_000 });
    expect(bystander.reply.case).toBe("start");
    const outcomes = await Promise.all(flood);
    expect(outcomes.filter((outcome) => outcome !== "start").slice(0, 3)).toEqual([]);
  }, 60_000);

  it("a unary call that waits out its deadline behind the router's limit was never sent: QueueFullError", async () => {
    const bots = await scope.server();
    scope.agent(bots.url, "bot-1", { onCommand: () => new Promise(() => {}) });
    await bots.hub.waitForClient("bot-1", { timeoutMs: 5_000 });
    const router = createRemoteRouter({ baseUrl: bots.url, executeVia: "unary", maxConcurrentCalls: 1, deadlineMarginMs: 0 });
    scope.defer(() => router.close());
    const bot = createCommandClient(botService, { clientId: "bot-1", router });
    const holding = bot.send(startCommand("holds the slot"), { timeoutMs: 2_000 }).catch((error: unknown) => error);
    const waiting = await bot.send(startCommand("never sent"), { timeoutMs: 200 }).catch((error: unknown) => error);
    expect(waiting).toBeInstanceOf(QueueFullError);
    expect(bots.hub.stats().pendingCommands).toBe(1);
    expect(await holding).toBeInstanceOf(CommandTimeoutError);
  });

  it("calls waiting an hour for absent clients are capped across the hub (maxConnectWaiters): one more is refused at once with QueueFullError", async () => {
    const bots = await scope.server({ serviceOptions: { maxConnectWaiters: 100 } });
    const router = createRemoteRouter({ baseUrl: bots.url });
    scope.defer(() => router.close());
    const controller = new AbortController();
    const calls = Array.from({ length: 300 }, (_, i) =>
      createCommandClient(botService, { clientId: `absent-${i}`, router })
        .send(startCommand("later"), { waitForConnectMs: 3_600_000, signal: controller.signal })
        .catch((error: unknown) => error),
    );
    const refused = await Promise.race([Promise.all(calls.slice(100)), new Promise((resolve) => setTimeout(resolve, 10_000, "still waiting"))]);
    expect(Array.isArray(refused) && refused.every((error) => error instanceof QueueFullError)).toBe(true);
    controller.abort();
    const cancelled = await Promise.all(calls.slice(0, 100));
    expect(cancelled.every((error) => error instanceof CommandCancelledError)).toBe(true);
  });

  it("an ExecuteStream caller that never reads its answers is held back: the server stops taking up its calls instead of buffering answers", async () => {
    // Every call the server takes up ends in one audit entry, answered or refused.
    let taken = 0;
    const count = () => void taken++;
    const audit = { debug: count, info: count, warn: count, error: count };
    const bots = await scope.server({ routerOptions: { maxCallsPerStream: 200, audit }, serviceOptions: { maxPendingPerClient: 100_000, maxQueueSize: 100_000 } });
    scope.agent(bots.url, "bot-1", { onCommand: (command) => resultFor(command, "bot-1"), maxConcurrentCommands: 64 });
    await bots.hub.waitForClient("bot-1", { timeoutMs: 5_000 });
    // A raw HTTP/2 caller that writes calls and never reads (connect-node's client would read into its own memory).
    const session = http2.connect(bots.url);
    scope.defer(() => session.destroy());
    const stream = session.request({ ":method": "POST", ":path": "/streamcmd.v1.CommandRouterService/ExecuteStream", "content-type": "application/grpc+proto", te: "trailers" });
    const command = anyPack(demoBot.ConnectResponseSchema, startCommand("unread"));
    let callId = 0n;
    for (let message = 0; message < 10; message++) {
      const calls = Array.from({ length: 5_000 }, () => ({ callId: ++callId, kind: { case: "execute" as const, value: { service: botService.name, clientId: "bot-1", command, timeoutMs: 60_000 } } }));
      const body = toBinary(ExecuteStreamRequestSchema, create(ExecuteStreamRequestSchema, { calls }));
      const frame = Buffer.alloc(5 + body.length);
      frame.writeUInt32BE(body.length, 1);
      frame.set(body, 5);
      stream.write(frame);
    }
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    // Without backpressure every call is taken up (beyond maxCallsPerStream as QueueFullError answers)
    // and the answers pile up in the server's memory.
    expect(taken).toBeLessThan(5_000);
  });

  it("a bot stopped (SIGSTOP) while commands arrive never runs them when it resumes: their deadline travelled with them", async () => {
    const bots = await scope.server({ serviceOptions: { heartbeatTimeoutMs: 1_000 } });
    const { child, lines } = await agentProcess(bots.url, "bot-stalled");
    await bots.hub.waitForClient("bot-stalled", { timeoutMs: 10_000 });
    child.kill("SIGSTOP");
    scope.defer(() => child.kill("SIGCONT"));
    const calls = Array.from({ length: 8 }, (_, i) => bots.hub.send("bot-stalled", demoBot.botCommands.stop({ reason: `stop-${i}` }), { timeoutMs: 300 }).catch((error: unknown) => error));
    // Each settles once, as a timeout: the bot is silent, not gone (yet).
    for (const error of await Promise.all(calls)) expect(error).toBeInstanceOf(CommandTimeoutError);
    await expect.poll(() => bots.hub.isConnected("bot-stalled"), { timeout: 5_000 }).toBe(false);
    child.kill("SIGCONT");
    // It wakes, reads what waited in its socket, refuses it, and reconnects.
    await bots.hub.waitForClient("bot-stalled", { timeoutMs: 10_000 });
    expect((await bots.hub.send("bot-stalled", demoBot.botCommands.start({ reason: "fresh" }), { timeoutMs: 5_000 })).reply.case).toBe("start");
    // Its stdout comes on another channel than its reply: wait for the line; it must be the only one.
    await expect.poll(() => lines.filter((line) => line.startsWith("executed"))).toEqual(["executed start fresh"]);
  }, 30_000);

  it("kill -9 of a bot with commands in flight, same-process and cross-process: each fails once with ClientDisconnectedError, at once", async () => {
    const bots = await scope.server();
    const { child, lines } = await agentProcess(bots.url, "bot-doomed");
    await bots.hub.waitForClient("bot-doomed", { timeoutMs: 10_000 });
    const router = createRemoteRouter({ baseUrl: bots.url });
    scope.defer(() => router.close());
    const remote = createCommandClient(botService, { clientId: "bot-doomed", router });
    const settled: unknown[] = [];
    const call = (send: Promise<unknown>) => send.then((reply) => settled.push(reply), (error: unknown) => settled.push(error));
    const calls = Array.from({ length: 100 }, (_, i) => {
      const command = demoBot.botCommands.start({ reason: `hang-${i}` });
      return call(i % 2 === 0 ? bots.hub.send("bot-doomed", command, { timeoutMs: 60_000 }) : remote.send(command, { timeoutMs: 60_000 }));
    });
    await expect.poll(() => lines.filter((line) => line.startsWith("executing")).length, { timeout: 10_000 }).toBe(16); // its maxConcurrentCommands
    const killed = performance.now();
    child.kill("SIGKILL");
    await Promise.all(calls);
    expect(performance.now() - killed).toBeLessThan(5_000);
    expect(settled).toHaveLength(100);
    for (const outcome of settled) expect(outcome).toBeInstanceOf(ClientDisconnectedError);
    expect(bots.hub.stats()).toMatchObject({ pendingCommands: 0 });
  }, 30_000);

  it("a command that times out, or whose caller cancels (same-process or across processes), is stopped on the bot: its handler's signal aborts", async () => {
    const bots = await scope.server();
    const aborted: string[] = [];
    let finished = 0;
    scope.agent(bots.url, "bot-slow", {
      onCommand: (command, context) =>
        new Promise((resolve) => {
          const reason = command.command.case === "start" ? command.command.value.reason : "?";
          const done = setTimeout(() => (finished++, resolve(resultFor(command, "bot-slow"))), 30_000);
          context.signal.addEventListener("abort", () => (clearTimeout(done), aborted.push(reason)), { once: true });
        }),
    });
    await bots.hub.waitForClient("bot-slow", { timeoutMs: 5_000 });
    expect(await bots.hub.send("bot-slow", startCommand("timed out"), { timeoutMs: 200 }).catch((e: unknown) => e)).toBeInstanceOf(CommandTimeoutError);
    await expect.poll(() => aborted).toEqual(["timed out"]);
    const controller = new AbortController();
    const cancelled = bots.hub.send("bot-slow", startCommand("cancelled here"), { timeoutMs: 30_000, signal: controller.signal }).catch((e: unknown) => e);
    await expect.poll(() => bots.hub.stats().pendingCommands).toBe(1);
    controller.abort();
    expect(await cancelled).toBeInstanceOf(CommandCancelledError);
    await expect.poll(() => aborted).toEqual(["timed out", "cancelled here"]);
    const router = createRemoteRouter({ baseUrl: bots.url });
    scope.defer(() => router.close());
    const remote = new AbortController();
    const across = createCommandClient(botService, { clientId: "bot-slow", router }).send(startCommand("cancelled elsewhere"), { timeoutMs: 30_000, signal: remote.signal }).catch((e: unknown) => e);
    await expect.poll(() => bots.hub.stats().pendingCommands).toBe(1);
    remote.abort();
    expect(await across).toBeInstanceOf(CommandCancelledError);
    await expect.poll(() => aborted).toEqual(["timed out", "cancelled here", "cancelled elsewhere"]);
    expect(finished).toBe(0);
    expect(bots.hub.stats().lateReplies).toBe(0); // a stopped handler sends no answer
  });

  it("the agent refuses a command whose deadline passed with a deadline_exceeded failure, never calls the handler, and the caller gets a timeout", async () => {
    // A hub whose binding stamps every command with a deadline already past (a badly stalled delivery).
    const binding: typeof botService.binding = {
      ...botService.binding,
      wrapCommand: (commandId, command) => botService.binding.wrapCommand(commandId, command, Date.now() - 1_000),
    };
    const late = defineStreamingService({ name: botService.name, binding, schemas: botService.schemas });
    const bots = await scope.server({ hub: createStreamingService(late) });
    let handled = 0;
    scope.agent(bots.url, "bot-1", { onCommand: (command) => (handled++, resultFor(command, "bot-1")) });
    await bots.hub.waitForClient("bot-1", { timeoutMs: 5_000 });
    const error = await bots.hub.send("bot-1", startCommand("too late"), { timeoutMs: 5_000 }).catch((e: unknown) => e);
    // To its caller a command refused for its deadline timed out, whichever side saw the deadline first.
    expect(error).toBeInstanceOf(CommandTimeoutError);
    expect((error as CommandTimeoutError).cause).toBeInstanceOf(CommandFailedError);
    expect(((error as CommandTimeoutError).cause as CommandFailedError).clientErrorCode).toBe("deadline_exceeded");
    expect(handled).toBe(0);
  });

  it.each(["stream", "unary"] as const)("an idempotency key travels across processes (%s): a retry after a lost answer is not run twice", async (executeVia) => {
    const bots = await scope.server();
    let ran = 0;
    scope.agent(bots.url, "bot-1", { onCommand: (command) => (ran++, resultFor(command, "bot-1")) });
    await bots.hub.waitForClient("bot-1", { timeoutMs: 5_000 });
    const router = createRemoteRouter({ baseUrl: bots.url, executeVia });
    scope.defer(() => router.close());
    const bot = createCommandClient(botService, { clientId: "bot-1", router });
    const first = await bot.send(startCommand("once"), { idempotencyKey: "order-42" });
    const retry = await bot.send(startCommand("once"), { idempotencyKey: "order-42" });
    expect(retry).toEqual(first);
    expect(ran).toBe(1);
  });

  it.each(["stream", "unary"] as const)("a caller killed -9 with %s calls in flight: the server cancels them at once, not at their deadline", async (executeVia) => {
    const bots = await scope.server();
    scope.agent(bots.url, "bot-silent", { onCommand: () => new Promise(() => {}) });
    await bots.hub.waitForClient("bot-silent", { timeoutMs: 5_000 });
    const script = fileURLToPath(new URL("./test-support/caller-process.mjs", import.meta.url));
    const caller = spawn(process.execPath, [script, bots.url, "bot-silent", "50", executeVia], { stdio: ["ignore", "pipe", "inherit"] });
    scope.defer(() => caller.kill("SIGKILL"));
    await once(caller.stdout!, "data");
    await expect.poll(() => bots.hub.stats().pendingCommands, { timeout: 10_000 }).toBe(50);
    const killed = performance.now();
    caller.kill("SIGKILL");
    await expect.poll(() => bots.hub.stats().pendingCommands, { timeout: 10_000 }).toBe(0);
    expect(performance.now() - killed).toBeLessThan(5_000);
    expect(bots.hub.stats()).toMatchObject({ cancellations: 50, timeouts: 0 });
  }, 30_000);

  it("an idempotency key is scoped to its caller: another caller reusing it neither gets the first outcome nor stops its own command", async () => {
    // Callers named by a header, for the test: a real deployment names them by their token.
    const bots = await scope.server({ routerOptions: { authenticate: (context) => ({ subject: context.requestHeader.get("x-caller") ?? "", scopes: ["*:*"] }) } });
    let ran = 0;
    scope.agent(bots.url, "bot-1", { onCommand: (command) => (ran++, resultFor(command, "bot-1")) });
    await bots.hub.waitForClient("bot-1", { timeoutMs: 5_000 });
    const as = (caller: string) => {
      const router = createRemoteRouter({ baseUrl: bots.url, interceptors: [(next) => (request) => (request.header.set("x-caller", caller), next(request))] });
      scope.defer(() => router.close());
      return createCommandClient(botService, { clientId: "bot-1", router });
    };
    await as("alice").send(startCommand("alice"), { idempotencyKey: "order-1" });
    await as("bob").send(startCommand("bob"), { idempotencyKey: "order-1" });
    await as("alice").send(startCommand("alice again"), { idempotencyKey: "order-1" });
    expect(ran).toBe(2);
  });
});
