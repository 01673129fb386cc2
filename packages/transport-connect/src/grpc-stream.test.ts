import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { create, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { Http2SessionManager } from "@connectrpc/connect-node";
import { afterEach, describe, expect, it } from "vitest";
import * as demoBot from "@streamcmd/demo-protocol";
import { PushQueue } from "@streamcmd/core/internal";
import { grpcBidiCall } from "./grpc-stream.js";

const closers: (() => unknown)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

/** A raw HTTP/2 server whose every stream `handle` answers, and a call of the demo's Connect method to it. */
async function serve(handle: (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => void) {
  const server = http2.createServer();
  server.on("stream", (stream, headers) => {
    stream.on("error", () => {}); // the resets the tests make
    handle(stream, headers);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  closers.push(() => new Promise((resolve) => server.close(resolve)));
  const sessionManager = new Http2SessionManager(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  closers.push(() => sessionManager.abort());
  const call = grpcBidiCall(sessionManager, demoBot.BotService.method.connect, async () => "Bearer t0ken");
  const requests = new PushQueue<demoBot.ConnectRequest>();
  closers.push(() => requests.end());
  const controller = new AbortController();
  return { requests, controller, responses: call(requests, { signal: controller.signal, headers: { "x-extra": "1" } }) };
}

/** Reads a call to its end: the messages, and the error it ended with. */
async function drain<T>(responses: AsyncIterable<T>): Promise<{ messages: T[]; error?: ConnectError }> {
  const messages: T[] = [];
  try {
    for await (const message of responses) messages.push(message);
    return { messages };
  } catch (error) {
    return { messages, error: error as ConnectError };
  }
}

function frame(bytes: Uint8Array, flags = 0): Buffer {
  const header = Buffer.alloc(5);
  header[0] = flags;
  header.writeUInt32BE(bytes.byteLength, 1);
  return Buffer.concat([header, bytes]);
}
const welcome = toBinary(demoBot.ConnectResponseSchema, create(demoBot.ConnectResponseSchema, { command: { case: "welcome", value: { botId: "b" } } }));
const grpcHeaders = { ":status": 200, "content-type": "application/grpc+proto" };

describe("the agent's and the command stream's own gRPC client", () => {
  it("sends gRPC request headers with the credential, frames split anywhere, and the trailers' status", async () => {
    let seen: http2.IncomingHttpHeaders = {};
    const { requests, responses } = await serve((stream, headers) => {
      seen = headers;
      stream.respond(grpcHeaders, { waitForTrailers: true });
      const bytes = Buffer.concat([frame(welcome), frame(welcome)]);
      for (let i = 0; i < bytes.length; i++) stream.write(bytes.subarray(i, i + 1)); // one byte per DATA frame
      stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "9", "grpc-message": "not%20now" }));
      stream.end();
    });
    requests.tryPush(create(demoBot.ConnectRequestSchema, { message: { case: "hello", value: { botId: "b" } } }));
    const { messages, error } = await drain(responses);
    expect(messages.map((m) => m.command.case)).toEqual(["welcome", "welcome"]);
    expect(error).toMatchObject({ code: Code.FailedPrecondition, rawMessage: "not now" });
    expect(seen).toMatchObject({ ":path": "/demo.bot.v1.BotService/Connect", "content-type": "application/grpc+proto", te: "trailers", authorization: "Bearer t0ken", "x-extra": "1" });
  });

  it.each([
    ["a compressed message (none was negotiated)", (s: http2.ServerHttp2Stream) => (s.respond(grpcHeaders), s.end(frame(welcome, 1))), Code.Internal, /compressed/],
    ["a stream that ends right after a length prefix", (s: http2.ServerHttp2Stream) => (s.respond(grpcHeaders), s.end(frame(welcome).subarray(0, 5))), Code.Internal, /inside a message/],
    ["a stream that ends inside a message", (s: http2.ServerHttp2Stream) => (s.respond(grpcHeaders), s.end(frame(welcome).subarray(0, 7))), Code.Internal, /inside a message/],
    ["no status at all (a connection lost)", (s: http2.ServerHttp2Stream) => (s.respond(grpcHeaders), s.end()), Code.Unavailable, /without a status/],
    ["trailers without grpc-status", (s: http2.ServerHttp2Stream) => (s.respond(grpcHeaders, { waitForTrailers: true }), s.on("wantTrailers", () => s.sendTrailers({ "x-other": "1" })), s.end()), Code.Internal, /missing status/],
    ["bytes that are not the message", (s: http2.ServerHttp2Stream) => (s.respond(grpcHeaders), s.end(frame(Buffer.from([0xff, 0xff, 0xff])))), Code.Internal, /could not be parsed/],
    ["an HTML page", (s: http2.ServerHttp2Stream) => (s.respond({ ":status": 200, "content-type": "text/html" }), s.end("<html>")), Code.Unknown, /text\/html/],
    ["a length prefix of 1 GiB (refused before its bytes come)", (s: http2.ServerHttp2Stream) => (s.respond(grpcHeaders), s.write(Buffer.from([0, 0x40, 0, 0, 0]))), Code.ResourceExhausted, /over the client's limit/],
    ["HTTP 503", (s: http2.ServerHttp2Stream) => (s.respond({ ":status": 503 }), s.end()), Code.Unavailable, /503/],
    ["a trailers-only refusal", (s: http2.ServerHttp2Stream) => s.respond({ ...grpcHeaders, "grpc-status": "16", "grpc-message": "who are you" }, { endStream: true }), Code.Unauthenticated, /who are you/],
    ["a reset (REFUSED_STREAM)", (s: http2.ServerHttp2Stream) => s.close(http2.constants.NGHTTP2_REFUSED_STREAM), Code.Internal, /NGHTTP2_REFUSED_STREAM/],
  ] as const)("fails with a typed status on %s", async (_, handle, code, message) => {
    const { responses } = await serve(handle);
    const { error } = await drain(responses);
    expect(error).toBeInstanceOf(ConnectError);
    expect(error?.code).toBe(code);
    expect(error?.rawMessage).toMatch(message);
  });

  it("a caller's abort ends the call as cancelled and resets the stream", async () => {
    let reset: number | undefined;
    const { controller, responses } = await serve((stream) => {
      stream.respond(grpcHeaders);
      stream.write(frame(welcome));
      stream.on("close", () => (reset = stream.rstCode));
    });
    const reading = drain(responses);
    await new Promise((resolve) => setTimeout(resolve, 50));
    controller.abort(new Error("caller gave up"));
    const { messages, error } = await reading;
    expect(messages).toHaveLength(1);
    expect(error).toMatchObject({ code: Code.Canceled });
    await expect.poll(() => reset).toBe(http2.constants.NGHTTP2_CANCEL);
  });

  it("a server that does not read holds the writer back: it stops taking requests instead of buffering them", async () => {
    const { requests, responses } = await serve((stream) => {
      stream.respond(grpcHeaders);
      stream.pause(); // never reads: HTTP/2 flow control fills up
    });
    void drain(responses);
    const big = create(demoBot.ConnectRequestSchema, { message: { case: "hello", value: { botId: "x".repeat(16 * 1024) } } });
    for (let i = 0; i < 2_000; i++) requests.tryPush(big); // 32 MiB offered
    await expect.poll(() => requests.size, { timeout: 5_000 }).toBeLessThan(2_000);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const taken = 2_000 - requests.size;
    expect(taken).toBeLessThan(200); // a few windows' worth, not everything
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(2_000 - requests.size).toBe(taken);
  });
});
