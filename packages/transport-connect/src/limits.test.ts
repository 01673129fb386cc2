import * as http2 from "node:http2";
import * as net from "node:net";
import * as tls from "node:tls";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { PushQueue } from "@streamcmd/core/internal";
import * as demoBot from "@streamcmd/demo-protocol";
import { botAgentBinding, botCommands } from "@streamcmd/demo-protocol";
import { afterEach, describe, expect, it } from "vitest";
import { testScope } from "./test-support/bot-server.js";
import { credentials, secureAgent, startSecureServer, type SecureServer } from "./test-support/secure-server.js";

const scope = testScope();
afterEach(() => scope.closeAll());

/** Small limits, so a test sees them act within a second. */
const limits = { handshakeTimeoutMs: 400, idleTimeoutMs: 400, maxConnectionsPerAddress: 40, maxNewConnectionsPerSecond: 10_000 };

/** A secure server with a connected bystander bot, which must keep answering quickly during every attack. */
async function serverWithBystander(extra: Parameters<typeof startSecureServer>[0] = {}): Promise<SecureServer> {
  const secure = await startSecureServer({ limits, ...extra });
  scope.defer(() => secure.close());
  const bystander = await secureAgent(secure.url, "bystander");
  scope.defer(() => bystander.close());
  await bystander.waitUntilConnected();
  return secure;
}

async function bystanderStillFast(secure: SecureServer): Promise<void> {
  const times: number[] = [];
  for (let i = 0; i < 5; i++) {
    const started = performance.now();
    expect((await secure.hub.send("bystander", botCommands.ping())).reply.case).toBe("ping");
    times.push(performance.now() - started);
  }
  // Generous: the benchmarks measure speed; this only proves the bystander was not starved.
  expect(Math.max(...times)).toBeLessThan(250);
}

/** `count` TCP connections to the server that send nothing. */
function rawSockets(secure: SecureServer, count: number): net.Socket[] {
  return Array.from({ length: count }, () => {
    const socket = net.connect(secure.server.port, "127.0.0.1");
    socket.on("error", () => {});
    scope.defer(() => socket.destroy());
    return socket;
  });
}

const closed = (socket: net.Socket): Promise<void> => new Promise((resolve) => (socket.destroyed ? resolve() : socket.once("close", () => resolve())));

/** A TLS connection (ALPN h2) that sends `bytes` and then nothing. */
async function stallingTls(secure: SecureServer, bytes: string): Promise<tls.TLSSocket> {
  const { ca } = await credentials();
  const socket = tls.connect({ host: "127.0.0.1", port: secure.server.port, ca: ca.cert, ALPNProtocols: ["h2"] });
  socket.on("error", () => {});
  scope.defer(() => socket.destroy());
  await new Promise<void>((resolve, reject) => (socket.once("secureConnect", resolve), socket.once("close", () => reject(new Error("closed before the handshake")))));
  if (bytes !== "") socket.write(bytes);
  return socket;
}

/** A bot's first message, with its version (which the hub reads as metadata). */
const hello = (botId: string, version = ""): demoBot.ConnectRequest => botAgentBinding.hello({ clientId: botId, metadata: { version } });

/** A raw bot stream with a valid token, sending `messages`; resolves with how it ended. */
async function botStream(secure: SecureServer, botId: string, messages: demoBot.ConnectRequest[]): Promise<ConnectError | undefined> {
  const { ca, botToken } = await credentials();
  const transport = createGrpcTransport({ baseUrl: secure.url, nodeOptions: { ca: ca.cert } });
  const requests = new PushQueue<demoBot.ConnectRequest>();
  for (const message of messages) requests.tryPush(message);
  scope.defer(() => requests.close());
  try {
    for await (const _ of createClient(demoBot.BotService, transport).connect(requests, { headers: { authorization: `Bearer ${await botToken(botId)}` } })) void _;
    return undefined;
  } catch (error) {
    return ConnectError.from(error);
  }
}

