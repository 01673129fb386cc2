// The library's bidi streams at the edges of the gRPC protocol, driven by a raw node:http2 client:
// broken frames, deadlines, resets. Every case runs on both ways startServer serves the streams
// (the lean path and connect-node) and pins one answer for both, so the two cannot drift apart.
import * as http2 from "node:http2";
import { Code } from "@connectrpc/connect";
import { afterEach, describe, expect, it } from "vitest";
import * as demoBot from "@streamcmd/demo-protocol";
import { CommandErrorDetailSchema } from "./index.js";
import { ExecuteStreamRequestSchema } from "./gen/streamcmd/v1/command_router_pb.js";
import { startCommand, testScope } from "./test-support/bot-server.js";
import { framed, framedMessage, rawCall, rawSession, type RawStatus } from "./test-support/raw-grpc.js";
import { botStreamPath, bystander, bystanderStillWorks, executeCall, executeStreamPath, servingPaths } from "./test-support/serving-paths.js";

const scope = testScope();
afterEach(() => scope.closeAll());

const framedHello = (botId: string): Buffer => framedMessage(demoBot.ConnectRequestSchema, { message: { case: "hello", value: { botId, version: "raw" } } });
/** Bytes that are no protobuf message: a tag with field number 2^29-1 and wire type 7. */
const garbage = Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f]);
const helloBytes = framedHello("cut-short");
/** grpc-status 0: the call ended without an error. */
const grpcOk = 0;

/** The status and message of a raw call's end, and the code of its error detail, if any. */
function outcome({ status, message, error }: RawStatus): { status: number | undefined; message: string | undefined; detail: string | undefined } {
  return { status, message, detail: error?.findDetails(CommandErrorDetailSchema)[0]?.code };
}

/** The stream's read failed: the hub drops the bot with a protocol error naming the reader's words. */
const streamFailed = (reason: string) => ({ status: Code.InvalidArgument, message: `the client's stream failed: ${reason}`, detail: "protocol_error" });

/**
 * Broken input on the bot stream, each sent on its own stream which then ends: what both paths
 * answer (the bot stream's message limit is 64 KiB here).
 */
const brokenFrames: [string, Buffer[], ReturnType<typeof outcome>][] = [
  ["garbage bytes in a frame, as the first message", [framed(garbage)], streamFailed("[internal] parse binary: illegal tag: field no 536870911 wire type 7")],
  ["garbage bytes in a frame, after the hello", [framedHello("garbled"), framed(garbage)], streamFailed("[internal] parse binary: illegal tag: field no 536870911 wire type 7")],
  ["a frame flagged compressed with no grpc-encoding", [framedHello("squeezed"), framed(Buffer.from([8, 1]), 1)], streamFailed("[internal] received compressed envelope, but do not know how to decompress")],
  ["a length prefix over the limit (no body follows)", [Buffer.from([0, 0, 2, 0, 0])], { status: Code.ResourceExhausted, message: "message size 131072 is larger than configured readMaxBytes 65536", detail: undefined }],
  ["a message cut short, then the end of the stream", [helloBytes.subarray(0, helloBytes.length - 2)], streamFailed("[invalid_argument] protocol error: incomplete envelope")],
  ["a length prefix cut short, then the end of the stream", [framedHello("half"), Buffer.from([0, 0])], streamFailed("[invalid_argument] protocol error: incomplete envelope")],
];

