import { generateKeyPairSync } from "node:crypto";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import * as grpc from "@grpc/grpc-js";
import { PermissionDeniedError, RouterUnavailableError, UnauthenticatedError, createCommandClient } from "@streamcmd/core";
import { PushQueue } from "@streamcmd/core/internal";
import * as demoBot from "@streamcmd/demo-protocol";
import { botAgentBinding, botCommands, botService, createBotClient } from "@streamcmd/demo-protocol";
import { createCertificateAuthority } from "@streamcmd/testing";
import { SignJWT, UnsecuredJWT } from "jose";
import { afterEach, describe, expect, it } from "vitest";
import { createRemoteRouter, mintToken } from "./index.js";
import { testScope } from "./test-support/bot-server.js";
import { credentials, secureAgent, startSecureServer, type SecureServer } from "./test-support/secure-server.js";

const scope = testScope();
afterEach(() => scope.closeAll());

async function server(options: Parameters<typeof startSecureServer>[0] = {}): Promise<SecureServer> {
  const started = await startSecureServer(options);
  scope.defer(() => started.close());
  return started;
}

async function agent(...args: Parameters<typeof secureAgent>) {
  const started = await secureAgent(...args);
  scope.defer(() => started.close());
  return started;
}

/** A raw bot stream over TLS: sends `messages` with `token` (if any), records what the server sent and how it ended. */
async function rawStream(url: string, token: string | undefined, messages: demoBot.ConnectRequest[]) {
  const { ca } = await credentials();
  const transport = createGrpcTransport({ baseUrl: url, nodeOptions: { ca: ca.cert } });
  const requests = new PushQueue<demoBot.ConnectRequest>();
  for (const message of messages) requests.tryPush(message);
  const received: demoBot.ConnectResponse[] = [];
  const ended = (async (): Promise<ConnectError | undefined> => {
    try {
      for await (const message of createClient(demoBot.BotService, transport).connect(requests, token ? { headers: { authorization: `Bearer ${token}` } } : {})) received.push(message);
      return undefined;
    } catch (error) {
      return ConnectError.from(error);
    }
  })();
  scope.defer(() => requests.close());
  return { requests, received, ended };
}

/** A bot's first message. */
const hello = (botId: string): demoBot.ConnectRequest => botAgentBinding.hello({ clientId: botId });

/** A router for the server's callers: with the given token, or none. */
async function router(url: string, token?: string) {
  const { ca } = await credentials();
  const remote = createRemoteRouter({ baseUrl: url, tls: { ca: ca.cert }, ...(token === undefined ? {} : { token }) });
  scope.defer(() => remote.close());
  return remote;
}

async function bystanderRoundTrip(secure: SecureServer): Promise<number> {
  const started = performance.now();
  const reply = await secure.hub.send("bystander", botCommands.ping());
  expect(reply.reply.case).toBe("ping");
  return performance.now() - started;
}

