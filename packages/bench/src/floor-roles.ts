// Bench workers of contender j, the floor under b: b's topology (caller process → server process →
// bot processes, each bot on its own HTTP/2 connection) with no streamcmd and no RPC library.
// The caller multiplexes calls by id on one bare HTTP/2 stream; the server relays each to the bot's
// stream as a demo-protocol command and the bot's reply back. Both legs frame messages as gRPC
// does (raw-grpc.ts). No deadlines, errors, cancels or backpressure: what is left is what any
// cross-process relay over one multiplexed stream pays, so b can come near it but not below it.
import * as http2 from "node:http2";
import { connect as tcpConnect, type AddressInfo, type Socket } from "node:net";
import { create } from "@bufbuild/protobuf";
import { CommandResultSchema, type CommandResult } from "@streamcmd/demo-protocol";
import { serveWorker } from "./ipc.js";
import { benchCommand, benchHello, benchReply, ConnectRequestSchema, ConnectResponseSchema, fromBinary, toBinary } from "./payload.js";
import { frame, frameWriter, grpcHeaders, readFrames } from "./raw-grpc.js";
import { connectAll, loops, type Send } from "./worker-kit.js";

/** The bots' bidi method (the demo protocol's), and the caller's relay stream (the floor's own). */
const botPath = "/demo.bot.v1.BotService/Connect";
const relayPath = "/bench.floor.v1.Relay/Calls";

/*
 * A relay message, caller → server: [call id: 4 bytes][target length: 1 byte][target, UTF-8][the
 * command: a demo-protocol ConnectResponse without its id]. Server → caller: [call id][the bot's
 * CommandResult]. The server decodes and re-encodes the command, as any typed relay must.
 */

/** Internal: `n` as 4 bytes, big-endian. */
function u32(n: number): Buffer {
  const bytes = Buffer.allocUnsafe(4);
  bytes.writeUInt32BE(n);
  return bytes;
}

/** An HTTP/2 session to `url` with Nagle off, as the library's own client and the bench servers have it. */
function connectSession(url: string): http2.ClientHttp2Session {
  const { hostname, port } = new URL(url);
  const session = http2.connect(url, { createConnection: () => tcpConnect({ host: hostname, port: Number(port), noDelay: true }) });
  session.on("error", () => {}); // the bench stops the server under it
  return session;
}

/** The floor's roles, reading their arguments from `args`. */
export function floorRoles(args: Record<string, unknown>): Record<string, () => Promise<void>> {
  return {
    async "floor-server"() {
      /** Each connected bot's frame writer, by bot id. */
      const bots = new Map<string, (framed: Buffer) => void>();
      /** Commands sent to a bot and not answered yet: command id → where the answer goes. */
      const pending = new Map<string, { reply: (framed: Buffer) => void; callId: number }>();
      let counter = 0;
      const server = http2.createServer();
      server.on("connection", (socket: Socket) => socket.setNoDelay(true));
      server.on("stream", (stream, headers) => {
        stream.on("error", () => {});
        const path = headers[":path"];
        if (path !== botPath && path !== relayPath) {
          stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
          return;
        }
        stream.respond({ ":status": 200, "content-type": "application/grpc" });
        const write = frameWriter(stream);
        if (path === botPath) {
          readFrames(stream, (message) => {
            const request = fromBinary(ConnectRequestSchema, message);
            if (request.message.case === "hello") bots.set(request.message.value.botId, write);
            else if (request.message.case === "result") {
              const call = pending.get(request.message.value.commandId);
              pending.delete(request.message.value.commandId);
              call?.reply(frame(u32(call.callId), toBinary(CommandResultSchema, request.message.value)));
            }
          });
        } else {
          readFrames(stream, (message) => {
            const targetEnd = 5 + (message[4] as number);
            const command = fromBinary(ConnectResponseSchema, message.subarray(targetEnd));
            command.commandId = String(counter++);
            pending.set(command.commandId, { reply: write, callId: message.readUInt32BE(0) });
            // An unknown target is never answered: the bench only sends to connected bots.
            bots.get(message.toString("utf8", 5, targetEnd))?.(frame(toBinary(ConnectResponseSchema, command)));
          });
        }
      });
      const port = await new Promise<number>((resolve) => server.listen(0, "127.0.0.1", () => resolve((server.address() as AddressInfo).port)));
      serveWorker({ url: `http://127.0.0.1:${port}` }, { clients: async () => bots.size });
    },

    // The bots: each on its own HTTP/2 connection, one bidi stream, echoing like every bench bot.
    async "floor-bots"() {
      const sessions: http2.ClientHttp2Session[] = [];
      const connectMs = await connectAll(Number(args["count"]), 100, async (i) => {
        const session = connectSession(String(args["url"]));
        sessions.push(session);
        const stream = session.request(grpcHeaders(botPath));
        stream.on("error", () => {});
        const write = frameWriter(stream);
        readFrames(stream, (message) => {
          const { commandId } = fromBinary(ConnectResponseSchema, message);
          write(frame(toBinary(ConnectRequestSchema, create(ConnectRequestSchema, { message: { case: "result", value: benchReply(commandId) } }))));
        });
        write(frame(toBinary(ConnectRequestSchema, benchHello(`${String(args["prefix"])}${i}`))));
        await new Promise((resolve, reject) => stream.once("response", resolve).once("error", reject));
      });
      serveWorker({ connectMs, sessions: sessions.length }, {});
    },

    // The caller: one HTTP/2 connection, one stream, calls multiplexed on it by id.
    async "floor-caller"() {
      const stream = connectSession(String(args["url"])).request(grpcHeaders(relayPath));
      stream.on("error", () => {});
      const write = frameWriter(stream);
      const pending = new Map<number, (reply: CommandResult) => void>();
      readFrames(stream, (message) => {
        const callId = message.readUInt32BE(0);
        const resolve = pending.get(callId);
        pending.delete(callId);
        resolve?.(fromBinary(CommandResultSchema, message.subarray(4)));
      });
      const command = benchCommand();
      let counter = 0;
      const send: Send = (target) =>
        new Promise((resolve) => {
          const callId = (counter = (counter + 1) >>> 0);
          pending.set(callId, resolve);
          const to = Buffer.from(target);
          write(frame(u32(callId), Uint8Array.of(to.length), to, toBinary(ConnectResponseSchema, command)));
        });
      serveWorker({}, loops(send));
    },
  };
}