describe.each(servingPaths)("protocol edges over raw HTTP/2, $path path", ({ leanStreams }) => {
  const server = (options: Parameters<typeof scope.server>[0] = {}) => scope.server({ ...options, leanStreams });

  describe("malformed frames", () => {
    it.each(brokenFrames)("%s: the same status on both paths, and the server serves on", async (_, chunks, expected) => {
      const bots = await server({ readMaxBytes: 64 * 1024 });
      await bystander(scope, bots);
      const call = rawCall(rawSession(bots.url, scope.defer), botStreamPath);
      for (const chunk of chunks) call.stream.write(chunk);
      call.stream.end();
      expect(outcome(await call.ended)).toEqual(expected);
      expect(bots.hub.clients().map((client) => client.clientId)).toEqual(["bystander"]);
      await bystanderStillWorks(bots);
    });

    it("garbage on an ExecuteStream: the caller's stream ends INVALID_ARGUMENT, saying why; a cut-short one too", async () => {
      const bots = await server();
      for (const chunk of [framed(garbage), Buffer.from([0, 0])]) {
        const call = rawCall(rawSession(bots.url, scope.defer), executeStreamPath);
        call.stream.end(chunk);
        const ended = outcome(await call.ended);
        expect(ended).toMatchObject({ status: Code.InvalidArgument, detail: "invalid_argument" });
        expect(ended.message).toMatch(/^the caller's stream failed: /);
      }
    });

    it("the over-limit refusal comes before the message's bytes do: the stream is still open when it is answered", async () => {
      const bots = await server({ readMaxBytes: 64 * 1024 });
      const call = rawCall(rawSession(bots.url, scope.defer), botStreamPath);
      call.stream.write(framedHello("big-mouth"));
      call.stream.write(Buffer.concat([Buffer.from([0, 0, 0x10, 0, 0]), Buffer.alloc(1024)])); // 1 MiB announced, 1 KiB sent
      expect(outcome(await call.ended)).toMatchObject({ status: Code.ResourceExhausted, message: "message size 1048576 is larger than configured readMaxBytes 65536" });
      expect(call.stream.writableEnded).toBe(false);
      await expect.poll(() => bots.hub.isConnected("big-mouth")).toBe(false);
    });
  });

  describe("deadlines (grpc-timeout)", () => {
    it("an ExecuteStream call whose command is never answered: the call ends at its deadline, the command is cancelled", async () => {
      const bots = await server();
      scope.agent(bots.url, "mute", { onCommand: () => new Promise(() => {}) });
      await bots.hub.waitForClient("mute", { timeoutMs: 5_000 });
      const call = rawCall(rawSession(bots.url, scope.defer), executeStreamPath, { "grpc-timeout": "200m" });
      const started = performance.now();
      call.stream.write(framedMessage(ExecuteStreamRequestSchema, { calls: [executeCall(1n, "mute", "never answered", 60_000)] }));
      // The stream ends DEADLINE_EXCEEDED (4), with no answer for the call it cut short.
      expect(outcome(await call.ended)).toMatchObject({ status: 4, detail: undefined });
      const elapsed = performance.now() - started;
      expect(elapsed).toBeGreaterThanOrEqual(150);
      expect(elapsed).toBeLessThan(3_000);
      expect(call.received()).toBe(0);
      // The command was under way (sent to the agent) and was cancelled when the deadline passed.
      await expect.poll(() => bots.hub.stats().pendingCommands).toBe(0);
      expect(bots.hub.stats()).toMatchObject({ commandsSent: 1, cancellations: 1 });
    });

    it("a bot stream with a deadline: the hub drops the bot when it passes", async () => {
      const bots = await server();
      const reasons: string[] = [];
      bots.hub.onDisconnect((event) => reasons.push(event.reason));
      const call = rawCall(rawSession(bots.url, scope.defer), botStreamPath, { "grpc-timeout": "200m" });
      call.stream.write(framedHello("short-lived"));
      await bots.hub.waitForClient("short-lived", { timeoutMs: 5_000 });
      const started = performance.now();
      expect(outcome(await call.ended)).toEqual({ status: grpcOk, message: undefined, detail: undefined });
      expect(performance.now() - started).toBeLessThan(3_000);
      expect(reasons).toEqual(["cancelled"]);
    });

    it("a malformed grpc-timeout (abc): INVALID_ARGUMENT", async () => {
      const bots = await server();
      const call = rawCall(rawSession(bots.url, scope.defer), botStreamPath, { "grpc-timeout": "abc" });
      call.stream.end(framedHello("impatient"));
      expect(outcome(await call.ended)).toEqual(streamFailed("[invalid_argument] protocol error: invalid grpc timeout value: abc"));
      expect(bots.hub.isConnected("impatient")).toBe(false);
    });
  });

  describe("cancellation (RST_STREAM CANCEL from the client)", () => {
    it("a bot that resets its stream is disconnected at once; its pending command fails with ClientDisconnectedError", async () => {
      const bots = await server();
      const reasons: string[] = [];
      bots.hub.onDisconnect((event) => reasons.push(event.reason));
      const call = rawCall(rawSession(bots.url, scope.defer), botStreamPath);
      call.stream.write(framedHello("quitter"));
      await bots.hub.waitForClient("quitter", { timeoutMs: 5_000 });
      const pending = bots.hub.send("quitter", startCommand("never answered"), { timeoutMs: 30_000 }).catch((error: unknown) => error);
      await expect.poll(() => bots.hub.client("quitter")?.pendingCommands).toBe(1);
      const started = performance.now();
      call.stream.close(http2.constants.NGHTTP2_CANCEL);
      expect(await pending).toMatchObject({ name: "ClientDisconnectedError", code: "client_disconnected", clientId: "quitter" });
      expect(performance.now() - started).toBeLessThan(1_000);
      expect(bots.hub.isConnected("quitter")).toBe(false);
      expect(reasons).toEqual(["client_closed"]);
      expect(await call.closed).toBe(http2.constants.NGHTTP2_CANCEL);
    });

    it("an ExecuteStream caller that resets its stream: its call's command is cancelled on the hub", async () => {
      const bots = await server();
      scope.agent(bots.url, "mute", { onCommand: () => new Promise(() => {}) });
      await bots.hub.waitForClient("mute", { timeoutMs: 5_000 });
      const call = rawCall(rawSession(bots.url, scope.defer), executeStreamPath);
      call.stream.write(framedMessage(ExecuteStreamRequestSchema, { calls: [executeCall(1n, "mute", "given up on", 60_000)] }));
      await expect.poll(() => bots.hub.stats().pendingCommands).toBe(1);
      call.stream.close(http2.constants.NGHTTP2_CANCEL);
      await expect.poll(() => bots.hub.stats().pendingCommands, { timeout: 1_000 }).toBe(0);
      expect(bots.hub.stats().cancellations).toBe(1);
      expect(bots.hub.isConnected("mute")).toBe(true);
    });
  });
});