describe("bots prove who they are (tokens over TLS)", () => {
  it("a bot with its token connects over TLS and is commanded", async () => {
    const secure = await server();
    await (await agent(secure.url, "bot-1")).waitUntilConnected();
    expect((await secure.hub.send("bot-1", botCommands.start({ reason: "go" }))).reply).toMatchObject({ case: "start", value: { detail: "bot-1:start:go" } });
  });

  it("an impostor saying hello as bot-1 without a token is refused; the real bot keeps every command, and nothing reaches the impostor", async () => {
    const secure = await server();
    await (await agent(secure.url, "bot-1")).waitUntilConnected();
    const impostor = await rawStream(secure.url, undefined, [hello("bot-1")]);
    expect((await impostor.ended)?.code).toBe(Code.Unauthenticated);
    expect(impostor.received).toEqual([]);
    const replies = await Promise.all(Array.from({ length: 20 }, () => secure.hub.send("bot-1", botCommands.ping())));
    expect(replies.every((reply) => reply.reply.case === "ping" && reply.reply.value.version === "bot-1:ping")).toBe(true);
  });

  it("a token for bot-2 cannot claim bot-1 in its hello, whatever the duplicate policy", async () => {
    const secure = await server({ serviceOptions: { duplicatePolicy: "reject" } });
    const { botToken } = await credentials();
    const impostor = await rawStream(secure.url, await botToken("bot-2"), [hello("bot-1")]);
    const end = await impostor.ended;
    expect(end?.code).toBe(Code.PermissionDenied);
    expect(end?.rawMessage).toMatch(/authenticated as bot-2 claimed to be bot-1/);
    // The impostor came first, and still the real bot-1 gets in.
    await (await agent(secure.url, "bot-1")).waitUntilConnected();
    expect(secure.hub.clients().map((c) => c.clientId)).toEqual(["bot-1"]);
  });

  it("hundreds of hellos with made-up ids admit no one and run no onConnect", async () => {
    const secure = await server();
    let admitted = 0;
    secure.hub.onConnect(() => admitted++);
    const attempts = await Promise.all(Array.from({ length: 100 }, (_, i) => rawStream(secure.url, undefined, [hello(`fake-${i}-${"x".repeat(200)}`)])));
    const ends = await Promise.all(attempts.map((attempt) => attempt.ended));
    expect(ends.every((end) => end?.code === Code.Unauthenticated)).toBe(true);
    expect([admitted, secure.hub.clients().length]).toEqual([0, 0]);
  });

  it.each([
    ["forged: signed with another key", async () => {
      const other = generateKeyPairSync("ec", { namedCurve: "P-256", privateKeyEncoding: { type: "pkcs8", format: "pem" }, publicKeyEncoding: { type: "spki", format: "pem" } });
      return mintToken({ key: other.privateKey, subject: "bot-1", audience: botService.name });
    }, /signature does not verify/],
    ["expired", async () => (await credentials()).botToken("bot-1", { expiresInSeconds: -60 }), /has expired/],
    ["for another service", async () => (await credentials()).botToken("bot-1", { audience: "fleet" }), /"aud" claim/],
    ["HS256, with the server's public key as the secret (algorithm confusion)", async () => {
      const { signing } = await credentials();
      return new SignJWT({}).setProtectedHeader({ alg: "HS256" }).setSubject("bot-1").setAudience(botService.name).setExpirationTime("1h").sign(new TextEncoder().encode(signing.publicKey));
    }, /algorithm this server does not accept/],
    ['"alg": "none"', async () => new UnsecuredJWT({}).setSubject("bot-1").setAudience(botService.name).setExpirationTime("1h").encode(), /algorithm this server does not accept|malformed/],
    ["not a token at all", async () => "hello", /malformed/],
  ])("a token that is %s is refused with Unauthenticated, saying why", async (_, token, reason) => {
    const secure = await server();
    const attempt = await rawStream(secure.url, await token(), [hello("bot-1")]);
    const end = await attempt.ended;
    expect(end?.code).toBe(Code.Unauthenticated);
    expect(end?.rawMessage).toMatch(reason);
    expect(secure.hub.isConnected("bot-1")).toBe(false);
  });
});

