import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import * as grpc from "@grpc/grpc-js";
import { status } from "@grpc/grpc-js";
import { afterEach, describe, expect, it } from "vitest";
import * as demoBot from "@streamcmd/demo-protocol";
import { connectAgent, type Agent, type AgentEvents } from "./index.js";
import { grpcJsBot, hello, type GrpcJsBot } from "./test-support/grpc-js-bot.js";
import { resultFor, startCommand, testScope, type BotServer } from "./test-support/bot-server.js";

const scope = testScope();
afterEach(() => scope.closeAll());
const server = scope.server;
function grpcBot(...args: Parameters<typeof grpcJsBot>): GrpcJsBot {
  const bot = grpcJsBot(...args);
  scope.defer(() => bot.close());
  return bot;
}
/** A well-behaved Connect agent next to the misbehaving one: it must keep working. */
async function bystander(bots: BotServer): Promise<Agent> {
  const agent = scope.agent(bots.url, "bystander");
  await bots.hub.waitForClient("bystander", { timeoutMs: 5_000 });
  return agent;
}
async function bystanderStillWorks(bots: BotServer): Promise<void> {
  const reply = await bots.hub.send("bystander", startCommand("still here?"));
  expect(reply.reply).toMatchObject({ case: "start", value: { detail: "bystander:start:still here?" } });
}

describe("interoperability: an agent written with @grpc/grpc-js", () => {
  it("connects to our server and answers commands", async () => {
    const bots = await server();
    const bot = grpcBot(bots.url, {
      answer: (command) =>
        create(demoBot.ConnectRequestSchema, {
          message: {
            case: "result",
            value: {
              commandId: command.commandId,
              reply: { case: "start", value: { status: demoBot.BotStatus.RUNNING, detail: `grpc-js did ${command.command.case}` } },
            },
          },
        }),
    });
    bot.call.write(hello("grpc-bot"));
    await bots.hub.waitForClient("grpc-bot", { timeoutMs: 5_000 });
    expect(bots.hub.client("grpc-bot")?.metadata).toEqual({ version: "grpc-js" });
    await expect.poll(() => bot.welcome?.command).toEqual({ case: "welcome", value: expect.objectContaining({ botId: "grpc-bot" }) });
    const replies = await Promise.all(Array.from({ length: 20 }, (_, i) => bots.hub.send("grpc-bot", startCommand(String(i)))));
    expect(replies.map((r) => (r.reply.case === "start" ? r.reply.value.detail : r.reply.case))).toEqual(
      Array(20).fill("grpc-js did start"),
    );
    expect(new Set(bot.received.map((c) => c.commandId)).size).toBe(20);
  });

  it("is told why when a newer connection replaces it (ABORTED)", async () => {
    const bots = await server();
    const first = grpcBot(bots.url);
    first.call.write(hello("twin"));
    await bots.hub.waitForClient("twin", { timeoutMs: 5_000 });
    const second = grpcBot(bots.url);
    second.call.write(hello("twin"));
    const end = await first.ended;
    expect(end.code).toBe(status.ABORTED);
    // connect-node percent-encodes the grpc-message more than grpc-js decodes: match around the comma.
    expect(end.details).toMatch(/client twin connected again.*this connection was replaced/);
  });
});