describe("connections that never finish their handshake are closed within the limit", () => {
  it.each([
    ["only the start of the HTTP/2 preface", "PRI "],
    ["the whole preface and nothing after it", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"],
    ["nothing at all after TLS", ""],
  ])("over TLS: %s", async (_, bytes) => {
    const secure = await serverWithBystander();
    const sockets = await Promise.all(Array.from({ length: 20 }, () => stallingTls(secure, bytes)));
    await bystanderStillFast(secure);
    const started = performance.now();
    await Promise.all(sockets.map(closed));
    expect(performance.now() - started).toBeLessThan(3_000);
    expect(secure.server.limited.handshakeTimeout).toBeGreaterThanOrEqual(20);
    await bystanderStillFast(secure);
  });

  it("TCP connections that never start TLS are closed by the TLS handshake timeout", async () => {
    const secure = await serverWithBystander();
    const sockets = rawSockets(secure, 20);
    await Promise.all(sockets.map(closed));
    await bystanderStillFast(secure);
  });

  it("an address opening connections faster than the rate is refused before any TLS work", async () => {
    const secure = await serverWithBystander({ limits: { ...limits, maxNewConnectionsPerSecond: 20 } });
    const sockets = rawSockets(secure, 35);
    await expect.poll(() => secure.server.limited.refused).toBeGreaterThanOrEqual(10);
    await bystanderStillFast(secure);
    await Promise.all(sockets.map(closed));
  });

  it("closing connections between bursts does not reset an address's rate", async () => {
    const secure = await serverWithBystander({ limits: { ...limits, maxNewConnectionsPerSecond: 20 } });
    const refusedBefore = secure.server.limited.refused;
    for (let burst = 0; burst < 5; burst++) {
      const sockets = rawSockets(secure, 10);
      await new Promise((resolve) => setTimeout(resolve, 20));
      for (const socket of sockets) socket.destroy(); // close them all, then try again at once
      await Promise.all(sockets.map(closed));
    }
    // 50 connections in well under a second against a rate of 20: most bursts past the first are refused.
    expect(secure.server.limited.refused - refusedBefore).toBeGreaterThanOrEqual(20);
    await bystanderStillFast(secure);
  });

  it("connections over the per-address cap are refused at once; the bystander keeps its own", async () => {
    const secure = await serverWithBystander();
    const sockets = rawSockets(secure, 60);
    await expect.poll(() => secure.server.limited.refused).toBeGreaterThanOrEqual(20);
    await bystanderStillFast(secure);
    await Promise.all(sockets.map(closed));
  });
});

describe("sessions and streams", () => {
  it("HTTP/2 connections whose streams are refused (no token) are closed once idle", async () => {
    const secure = await serverWithBystander();
    const { ca } = await credentials();
    const sessions = Array.from({ length: 10 }, () => {
      const session = http2.connect(secure.url, { ca: ca.cert });
      session.on("error", () => {});
      scope.defer(() => session.destroy());
      for (let i = 0; i < 5; i++) {
        const stream = session.request({ ":method": "POST", ":path": "/demo.bot.v1.BotService/Connect", "content-type": "application/grpc", te: "trailers" });
        stream.on("error", () => {});
        stream.resume();
      }
      return session;
    });
    await Promise.all(sessions.map((session) => new Promise((resolve) => (session.closed ? resolve(null) : session.once("close", resolve)))));
    expect(secure.server.limited.idle).toBeGreaterThanOrEqual(10);
    await expect.poll(() => secure.server.sessionsOpen).toBe(1); // the bystander's
    await bystanderStillFast(secure);
  });

  it("a bot declaring a 4 MB message is refused as soon as the length is read (ResourceExhausted)", async () => {
    const secure = await serverWithBystander();
    const { ca, botToken } = await credentials();
    const session = http2.connect(secure.url, { ca: ca.cert });
    session.on("error", () => {});
    scope.defer(() => session.destroy());
    const stream = session.request({
      ":method": "POST",
      ":path": "/demo.bot.v1.BotService/Connect",
      "content-type": "application/grpc",
      te: "trailers",
      authorization: `Bearer ${await botToken("big-frame")}`,
    });
    stream.on("error", () => {});
    const header = Buffer.alloc(5);
    header.writeUInt32BE(4 * 1024 * 1024, 1);
    stream.write(Buffer.concat([header, Buffer.alloc(32 * 1024)])); // and then stalls
    const status = await new Promise<string | undefined>((resolve) => {
      stream.on("trailers", (trailers) => resolve(String(trailers["grpc-status"])));
      stream.on("response", (headers) => headers["grpc-status"] !== undefined && resolve(String(headers["grpc-status"])));
      stream.resume();
    });
    expect(Number(status)).toBe(Code.ResourceExhausted);
    await bystanderStillFast(secure);
  });

  it("a hello with a 3.9 MB version is refused for its size; one with 5 KB of metadata for its metadata", async () => {
    const secure = await serverWithBystander();
    const huge = await botStream(secure, "bot-huge", [hello("bot-huge", "v".repeat(3_900_000))]);
    expect(huge?.code).toBe(Code.ResourceExhausted);
    const wordy = await botStream(secure, "bot-wordy", [hello("bot-wordy", "v".repeat(5_000))]);
    expect(wordy?.code).toBe(Code.InvalidArgument);
    expect(wordy?.rawMessage).toMatch(/metadata is 5007 bytes \(limit 4096\)/);
    expect(secure.hub.clients().map((c) => c.clientId)).toEqual(["bystander"]);
    await bystanderStillFast(secure);
  });

  it("a heartbeat padded with 500,000 unknown fields is refused for its size, and a small padded one holds none of them", async () => {
    const secure = await serverWithBystander();
    const padded = (count: number) => {
      const heartbeat = create(demoBot.ConnectRequestSchema, { message: { case: "heartbeat", value: {} } });
      heartbeat.$unknown = Array.from({ length: count }, () => ({ no: 99, wireType: 0, data: new Uint8Array([1]) }));
      return heartbeat;
    };
    const flooded = await botStream(secure, "bot-padded", [hello("bot-padded"), padded(500_000)]);
    expect(flooded?.code).toBe(Code.ResourceExhausted);
    const seen: demoBot.ConnectRequest[] = [];
    secure.hub.onMessage((clientId, message) => clientId === "bot-light" && seen.push(message));
    const { ca, botToken } = await credentials();
    const requests = new PushQueue<demoBot.ConnectRequest>();
    requests.tryPush(hello("bot-light"));
    requests.tryPush(padded(1_000));
    scope.defer(() => requests.close());
    const transport = createGrpcTransport({ baseUrl: secure.url, nodeOptions: { ca: ca.cert } });
    void (async () => {
      for await (const _ of createClient(demoBot.BotService, transport).connect(requests, { headers: { authorization: `Bearer ${await botToken("bot-light")}` } })) void _;
    })().catch(() => {});
    await expect.poll(() => seen.length).toBe(1);
    expect(seen[0]!.$unknown ?? []).toEqual([]);
    await bystanderStillFast(secure);
  });
});

describe("requests that never finish", () => {
  it("a unary call whose body never ends is cancelled within the limit (it cannot be authenticated before it is read)", async () => {
    const secure = await serverWithBystander();
    const { ca } = await credentials();
    const session = http2.connect(secure.url, { ca: ca.cert });
    session.on("error", () => {});
    scope.defer(() => session.destroy());
    const streams = Array.from({ length: 20 }, () => {
      const stream = session.request({ ":method": "POST", ":path": "/streamcmd.v1.CommandRouterService/ListClients", "content-type": "application/grpc", te: "trailers" });
      stream.on("error", () => {});
      stream.write(Buffer.from([0, 0, 0, 1, 0])); // a 256-byte message is announced, and never comes
      stream.resume();
      return stream;
    });
    const started = performance.now();
    await Promise.all(streams.map((stream) => new Promise((resolve) => (stream.closed ? resolve(null) : stream.once("close", resolve)))));
    expect(performance.now() - started).toBeLessThan(3_000);
    await bystanderStillFast(secure);
  });

  it("an HTTP/1.1 connection over TLS left idle after its request is closed within the idle limit", async () => {
    const secure = await serverWithBystander();
    const { ca } = await credentials();
    const socket = tls.connect({ host: "127.0.0.1", port: secure.server.port, ca: ca.cert, ALPNProtocols: ["http/1.1"] });
    socket.on("error", () => {});
    scope.defer(() => socket.destroy());
    await new Promise((resolve) => socket.once("secureConnect", resolve));
    socket.resume(); // read the answer, so the close that follows it is seen
    socket.write("POST /streamcmd.v1.CommandRouterService/ListClients HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}");
    const started = performance.now();
    await closed(socket);
    expect(performance.now() - started).toBeLessThan(3_000);
  });

  it("an authenticated bot stream stays open past the limit", async () => {
    const secure = await serverWithBystander();
    await new Promise((resolve) => setTimeout(resolve, limits.handshakeTimeoutMs * 2));
    await bystanderStillFast(secure);
    expect(secure.hub.isConnected("bystander")).toBe(true);
  });
});

describe("plaintext (loopback only)", () => {
  it.each([["PRI "], ["GET "]])("a connection that sends %j and stalls is closed within the limit", async (bytes) => {
    const { startServer } = await import("./index.js");
    const server = await startServer({ limits, routes: () => {} });
    scope.defer(() => server.close({ graceMs: 0 }));
    const sockets = Array.from({ length: 10 }, () => {
      const socket = net.connect(server.port, "127.0.0.1", () => socket.write(bytes));
      socket.on("error", () => {});
      scope.defer(() => socket.destroy());
      return socket;
    });
    const started = performance.now();
    await Promise.all(sockets.map(closed));
    expect(performance.now() - started).toBeLessThan(3_000);
  });

  it("refuses to serve plaintext on an address other than loopback unless asked for", async () => {
    const { startServer } = await import("./index.js");
    await expect(startServer({ host: "0.0.0.0", routes: () => {} })).rejects.toThrow(/refusing to serve plaintext on 0.0.0.0: pass tls/);
  });
});
