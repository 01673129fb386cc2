// One benchmark process: `node worker.js ROLE ARGS_JSON`. Servers (and the cross-process callers)
// run the timing loops themselves, so what is measured never crosses the IPC channel.
import { createServer as createHttpServer } from "node:http";
import type { AddressInfo } from "node:net";
import { create } from "@bufbuild/protobuf";
import { anyPack, anyUnpack } from "@bufbuild/protobuf/wkt";
import { createClient, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import * as grpc from "@grpc/grpc-js";
import { createCommandClient, createStreamingService, type StreamingCommandClient } from "@streamcmd/core";
import { delay, PushQueue } from "@streamcmd/core/internal";
import {
  botAgentBinding,
  BotService,
  botService,
  CommandResultSchema,
  ConnectRequestSchema,
  ConnectResponseSchema,
  type CommandResult,
  type ConnectRequest,
  type ConnectResponse,
} from "@streamcmd/demo-protocol";
import { createHarness, demoBotProtocol } from "@streamcmd/testing";
import {
  CommandRouterService,
  connectAgent,
  createCommandRouter,
  createRemoteRouter,
  createStreamHandler,
  markAuthenticated,
  startServer,
  type Agent,
} from "@streamcmd/transport-connect";
import { Server as SocketServer, type Socket } from "socket.io";
import { io as socketClient, type Socket as ClientSocket } from "socket.io-client";
import { serveWorker } from "./ipc.js";
import { benchLimits, connectAll, gcMemory, loops, scaleOps, type Send } from "./worker-kit.js";
import { clusterRoles } from "./cluster-roles.js";
import { floorRoles } from "./floor-roles.js";
import { benchCommand, benchHello, benchReply, fromBinary, socketPayload, socketReply, toBinary } from "./payload.js";

const [role = "", rawArgs = "{}"] = process.argv.slice(2);
const args = JSON.parse(rawArgs) as Record<string, unknown>;
const [str, num] = [(key: string): string => String(args[key]), (key: string): number => Number(args[key])];

const roles: Record<string, () => Promise<void>> = {
  // a: streamcmd same-process (caller in the server process) and the server for b.
  async "streamcmd-server"() {
    const hub = createStreamingService(botService, { heartbeatTimeoutMs: 0, maxQueueSize: 1024 });
    const server = await startServer({
      limits: benchLimits,
      routes(router) {
        router.service(BotService, { connect: createStreamHandler(hub, { allowUnauthenticated: true }) });
        router.service(CommandRouterService, createCommandRouter({ services: [hub], allowUnauthenticated: true }));
      },
    });
    const command = benchCommand();
    const clients = new Map<string, StreamingCommandClient<ConnectResponse, CommandResult>>();
    const send: Send = (target) => {
      let client = clients.get(target);
      if (client === undefined) {
        client = createCommandClient(hub, { clientId: target });
        clients.set(target, client);
      }
      return client.send(command);
    };
    serveWorker(
      { url: server.url },
      loops(
        send,
        scaleOps(
          () => hub.clients().length,
          async () => (await hub.broadcast(command, { timeoutMs: 60_000 })).map((o) => o.ok),
        ),
      ),
    );
  },

  // The bot side for a and b: real agents (the library's runtime), each on its own HTTP/2 connection.
  async "streamcmd-bots"() {
    const agents: Agent[] = [];
    const connectMs = await connectAll(num("count"), 100, async (i) => {
      const botId = `${str("prefix")}${i}`;
      const agent = connectAgent({
        baseUrl: str("url"),
        method: BotService.method.connect,
        clientId: botId,
        metadata: { version: "bench" },
        binding: botAgentBinding,
        onCommand: (command) => benchReply(command.commandId),
        heartbeatIntervalMs: 0,
        maxConcurrentCommands: 64,
      });
      agents.push(agent);
      await agent.waitUntilConnected();
    });
    serveWorker({ connectMs }, { memory: async () => gcMemory() });
  },

  // b (and i, with executeVia "unary"): a caller in a third process, through the CommandRouter.
  async "streamcmd-caller"() {
    const router = createRemoteRouter({ baseUrl: str("url"), executeVia: args["executeVia"] === "unary" ? "unary" : "stream" });
    const command = benchCommand();
    const clients = new Map<string, StreamingCommandClient<ConnectResponse, CommandResult>>();
    const send: Send = (target) => {
      let client = clients.get(target);
      if (client === undefined) {
        client = createCommandClient(botService, { clientId: target, router });
        clients.set(target, client);
      }
      return client.send(command);
    };
    serveWorker({}, loops(send));
  },

  // c (server-initiated ping-pong on a raw Connect bidi stream) and the server for d (a naive unary relay).
  async "connect-server"() {
    const streams = new Map<string, RawStream>();
    const server = await startServer({
      limits: benchLimits,
      routes(router) {
        router.service(BotService, {
          connect: async function* (requests: AsyncIterable<ConnectRequest>, context: HandlerContext) {
            markAuthenticated(context); // a long-lived stream of our own on startServer
            const stream = new RawStream();
            void (async () => {
              for await (const request of requests) {
                if (request.message.case === "hello") streams.set(request.message.value.botId, stream);
                else if (request.message.case === "result") stream.resolve(request.message.value);
              }
            })();
            context.signal.addEventListener("abort", () => stream.outgoing.end());
            yield* stream.outgoing;
          },
        });
        // Only Execute: d, a naive relay written for the bench, one unary call per command (not a floor
        // under b: b multiplexes on one stream; j is the floor under b). Connect answers the rest Unimplemented.
        const naive: Partial<ServiceImpl<typeof CommandRouterService>> = {
          async execute(request) {
            const stream = streams.get(request.clientId);
            if (stream === undefined || request.command === undefined) throw new Error("no such bot");
            const command = anyUnpack(request.command, ConnectResponseSchema);
            if (command === undefined) throw new Error("not a bot command");
            return { reply: anyPack(CommandResultSchema, await stream.send(command)) };
          },
        };
        router.service(CommandRouterService, naive);
      },
    });
    const command = benchCommand();
    serveWorker(
      { url: server.url },
      loops((target) => (streams.get(target) as RawStream).send(command), { clients: async () => streams.size }),
    );
  },

  // The bot side for c and d: a bare Connect bidi client that echoes.
  async "connect-bots"() {
    const connectMs = await connectAll(num("count"), 100, async (i) => {
      const botId = `${str("prefix")}${i}`;
      const client = createClient(BotService, createGrpcTransport({ baseUrl: str("url") }));
      const outbox = new PushQueue<ConnectRequest>();
      outbox.tryPush(benchHello(botId));
      void (async () => {
        for await (const command of client.connect(outbox)) outbox.tryPush(create(ConnectRequestSchema, { message: { case: "result", value: benchReply(command.commandId) } }));
      })().catch(() => {}); // the stream ends when the bench stops the server
    });
    serveWorker({ connectMs }, {});
  },

  // d: a caller in a third process: one unary call per command, relayed as one ping-pong on the server.
  async "connect-caller"() {
    const client = createClient(CommandRouterService, createGrpcTransport({ baseUrl: str("url") }));
    const command = anyPack(ConnectResponseSchema, benchCommand());
    serveWorker({}, loops((target) => client.execute({ service: botService.name, clientId: target, command })));
  },

  // e: @grpc/grpc-js on both ends, server-initiated ping-pong on a bidi stream.
  async "grpcjs-server"() {
    const streams = new Map<string, { call: grpc.ServerDuplexStream<ConnectRequest, ConnectResponse>; pending: Map<string, (r: CommandResult) => void> }>();
    const server = new grpc.Server();
    server.addService(
      {
        connect: {
          path: "/demo.bot.v1.BotService/Connect",
          requestStream: true,
          responseStream: true,
          requestSerialize: (m: ConnectRequest) => Buffer.from(toBinary(ConnectRequestSchema, m)),
          requestDeserialize: (b: Buffer) => fromBinary(ConnectRequestSchema, b),
          responseSerialize: (m: ConnectResponse) => Buffer.from(toBinary(ConnectResponseSchema, m)),
          responseDeserialize: (b: Buffer) => fromBinary(ConnectResponseSchema, b),
        },
      },
      {
        connect: (call: grpc.ServerDuplexStream<ConnectRequest, ConnectResponse>) => {
          const entry = { call, pending: new Map<string, (r: CommandResult) => void>() };
          call.on("data", (request: ConnectRequest) => {
            if (request.message.case === "hello") {
              streams.set(request.message.value.botId, entry);
              call.sendMetadata(new grpc.Metadata()); // the welcome the scale scenario's bots wait for
            } else if (request.message.case === "result") {
              const resolve = entry.pending.get(request.message.value.commandId);
              entry.pending.delete(request.message.value.commandId);
              resolve?.(request.message.value);
            }
          });
          call.on("error", () => {});
        },
      },
    );
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (error, p) => (error ? reject(error) : resolve(p))),
    );
    let counter = 0;
    const send: Send = (target) => {
      const entry = streams.get(target);
      if (entry === undefined) return Promise.reject(new Error(`no bot ${target}`));
      const commandId = String(counter++);
      return new Promise((resolve) => {
        entry.pending.set(commandId, resolve);
        entry.call.write(create(ConnectResponseSchema, { commandId, command: benchCommand().command }));
      });
    };
    const toAll = async () => (await Promise.allSettled([...streams.keys()].map(send))).map((o) => o.status === "fulfilled");
    serveWorker({ url: `127.0.0.1:${port}` }, loops(send, scaleOps(() => streams.size, toAll)));
  },

  async "grpcjs-bots"() {
    const connectMs = await connectAll(num("count"), 100, async (i) => {
      const botId = `${str("prefix")}${i}`;
      const client = new grpc.Client(str("url"), grpc.credentials.createInsecure(), { "grpc.use_local_subchannel_pool": 1 });
      const call = client.makeBidiStreamRequest(
        "/demo.bot.v1.BotService/Connect",
        (m: ConnectRequest) => Buffer.from(toBinary(ConnectRequestSchema, m)),
        (b: Buffer) => fromBinary(ConnectResponseSchema, b),
      );
      call.on("data", (command: ConnectResponse) =>
        call.write(create(ConnectRequestSchema, { message: { case: "result", value: benchReply(command.commandId) } })),
      );
      call.on("error", () => {});
      call.write(benchHello(botId));
      // The scale scenario counts a bot as connected once the server welcomed it (its response headers).
      if (args["confirm"] === true) await new Promise((resolve, reject) => call.once("metadata", resolve).once("error", reject));
    });
    serveWorker({ connectMs }, {});
  },

  // f: Socket.IO, websocket transport, `timeout().emitWithAck()` to one socket.
  async "socketio-server"() {
    const sockets = new Map<string, Socket>();
    const httpServer = createHttpServer();
    const io = new SocketServer(httpServer, { transports: ["websocket"], serveClient: false });
    io.on("connection", (socket) => {
      const id = String(socket.handshake.query["id"]);
      sockets.set(id, socket);
      socket.on("disconnect", () => sockets.delete(id));
    });
    await new Promise<void>((resolve) => httpServer.listen(0, "127.0.0.1", resolve));
    const port = (httpServer.address() as AddressInfo).port;
    const send: Send = (target) => (sockets.get(target) as Socket).timeout(10_000).emitWithAck("command", socketPayload);
    // Socket.IO's own broadcast with acknowledgements: one emit to every socket, every ack back.
    const toAll = async () => {
      const acks = (await io.timeout(60_000).emitWithAck("command", socketPayload).catch(() => [])) as unknown[];
      return Array.from({ length: sockets.size }, (_, i) => i < acks.length);
    };
    serveWorker({ url: `http://127.0.0.1:${port}` }, loops(send, scaleOps(() => sockets.size, toAll)));
  },

  async "socketio-bots"() {
    const sockets: ClientSocket[] = [];
    const connectMs = await connectAll(num("count"), 100, async (i) => {
      const socket = socketClient(str("url"), { transports: ["websocket"], query: { id: `${str("prefix")}${i}` }, reconnection: false, forceNew: true });
      socket.on("command", (_payload: unknown, ack: (reply: unknown) => void) => ack(socketReply));
      sockets.push(socket);
      await new Promise<void>((resolve, reject) => {
        socket.once("connect", resolve);
        socket.once("connect_error", reject);
      });
    });
    serveWorker({ connectMs }, {});
  },

  // The library's own memory per client: the hub with N in-memory clients, no sockets.
  async "hub-memory"() {
    const count = num("count");
    const before = gcMemory();
    const harness = createHarness(demoBotProtocol, { serviceOptions: { heartbeatTimeoutMs: 0 } });
    for (let i = 0; i < count; i++) harness.openStream().incoming.push(benchHello(`bot-${i}`));
    while (harness.service.clients().length < count) await delay(10);
    const after = gcMemory();
    serveWorker({ heapPerClient: (after.heapUsed - before.heapUsed) / count, rssPerClient: (after.rss - before.rss) / count }, {});
  },
};

/** Internal: the floor under the hub: a stream with a map of pending replies, nothing else. */
class RawStream {
  readonly outgoing = new PushQueue<ConnectResponse>();
  private pending = new Map<string, (reply: CommandResult) => void>();
  private counter = 0;
  send(command: ConnectResponse): Promise<CommandResult> {
    const commandId = String(this.counter++);
    return new Promise((resolve) => {
      this.pending.set(commandId, resolve);
      this.outgoing.tryPush(create(ConnectResponseSchema, { commandId, command: command.command }));
    });
  }
  resolve(result: CommandResult): void {
    const resolve = this.pending.get(result.commandId);
    this.pending.delete(result.commandId);
    resolve?.(result);
  }
}

const run = ({ ...roles, ...clusterRoles(args), ...floorRoles(args) } as Record<string, () => Promise<void>>)[role];
if (run === undefined) {
  process.send?.({ type: "failed", error: `unknown role ${role}` });
  process.exit(2);
}
run().catch((error: unknown) => {
  process.send?.({ type: "failed", error: error instanceof Error ? error.stack ?? error.message : String(error) });
  process.exit(1);
});
for (const signal of ["SIGTERM", "SIGINT"] as const) process.on(signal, () => process.exit(0));
