// The library's bidi streams at their size and flow-control limits, on both ways startServer serves
// them (the lean path and connect-node): messages near and over the limit, a bot that stops
// reading, a client that never ends its side of finished calls.
import { create } from "@bufbuild/protobuf";
import { Code, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import * as grpc from "@grpc/grpc-js";
import { afterEach, describe, expect, it } from "vitest";
import * as demoBot from "@streamcmd/demo-protocol";
import { CommandRouterService } from "./index.js";
import { startCommand, testScope } from "./test-support/bot-server.js";
import { grpcJsBot, hello } from "./test-support/grpc-js-bot.js";
import { framedMessage, rawCall, rawSession } from "./test-support/raw-grpc.js";
import { botStreamPath, bystander, bystanderStillWorks, executeCall, executeStream, servingPaths, startReply } from "./test-support/serving-paths.js";

const scope = testScope();
afterEach(() => scope.closeAll());

const KiB = 1024;
const MiB = 1024 * KiB;

describe.each(servingPaths)("protocol limits, $path path", ({ leanStreams }) => {
  const server = (options: Parameters<typeof scope.server>[0] = {}) => scope.server({ ...options, leanStreams });

  describe("large messages", () => {
    it("a 60 KiB command and a 60 KiB reply pass intact under a 64 KiB limit, same-process and through ExecuteStream", async () => {
      const bots = await server({ readMaxBytes: 64 * KiB });
      const echoed: number[] = [];
      scope.agent(bots.url, "echo", {
        onCommand: (command) => {
          const reason = command.command.case === "start" ? command.command.value.reason : "";
          echoed.push(reason.length);
          return startReply(command, reason.toUpperCase());
        },
      });
      await bots.hub.waitForClient("echo", { timeoutMs: 5_000 });
      const reason = "abcdefghij".repeat(6 * KiB); // 60 KiB
      const reply = await bots.hub.send("echo", startCommand(reason));
      expect(reply.reply).toMatchObject({ case: "start", value: { detail: reason.toUpperCase() } });
      const answers = await executeStream(createClient(CommandRouterService, createGrpcTransport({ baseUrl: bots.url })), [executeCall(1n, "echo", reason)]);
      expect(answers.get(1n)).toBe(reason.toUpperCase());
      expect(echoed).toEqual([reason.length, reason.length]);
    });

    it.each([
      ["a reply just over a 64 KiB limit", 64 * KiB, 65 * KiB],
      ["a reply over 1 MiB, under the default limit", undefined, MiB + KiB],
    ])("%s: the bot is refused with RESOURCE_EXHAUSTED, its command fails, the bystander works on", async (_, readMaxBytes, replyBytes) => {
      const bots = await server(readMaxBytes === undefined ? {} : { readMaxBytes });
      await bystander(scope, bots);
      const limit = readMaxBytes ?? MiB;
      const bot = grpcJsBot(bots.url, { answer: (command) => create(demoBot.ConnectRequestSchema, { message: { case: "result", value: startReply(command, "x".repeat(replyBytes)) } }) });
      scope.defer(() => bot.close());
      bot.call.write(hello("big-mouth"));
      await bots.hub.waitForClient("big-mouth", { timeoutMs: 5_000 });
      const failure = await bots.hub.send("big-mouth", startCommand("say a lot")).catch((error: unknown) => error);
      expect(failure).toMatchObject({ name: "ClientDisconnectedError", clientId: "big-mouth" });
      const end = await bot.ended;
      expect(end.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
      const [, size, max] = /^message size (\d+) is larger than configured readMaxBytes (\d+)$/.exec(end.details) ?? [];
      expect(Number(max)).toBe(limit);
      // The whole ConnectRequest: the reply's text and a few bytes of protobuf around it.
      expect(Number(size) - replyBytes).toSatisfy((overhead: number) => overhead > 0 && overhead < 64);
      expect(bots.hub.isConnected("big-mouth")).toBe(false);
      await bystanderStillWorks(bots);
    });
  });

  describe("flow control", () => {
    it("a bot that stops reading: the server holds a bounded amount for it, then its queue refuses (QueueFullError); nothing is lost", async () => {
      const maxQueueSize = 32;
      const bots = await server({ serviceOptions: { maxQueueSize } });
      await bystander(scope, bots);
      const call = rawCall(rawSession(bots.url, scope.defer), botStreamPath);
      call.stream.write(framedMessage(demoBot.ConnectRequestSchema, { message: { case: "hello", value: { botId: "slow-reader" } } }));
      await bots.hub.waitForClient("slow-reader", { timeoutMs: 5_000 });
      call.stream.pause(); // reads nothing more: HTTP/2 flow control fills up
      const command = startCommand("y".repeat(16 * KiB));
      let accepted = 0;
      let refusal: unknown;
      while (refusal === undefined && accepted < 2_000) {
        await bots.hub.post("slow-reader", command).then(
          () => void accepted++,
          (error: unknown) => void (refusal = error),
        );
        // Let the server write what it can between posts, as a real sender's pace would.
        if (accepted % 8 === 0) await new Promise((resolve) => setImmediate(resolve));
      }
      expect(refusal).toMatchObject({ name: "QueueFullError", clientId: "slow-reader" });
      // The queue, plus what HTTP/2 windows and the stream's buffer hold: about 1 MiB at most, not 2,000 commands.
      expect(accepted).toBeGreaterThanOrEqual(maxQueueSize);
      expect(accepted).toBeLessThan(maxQueueSize + 64);
      expect(bots.hub.stats().queuedMessages).toBeLessThanOrEqual(maxQueueSize);
      await bystanderStillWorks(bots);
      expect(bots.hub.isConnected("slow-reader")).toBe(true);
      // Once it reads again, every accepted command reaches it.
      call.stream.resume();
      await expect.poll(() => call.received(), { timeout: 5_000 }).toBeGreaterThanOrEqual(accepted * 16 * KiB);
      await expect.poll(() => bots.hub.stats().queuedMessages).toBe(0);
    });
  });

  describe("the end of a call", () => {
    // A finished call resets its stream (RST_STREAM NO_ERROR) while the client's side is still open,
    // as connect-node does; otherwise a client that does not end its side keeps each finished call's
    // stream, and SETTINGS_MAX_CONCURRENT_STREAMS (128) of them stall the connection.
    it("a call the server has finished frees its stream, even while the client's side is open", async () => {
      const bots = await server();
      const session = rawSession(bots.url, scope.defer);
      const notHello = framedMessage(demoBot.ConnectRequestSchema, { message: { case: "heartbeat", value: {} } });
      const timedOut = (ms: number) => new Promise<"no answer">((resolve) => setTimeout(() => resolve("no answer"), ms));
      const statuses: (number | undefined | "no answer")[] = [];
      for (let i = 0; i < 140; i++) {
        const call = rawCall(session, botStreamPath);
        call.stream.write(notHello); // refused: the first message must be a hello
        const answer = await Promise.race([call.ended.then((end) => end.status), timedOut(1_000)]);
        statuses.push(answer);
        if (answer === "no answer") break;
      }
      expect(statuses.findIndex((status) => status !== Code.InvalidArgument), "the first call left unanswered").toBe(-1);
      expect(statuses).toHaveLength(140);
    });
  });
});