describe("callers are authorised and audited", () => {
  it("no credential: ListClients, Execute and Post fail with UnauthenticatedError and the bot does nothing", async () => {
    const secure = await server();
    await (await agent(secure.url, "bot-1")).waitUntilConnected();
    const anonymous = await router(secure.url);
    const request = { clientId: "bot-1", command: botCommands.stop({ reason: "now", graceful: false }), timeoutMs: 1_000, queueTimeoutMs: 0, waitForConnectMs: 0 };
    await expect(anonymous.listClients(botService)).rejects.toBeInstanceOf(UnauthenticatedError);
    await expect(anonymous.execute(botService, request)).rejects.toBeInstanceOf(UnauthenticatedError);
    await expect(anonymous.post(botService, request)).rejects.toBeInstanceOf(UnauthenticatedError);
    expect(secure.hub.stats().commandsSent).toBe(0);
    expect(secure.audit.map((entry) => [entry["action"], entry["outcome"], entry["caller"]])).toEqual([
      ["list", "unauthenticated", null],
      ["execute", "unauthenticated", null],
      ["post", "unauthenticated", null],
    ]);
  });

  it("a caller allowed on bots only may not touch another service, nor another action; each call is audited", async () => {
    const secure = await server();
    await (await agent(secure.url, "bot-1")).waitUntilConnected();
    const { callerToken } = await credentials();
    const ops = await router(secure.url, await callerToken([`execute:${botService.name}`], "ops"));
    const client = createCommandClient(botService, { clientId: "bot-1", router: ops });
    expect((await client.send(botCommands.ping())).reply.case).toBe("ping");
    const elsewhere = { ...botService, name: "fleet" };
    await expect(ops.execute(elsewhere, { clientId: "bot-1", command: botCommands.ping(), timeoutMs: 1_000, queueTimeoutMs: 0, waitForConnectMs: 0 })).rejects.toThrow(PermissionDeniedError);
    await expect(ops.listClients(botService)).rejects.toThrow(`ops may not list on service "${botService.name}"`);
    await expect(client.post(botCommands.ping())).rejects.toBeInstanceOf(PermissionDeniedError);
    expect(secure.audit).toEqual([
      expect.objectContaining({ caller: "ops", action: "execute", service: botService.name, clientId: "bot-1", commandType: "demo.bot.v1.ConnectResponse", outcome: "ok", durationMs: expect.any(Number) }),
      expect.objectContaining({ caller: "ops", action: "execute", service: "fleet", outcome: "permission_denied" }),
      expect.objectContaining({ caller: "ops", action: "list", service: botService.name, outcome: "permission_denied" }),
      expect.objectContaining({ caller: "ops", action: "post", service: botService.name, clientId: "bot-1", outcome: "permission_denied" }),
    ]);
    expect(secure.hub.stats().commandsSent).toBe(1);
  });

  it("a scope can name some clients: the caller commands and lists only those", async () => {
    const secure = await server();
    await Promise.all(["eu-1", "us-1"].map(async (id) => (await agent(secure.url, id)).waitUntilConnected()));
    const { callerToken } = await credentials();
    const eu = await router(secure.url, await callerToken([`*:${botService.name}/eu-*`], "eu-desk"));
    expect((await eu.listClients(botService)).map((c) => c.clientId)).toEqual(["eu-1"]);
    expect((await createBotClient({ clientId: "eu-1", router: eu }).ping()).version).toBe("eu-1:ping");
    await expect(createBotClient({ clientId: "us-1", router: eu }).ping()).rejects.toThrow(/eu-desk may not execute on client us-1/);
  });

  it("an over-long client id is refused before it meets a scope's pattern", async () => {
    const secure = await server();
    const { callerToken } = await credentials();
    const ops = await router(secure.url, await callerToken([`execute:${botService.name}/*a*b*c*d*e*`], "ops"));
    const error = await ops.execute(botService, { clientId: "a".repeat(100_000), command: botCommands.ping(), timeoutMs: 1_000, queueTimeoutMs: 0, waitForConnectMs: 0 }).catch((e: unknown) => e);
    expect((error as Error).message).toMatch(/client_id is 100000 characters long \(limit 256\)/);
  });

  it("a token supplier is asked again for each call, so a rotated token is used at once", async () => {
    const secure = await server();
    const { callerToken } = await credentials();
    const tokens = [await callerToken([`list:${botService.name}`], "old"), await callerToken([`list:${botService.name}`], "new")];
    let current = 0;
    const rotating = createRemoteRouter({ baseUrl: secure.url, tls: { ca: (await credentials()).ca.cert }, token: () => tokens[current]! });
    scope.defer(() => rotating.close());
    await rotating.listClients(botService);
    current = 1;
    await rotating.listClients(botService);
    expect(secure.audit.map((entry) => entry["caller"])).toEqual(["old", "new"]);
  });
});

