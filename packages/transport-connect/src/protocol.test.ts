// The wire protocol of the library's bidi streams, spoken by independent clients — @grpc/grpc-js,
// connect-node over gRPC and the Connect protocol (binary, JSON, gzip), buf curl — against both
// ways startServer serves them: the lean path and connect-node. Every case runs on both.
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { create, createRegistry } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { compressionGzip, createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { findTrailerError } from "@connectrpc/connect/protocol-grpc";
import * as grpc from "@grpc/grpc-js";
import { afterEach, describe, expect, it } from "vitest";
import { ClientReplacedError, createStreamingService, RateLimitedError, type CommandError, type StreamingServiceOf } from "@streamcmd/core";
import { PushQueue } from "@streamcmd/core/internal";
import * as demoBot from "@streamcmd/demo-protocol";
import { botService } from "@streamcmd/demo-protocol";
import { CommandErrorDetailSchema, CommandRouterService, createCommandRouter, createStreamHandler, startServer } from "./index.js";
import { startCommand, testScope } from "./test-support/bot-server.js";
import { grpcJsBot, hello, type GrpcJsBot } from "./test-support/grpc-js-bot.js";
import { executeCall, executeStream, executeStreamPath, servingPaths, startReply } from "./test-support/serving-paths.js";

const scope = testScope();
afterEach(() => scope.closeAll());

function grpcBot(...args: Parameters<typeof grpcJsBot>): GrpcJsBot {
  const bot = grpcJsBot(...args);
  scope.defer(() => bot.close());
  return bot;
}

/** A grpc-js call's final status, with its `grpc-status-details-bin` decoded as Connect reads it. */
function finalStatus(bot: GrpcJsBot): Promise<{ code: grpc.status; details: string; detail: unknown }> {
  return new Promise((resolve) => {
    bot.call.on("status", (status: grpc.StatusObject) => {
      const [bin] = status.metadata.get("grpc-status-details-bin");
      const trailer = new Headers({ "grpc-status": String(status.code) });
      if (bin instanceof Buffer) trailer.set("grpc-status-details-bin", bin.toString("base64"));
      const [detail] = findTrailerError(trailer)?.findDetails(CommandErrorDetailSchema) ?? [];
      resolve({ code: status.code, details: status.details, detail });
    });
  });
}

/** The demo's messages, for JSON: a command or reply packed in an Any is written and read by its type name. */
const demoRegistry = createRegistry(demoBot.file_demo_bot_v1_bot);

/** The transports connect-node offers for a bidi stream: gRPC and the Connect protocol over HTTP/2, binary, JSON, gzip. */
const transports: [string, (baseUrl: string) => Transport][] = [
  ["gRPC", (baseUrl) => createGrpcTransport({ baseUrl })],
  ["Connect (binary)", (baseUrl) => createConnectTransport({ baseUrl, httpVersion: "2" })],
  ["Connect with JSON", (baseUrl) => createConnectTransport({ baseUrl, httpVersion: "2", useBinaryFormat: false, jsonOptions: { registry: demoRegistry } })],
  ["gRPC with gzip", (baseUrl) => createGrpcTransport({ baseUrl, sendCompression: compressionGzip, acceptCompression: [compressionGzip] })],
];

/**
 * A bot written with connect-node's client: says hello, answers each command with a start reply
 * naming `botId`, until the test ends. Resolves with how its stream ended.
 */
function connectNodeBot(transport: Transport, botId: string): Promise<ConnectError | undefined> {
  const requests = new PushQueue<demoBot.ConnectRequest>();
  scope.defer(() => requests.end());
  requests.tryPush(create(demoBot.ConnectRequestSchema, { message: { case: "hello", value: { botId, version: "connect-node" } } }));
  return (async () => {
    try {
      for await (const message of createClient(demoBot.BotService, transport).connect(requests)) {
        if (message.command.case === "welcome" || message.command.case === undefined) continue;
        const result = startReply(message, `${botId} did ${message.command.case}`);
        requests.tryPush(create(demoBot.ConnectRequestSchema, { message: { case: "result", value: result } }));
      }
      return undefined;
    } catch (error) {
      return ConnectError.from(error);
    }
  })();
}

/**
 * startBotServer's services on a server whose connect-node side reads and writes the demo's Any
 * in JSON too (a JSON deployment must give it the registry; startBotServer does not).
 */
async function serverWithJsonRegistry(leanStreams: boolean): Promise<{ hub: StreamingServiceOf<typeof botService>; url: string }> {
  const hub = createStreamingService(botService);
  const server = await startServer({
    leanStreams,
    adapter: { jsonOptions: { registry: demoRegistry } },
    routes(router) {
      router.service(demoBot.BotService, { connect: createStreamHandler(hub, { allowUnauthenticated: true }) });
      router.service(CommandRouterService, createCommandRouter({ allowUnauthenticated: true, services: [hub] }));
    },
  });
  scope.defer(async () => {
    await hub.close();
    await server.close({ graceMs: 0 });
  });
  return { hub, url: server.url };
}

describe.each(servingPaths)("protocol: independent clients, $path path", ({ leanStreams }) => {
  const server = (options: Parameters<typeof scope.server>[0] = {}) => scope.server({ ...options, leanStreams });

  describe("a bot written with @grpc/grpc-js", () => {
    it("says hello, is welcomed, and answers commands", async () => {
      const bots = await server();
      const bot = grpcBot(bots.url, { answer: (command) => create(demoBot.ConnectRequestSchema, { message: { case: "result", value: startReply(command, `grpc-js did ${command.commandId}`) } }) });
      bot.call.write(hello("grpc-bot"));
      await bots.hub.waitForClient("grpc-bot", { timeoutMs: 5_000 });
      expect(bots.hub.client("grpc-bot")?.metadata).toEqual({ version: "grpc-js" });
      await expect.poll(() => bot.welcome?.command).toEqual({ case: "welcome", value: expect.objectContaining({ botId: "grpc-bot" }) });
      const replies = await Promise.all(Array.from({ length: 20 }, (_, i) => bots.hub.send("grpc-bot", startCommand(String(i)))));
      // Each reply is the answer to its own command: the bot named the id it answered.
      expect(replies.map((reply) => reply.reply.value)).toEqual(replies.map((reply) => expect.objectContaining({ detail: `grpc-js did ${reply.commandId}` })));
      expect(new Set(bot.received.map((command) => command.commandId)).size).toBe(20);
    });

    // grpc-js leaves a percent-encoded comma in place (Connect encodes more than grpc-js decodes).
    it.each<[string, CommandError, grpc.status, string, string]>([
      ["replaced elsewhere", new ClientReplacedError("moved, to node-2 (100% sure)", { service: botService.name, clientId: "grpc-bot" }), grpc.status.ABORTED, "moved%2C to node-2 (100% sure)", "client_replaced"],
      ["rate limited", new RateLimitedError("too chatty", { service: botService.name, clientId: "grpc-bot" }), grpc.status.RESOURCE_EXHAUSTED, "too chatty", "rate_limited"],
    ])("disconnected by the hub (%s): the status, message and error detail the server sends", async (_, error, code, details, detailCode) => {
      const bots = await server();
      const bot = grpcBot(bots.url);
      const ended = finalStatus(bot);
      bot.call.write(hello("grpc-bot"));
      await bots.hub.waitForClient("grpc-bot", { timeoutMs: 5_000 });
      const pending = bots.hub.send("grpc-bot", startCommand("left hanging")).catch((thrown: unknown) => thrown);
      expect(bots.hub.disconnect("grpc-bot", error)).toBe(true);
      const end = await ended;
      expect(end).toEqual({ code, details, detail: expect.objectContaining({ code: detailCode, service: botService.name, clientId: "grpc-bot", commandId: "" }) });
      expect(await pending).toMatchObject({ name: "ClientDisconnectedError", clientId: "grpc-bot" });
    });

    it("replaced by a newer connection with its id: ABORTED with a client_replaced detail", async () => {
      const bots = await server();
      const first = grpcBot(bots.url);
      const ended = finalStatus(first);
      first.call.write(hello("twin"));
      await bots.hub.waitForClient("twin", { timeoutMs: 5_000 });
      const second = grpcBot(bots.url);
      second.call.write(hello("twin"));
      const end = await ended;
      expect(end).toMatchObject({ code: grpc.status.ABORTED, detail: { code: "client_replaced", clientId: "twin" } });
      expect(end.details).toMatch(/client twin connected again.*this connection was replaced/);
      await expect.poll(() => second.welcome?.command.case).toBe("welcome");
      expect(bots.hub.isConnected("twin")).toBe(true);
    });
  });

  describe.each(transports)("connect-node's client over %s", (_, transportFor) => {
    it("a bot says hello and answers a command the hub sends", async () => {
      const bots = await serverWithJsonRegistry(leanStreams);
      const ended = connectNodeBot(transportFor(bots.url), "cn-bot");
      await bots.hub.waitForClient("cn-bot", { timeoutMs: 5_000 });
      expect(bots.hub.client("cn-bot")?.metadata).toEqual({ version: "connect-node" });
      const reply = await bots.hub.send("cn-bot", startCommand("go"));
      expect(reply.reply).toMatchObject({ case: "start", value: { detail: "cn-bot did start" } });
      bots.hub.disconnect("cn-bot", new ClientReplacedError("bye", { clientId: "cn-bot" }));
      expect(await ended).toMatchObject({ code: Code.Aborted, rawMessage: "bye" });
    });

    it("ExecuteStream reaches a connected agent; an unknown client is a typed result, not a stream failure", async () => {
      const bots = await serverWithJsonRegistry(leanStreams);
      scope.agent(bots.url, "bot-1");
      await bots.hub.waitForClient("bot-1", { timeoutMs: 5_000 });
      const client = createClient(CommandRouterService, transportFor(bots.url));
      const answers = await executeStream(client, [executeCall(1n, "bot-1", "one"), executeCall(2n, "ghost", "boo"), executeCall(3n, "bot-1", "three")]);
      expect(answers).toEqual(
        new Map([
          [1n, "bot-1:start:one"],
          [2n, expect.stringMatching(/^client_not_connected: .*ghost/)],
          [3n, "bot-1:start:three"],
        ]),
      );
    });
  });

  describe("buf curl (Go's connect-go client) on ExecuteStream, the schema read from proto/", () => {
    const buf = fileURLToPath(new URL("../../../node_modules/.bin/buf", import.meta.url));
    const proto = fileURLToPath(new URL("../../../proto", import.meta.url));

    /** Runs buf curl with the request body on stdin; resolves with its output and exit code. */
    function bufCurl(args: string[], body: string): Promise<{ code: number; stdout: string; stderr: string }> {
      return new Promise((resolve) => {
        const child = execFile(buf, ["curl", "--schema", proto, "--http2-prior-knowledge", "--data", "@-", ...args], { timeout: 15_000 }, (error, stdout, stderr) =>
          resolve({ code: typeof error?.code === "number" ? error.code : error === null ? 0 : -1, stdout, stderr }),
        );
        child.stdin?.end(body);
      });
    }

    it.each(["grpc", "connect"])("--protocol %s: a call with a reply and one for an unknown client, both answered", async (protocol) => {
      const bots = await server();
      scope.agent(bots.url, "bot-1");
      await bots.hub.waitForClient("bot-1", { timeoutMs: 5_000 });
      const command = { "@type": `type.googleapis.com/${demoBot.ConnectResponseSchema.typeName}`, start: { reason: "from buf" } };
      const calls = ["bot-1", "ghost"].map((clientId, i) => ({ callId: String(i + 1), execute: { service: botService.name, clientId, command, timeoutMs: 5_000 } }));
      const { code, stdout, stderr } = await bufCurl(["--protocol", protocol, `${bots.url}${executeStreamPath}`], JSON.stringify({ calls }));
      expect({ code, stderr }).toEqual({ code: 0, stderr: "" });
      const results = stdout
        .trim()
        .split(/\n(?=\{)/)
        .flatMap((response) => (JSON.parse(response) as { results: { callId: string }[] }).results)
        .sort((a, b) => a.callId.localeCompare(b.callId));
      expect(results).toEqual([
        { callId: "1", reply: { reply: expect.objectContaining({ "@type": `type.googleapis.com/${demoBot.CommandResultSchema.typeName}`, start: { status: "BOT_STATUS_RUNNING", detail: "bot-1:start:from buf" } }) } },
        { callId: "2", error: { code: "client_not_connected", service: botService.name, clientId: "ghost" }, message: expect.stringContaining("ghost") },
      ]);
    });
  });
});
