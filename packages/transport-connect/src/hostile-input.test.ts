// Property-based: random bytes, and random valid-but-hostile messages, on both planes (the bots'
// bidi method and the CommandRouter) never crash the server and never disturb a bystander.
import http2 from "node:http2";
import { create, toBinary } from "@bufbuild/protobuf";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { botService, createBotClient } from "@streamcmd/demo-protocol";
import { ExecuteRequestSchema, ExecuteStreamRequestSchema } from "./gen/streamcmd/v1/command_router_pb.js";
import { createRemoteRouter } from "./index.js";
import { startCommand, testScope, type BotServer } from "./test-support/bot-server.js";

const scope = testScope();
let bots: BotServer;
let session: http2.ClientHttp2Session;
beforeAll(async () => {
  bots = await scope.server();
  scope.agent(bots.url, "bystander");
  await bots.hub.waitForClient("bystander", { timeoutMs: 5_000 });
  session = http2.connect(bots.url);
  session.on("error", () => undefined);
});
afterAll(async () => {
  session.destroy();
  await scope.closeAll();
});

const paths = ["/demo.bot.v1.BotService/Connect", "/streamcmd.v1.CommandRouterService/Execute", "/streamcmd.v1.CommandRouterService/ExecuteStream"];

/** Posts `body` as a gRPC request and reads the answer to its end; resolves with the grpc-status (or the failure). */
function post(path: string, body: Uint8Array, framed: boolean): Promise<string> {
  return new Promise((resolve) => {
    const stream = session.request({ ":method": "POST", ":path": path, "content-type": "application/grpc+proto", te: "trailers" });
    let status = "no status";
    stream.on("response", (headers) => (status = String(headers["grpc-status"] ?? status)));
    stream.on("trailers", (trailers) => (status = String(trailers["grpc-status"] ?? status)));
    stream.on("data", () => undefined);
    stream.on("error", (error) => resolve(`error ${error.message}`));
    stream.on("close", () => resolve(status));
    stream.setTimeout(5_000, () => stream.close(http2.constants.NGHTTP2_CANCEL));
    if (framed) {
      const frame = Buffer.alloc(5 + body.length);
      frame.writeUInt32BE(body.length, 1);
      frame.set(body, 5);
      stream.end(frame);
    } else stream.end(Buffer.from(body));
  });
}

/** A message that parses, with hostile contents: unknown services and ids, empty and huge strings, absurd numbers. */
const hostileExecute = fc.record({
  service: fc.oneof(fc.constant(botService.name), fc.string({ maxLength: 300 })),
  clientId: fc.oneof(fc.constantFrom("bystander", "", " ", "../../etc"), fc.string({ maxLength: 300 })),
  timeoutMs: fc.nat(),
  waitForConnectMs: fc.nat({ max: 50 }),
  queueTimeoutMs: fc.nat({ max: 50 }),
  idempotencyKey: fc.string({ maxLength: 300 }),
});

describe("hostile input on both planes", () => {
  it("random bytes, framed or not, never crash the server or disturb the bystander", async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...paths), fc.uint8Array({ maxLength: 2_048 }), fc.boolean(), async (path, bytes, framed) => {
        await post(path, bytes, framed);
      }),
      { numRuns: 150 },
    );
    const router = createRemoteRouter({ baseUrl: bots.url });
    scope.defer(() => router.close());
    expect((await createBotClient({ clientId: "bystander", router }).start({ reason: "still here" })).detail).toBe("bystander:start:still here");
    expect(bots.hub.isConnected("bystander")).toBe(true);
  }, 60_000);

  it("valid messages with hostile contents get typed refusals (or a reply) and leave the bystander alone", async () => {
    await fc.assert(
      fc.asyncProperty(hostileExecute, fc.boolean(), async (fields, streamed) => {
        const request = create(ExecuteRequestSchema, fields);
        const body = streamed
          ? toBinary(ExecuteStreamRequestSchema, create(ExecuteStreamRequestSchema, { calls: [{ callId: 1n, kind: { case: "execute", value: request } }] }))
          : toBinary(ExecuteRequestSchema, request);
        const status = await post(streamed ? paths[2]! : paths[1]!, body, true);
        expect(status).not.toMatch(/^error/);
      }),
      { numRuns: 150 },
    );
    expect((await bots.hub.send("bystander", startCommand("after hostility"))).reply.case).toBe("start");
    expect(bots.hub.stats().pendingCommands).toBe(0);
  }, 60_000);
});