describe("misbehaving clients are dropped with a clear reason; the others are unaffected", () => {
  it("garbage bytes: dropped with INVALID_ARGUMENT", async () => {
    const bots = await server();
    await bystander(bots);
    const bot = grpcBot(bots.url, { serialize: () => Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f]) });
    bot.call.write(hello("garbage"));
    const end = await bot.ended;
    expect(end.code).toBe(status.INVALID_ARGUMENT);
    expect(end.details).toMatch(/stream failed.*parse binary/);
    expect(bots.hub.isConnected("garbage")).toBe(false);
    await bystanderStillWorks(bots);
  });

  it("a first message that is not a hello: dropped with INVALID_ARGUMENT", async () => {
    const bots = await server();
    await bystander(bots);
    const bot = grpcBot(bots.url);
    bot.call.write(create(demoBot.ConnectRequestSchema, { message: { case: "heartbeat", value: {} } }));
    const end = await bot.ended;
    expect(end.code).toBe(status.INVALID_ARGUMENT);
    expect(end.details).toMatch(/first message must identify the client/);
    await bystanderStillWorks(bots);
  });

  it("never says hello: dropped after the hello timeout", async () => {
    const bots = await server({ serviceOptions: { helloTimeoutMs: 300 } });
    await bystander(bots);
    const bot = grpcBot(bots.url);
    const started = performance.now();
    const end = await bot.ended;
    expect(end.code).toBe(status.INVALID_ARGUMENT);
    expect(end.details).toMatch(/no hello within 300 ms/);
    expect(performance.now() - started).toBeLessThan(5_000);
    await bystanderStillWorks(bots);
  });

  it("floods: dropped with RESOURCE_EXHAUSTED", async () => {
    const bots = await server({ serviceOptions: { maxMessagesPerSecond: 100 } });
    await bystander(bots);
    const bot = grpcBot(bots.url);
    bot.call.write(hello("flooder"));
    const heartbeat = create(demoBot.ConnectRequestSchema, { message: { case: "heartbeat", value: {} } });
    for (let i = 0; i < 1_000; i++) bot.call.write(heartbeat);
    const end = await bot.ended;
    expect(end.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(end.details).toMatch(/more than 100 messages per second/);
    expect(bots.hub.isConnected("flooder")).toBe(false);
    await bystanderStillWorks(bots);
  });

  it("sends an oversized message: dropped with RESOURCE_EXHAUSTED", async () => {
    const bots = await server({ readMaxBytes: 64 * 1024 });
    await bystander(bots);
    const bot = grpcBot(bots.url);
    bot.call.write(hello("big-mouth"));
    await bots.hub.waitForClient("big-mouth", { timeoutMs: 5_000 });
    bot.call.write(create(demoBot.ConnectRequestSchema, { message: { case: "statusReport", value: { detail: "x".repeat(100_000) } } }));
    const end = await bot.ended;
    expect(end.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(end.details).toMatch(/message size|larger than|exceeds/i);
    await expect.poll(() => bots.hub.isConnected("big-mouth")).toBe(false);
    await bystanderStillWorks(bots);
  });
});

describe("interoperability: our agent on a server written with @grpc/grpc-js", () => {
  /** A grpc-js server for the demo's Connect method; `handle` runs each call. */
  async function grpcJsServer(handle: (call: grpc.ServerDuplexStream<demoBot.ConnectRequest, demoBot.ConnectResponse>) => void): Promise<string> {
    const server = new grpc.Server();
    server.addService(
      {
        connect: {
          path: "/demo.bot.v1.BotService/Connect",
          requestStream: true,
          responseStream: true,
          requestSerialize: (m: demoBot.ConnectRequest) => Buffer.from(toBinary(demoBot.ConnectRequestSchema, m)),
          requestDeserialize: (b: Buffer) => fromBinary(demoBot.ConnectRequestSchema, b),
          responseSerialize: (m: demoBot.ConnectResponse) => Buffer.from(toBinary(demoBot.ConnectResponseSchema, m)),
          responseDeserialize: (b: Buffer) => fromBinary(demoBot.ConnectResponseSchema, b),
        },
      },
      { connect: handle },
    );
    const port = await new Promise<number>((resolve, reject) => server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
    scope.defer(() => server.forceShutdown());
    return `http://127.0.0.1:${port}`;
  }

  it("says hello, runs the server's commands, answers each, and reads the status the server ends with", async () => {
    const answers: demoBot.ConnectRequest[] = [];
    const url = await grpcJsServer((call) => {
      call.on("data", (message: demoBot.ConnectRequest) => {
        if (message.message.case === "hello") {
          call.write(create(demoBot.ConnectResponseSchema, { command: { case: "welcome", value: { botId: message.message.value.botId } } }));
          for (let i = 0; i < 300; i++) call.write(create(demoBot.ConnectResponseSchema, { commandId: `c${i}`, command: { case: "start", value: { reason: `r${i}` } } }));
        } else if (message.message.case === "result" && answers.push(message) === 300) {
          call.emit("error", { code: status.ABORTED, details: "replaced, for the test" });
        }
      });
    });
    const ended: AgentEvents["disconnected"][] = [];
    const agent = connectAgent({
      baseUrl: url,
      method: demoBot.BotService.method.connect,
      clientId: "bot-1",
      binding: demoBot.botAgentBinding,
      onCommand: (command) => resultFor(command, "bot-1"),
      heartbeatIntervalMs: 0,
      reconnect: false,
    });
    scope.defer(() => agent.close());
    agent.on("disconnected", (event) => ended.push(event));
    await expect.poll(() => ended.length, { timeout: 5_000 }).toBe(1);
    expect(answers.map((a) => (a.message.case === "result" ? a.message.value.commandId : "")).sort()).toEqual(Array.from({ length: 300 }, (_, i) => `c${i}`).sort());
    expect(answers[7]?.message.value).toMatchObject({ reply: { case: "start" } });
    expect(ended[0]?.error).toMatchObject({ code: Code.Aborted, rawMessage: "replaced, for the test" });
  });
});