describe("TLS", () => {
  it("a client that trusts another CA fails with a clear, typed error", async () => {
    const secure = await server();
    const stranger = await createCertificateAuthority({ commonName: "someone else's CA" });
    const remote = createRemoteRouter({ baseUrl: secure.url, tls: { ca: stranger.cert }, token: await (await credentials()).callerToken([`list:${botService.name}`]) });
    scope.defer(() => remote.close());
    const error = await remote.listClients(botService).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RouterUnavailableError);
    expect((error as Error).message).toMatch(/the server's certificate is not trusted .*give the CA that issued it \(tls.ca\)/);
  });

  it("plaintext to a non-loopback address is refused unless asked for", async () => {
    expect(() => createRemoteRouter({ baseUrl: "http://10.1.2.3:50051" })).toThrow(/refusing plaintext to 10.1.2.3:50051: use an https:\/\/ URL/);
    expect(() => createRemoteRouter({ baseUrl: "http://10.1.2.3:50051", insecure: true })).not.toThrow();
  });

  it("mutual TLS: the client certificate names the bot, and its hello cannot claim another", async () => {
    const secure = await server({ mtls: { uriPrefix: "spiffe://streamcmd/bots/" } });
    const { ca } = await credentials();
    const certificate = await ca.issue({ commonName: "bot from cert", uris: ["spiffe://streamcmd/bots/bot-7"], usage: "client" });
    const bot = await agent(secure.url, "bot-7", { tls: { ca: ca.cert, ...certificate } });
    await bot.waitUntilConnected();
    expect((await secure.hub.send("bot-7", botCommands.ping())).reply.case).toBe("ping");
    // bot-7's certificate with a hello naming bot-8: admitted as bot-7 (what the certificate says), then dropped for the lie.
    const liar = await agent(secure.url, "bot-8", { tls: { ca: ca.cert, ...certificate }, reconnect: false });
    const reasons: unknown[] = [];
    liar.on("disconnected", ({ error }) => reasons.push(error));
    await expect.poll(() => liar.state).toBe("closed");
    expect(ConnectError.from(reasons[0]).code).toBe(Code.PermissionDenied);
    expect(ConnectError.from(reasons[0]).rawMessage).toMatch(/authenticated as bot-7 claimed to be bot-8/);
    expect(secure.hub.isConnected("bot-8")).toBe(false);
  });

  it("a bot written with @grpc/grpc-js connects over TLS with a token, and is refused without one", async () => {
    const secure = await server();
    const { ca, botToken } = await credentials();
    const bystander = await agent(secure.url, "bystander");
    await bystander.waitUntilConnected();
    const grpcBot = (token?: string) => {
      const credentialsWithToken = grpc.credentials.createSsl(Buffer.from(ca.cert));
      const client = new grpc.Client(new URL(secure.url).host, credentialsWithToken);
      const metadata = new grpc.Metadata();
      if (token !== undefined) metadata.set("authorization", `Bearer ${token}`);
      const call = client.makeBidiStreamRequest(
        "/demo.bot.v1.BotService/Connect",
        (message: demoBot.ConnectRequest) => Buffer.from(toBinary(demoBot.ConnectRequestSchema, message)),
        (bytes: Buffer) => fromBinary(demoBot.ConnectResponseSchema, bytes),
        metadata,
      );
      const status = new Promise<grpc.StatusObject>((resolve) => call.on("status", resolve));
      call.on("error", () => {});
      call.on("data", (message: demoBot.ConnectResponse) => {
        if (message.command.case === undefined || message.command.case === "welcome") return;
        const reply = { case: "ping" as const, value: { status: demoBot.BotStatus.RUNNING, version: "grpc-js over TLS" } };
        call.write(create(demoBot.ConnectRequestSchema, { message: { case: "result", value: { commandId: message.commandId, reply } } }));
      });
      call.write(botAgentBinding.hello({ clientId: "grpc-bot", metadata: { version: "grpc-js" } }));
      scope.defer(() => (call.cancel(), client.close()));
      return { status };
    };
    const refused = grpcBot();
    expect((await refused.status).code).toBe(grpc.status.UNAUTHENTICATED);
    grpcBot(await botToken("grpc-bot"));
    await secure.hub.waitForClient("grpc-bot", { timeoutMs: 5_000 });
    expect((await secure.hub.send("grpc-bot", botCommands.ping())).reply).toMatchObject({ case: "ping", value: { version: "grpc-js over TLS" } });
    expect(await bystanderRoundTrip(secure)).toBeLessThan(1_000);
  });
});
