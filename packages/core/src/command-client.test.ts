import { afterEach, describe, expect, it, vi } from "vitest";
import {
  createHarness,
  createLoopbackRouter,
  failWith,
  neverReply,
  testProtocol,
  type TestCommand,
} from "@streamcmd/testing";
import {
  clearRegistry,
  ClientDisconnectedError,
  ClientNotConnectedError,
  CommandCancelledError,
  CommandFailedError,
  CommandTimeoutError,
  createCommandClient,
  InvalidArgumentError,
  QueueFullError,
  registerStreamingService,
  ServiceNotFoundError,
  setRemoteRouterFactory,
  type CommandError,
} from "./index.js";

const ping: TestCommand = { op: "ping" };
const cleanups: (() => unknown)[] = [];

function serverHarness() {
  const h = createHarness(testProtocol, { serviceOptions: { name: "bots" } });
  cleanups.push(() => h.close());
  return h;
}

/** A hub that plays "the other process": reachable only through the loopback router. */
function remoteSetup() {
  const h = serverHarness();
  const router = createLoopbackRouter({ bots: h.service });
  return { h, router };
}

afterEach(async () => {
  vi.unstubAllEnvs();
  clearRegistry();
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

describe("command client: mode detection", () => {
  it("is same-process when given a service instance", async () => {
    const h = serverHarness();
    await h.connect("bot-1");
    const client = createCommandClient<TestCommand, unknown>({ clientId: "bot-1", service: h.service });
    expect(client.mode).toBe("same-process");
    expect(await client.send(ping)).toEqual({ echo: ping });
  });

  it("is same-process when the name is registered here", async () => {
    const h = serverHarness();
    registerStreamingService("bots", h.service);
    await h.connect("bot-1");
    const client = createCommandClient<TestCommand, unknown>({ clientId: "bot-1", service: "bots" });
    expect(client.mode).toBe("same-process");
    expect(await client.send(ping)).toEqual({ echo: ping });
  });

  it("is cross-process when the name is not registered here and a remote router is given", async () => {
    const { h, router } = remoteSetup();
    await h.connect("bot-1");
    const client = createCommandClient<TestCommand, unknown>({ clientId: "bot-1", service: "bots", remote: router });
    expect(client.mode).toBe("cross-process");
    expect(await client.send(ping)).toEqual({ echo: ping });
    expect(router.calls.execute).toBe(1);
  });

  it("follows the registry: a later registration switches a client to same-process", async () => {
    const { h, router } = remoteSetup();
    await h.connect("bot-1");
    const client = createCommandClient<TestCommand, unknown>({ clientId: "bot-1", service: "bots", remote: router });
    expect(client.mode).toBe("cross-process");
    registerStreamingService("bots", h.service);
    expect(client.mode).toBe("same-process");
    await client.send(ping);
    expect(router.calls.execute).toBe(0);
  });

  it("reaches the remote target from STREAMCMD_URL through the installed factory", async () => {
    const { h, router } = remoteSetup();
    await h.connect("bot-1");
    vi.stubEnv("STREAMCMD_URL", "http://127.0.0.1:50051");
    const targets: string[] = [];
    cleanups.push(setRemoteRouterFactory((target) => (targets.push(target), router)));
    const client = createCommandClient<TestCommand, unknown>({ clientId: "bot-1", service: "bots" });
    expect(client.mode).toBe("cross-process");
    expect(await client.send(ping)).toEqual({ echo: ping });
    expect(targets).toContain("http://127.0.0.1:50051");
  });

  it("is unavailable with neither, and send says how to fix it", async () => {
    vi.stubEnv("STREAMCMD_URL", "");
    const client = createCommandClient<TestCommand, unknown>({ clientId: "bot-1", service: "bots" });
    expect(client.mode).toBe("unavailable");
    const error = await client.send(ping).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ServiceNotFoundError);
    expect((error as Error).message).toMatch(/no streaming service "bots" is registered in this process and no remote target/);
  });

  it("says so when a remote target is set but no transport factory is installed", async () => {
    const client = createCommandClient<TestCommand, unknown>({
      clientId: "bot-1",
      service: "bots",
      config: { remoteTarget: "http://127.0.0.1:1" },
    });
    expect(client.mode).toBe("unavailable");
    await expect(client.send(ping)).rejects.toThrow(/no remote router is available for http:\/\/127.0.0.1:1/);
  });

  it("rejects bad options with InvalidArgumentError", () => {
    expect(() => createCommandClient({ clientId: "", service: "bots" })).toThrow(InvalidArgumentError);
    expect(() => createCommandClient({ clientId: "x", service: 3 as never })).toThrow(InvalidArgumentError);
    expect(() => createCommandClient({ clientId: "x", service: "bots", config: { replyTimeoutMs: -1 } })).toThrow(
      /replyTimeoutMs must not be negative/,
    );
  });
});

describe("command client: same-process", () => {
  it("uses config.replyTimeoutMs when the call gives no timeout", async () => {
    const h = serverHarness();
    await h.connect("bot-1", { behaviour: neverReply() });
    const client = createCommandClient<TestCommand, unknown>({ clientId: "bot-1", service: h.service, config: { replyTimeoutMs: 50 } });
    const started = performance.now();
    await expect(client.send(ping)).rejects.toBeInstanceOf(CommandTimeoutError);
    expect(performance.now() - started).toBeLessThan(1_000);
  });

  it("uses config.waitForConnectMs to wait for a client that connects soon", async () => {
    const h = serverHarness();
    const client = createCommandClient<TestCommand, unknown>({ clientId: "bot-1", service: h.service, config: { waitForConnectMs: 2_000 } });
    const reply = client.send(ping);
    setTimeout(() => void h.connect("bot-1"), 20);
    expect(await reply).toEqual({ echo: ping });
  });

  it("uses config.queueTimeoutMs to wait for room in a full queue", async () => {
    const h = createHarness(testProtocol, { serviceOptions: { maxQueueSize: 1 } });
    cleanups.push(() => h.close());
    const bot = await h.connect("bot-1");
    bot.stream.pauseReading();
    const patient = createCommandClient<TestCommand, unknown>({ clientId: "bot-1", service: h.service, config: { queueTimeoutMs: 2_000 } });
    const hasty = createCommandClient<TestCommand, unknown>({ clientId: "bot-1", service: h.service });
    const first = patient.send({ op: "1" });
    const second = patient.send({ op: "2" });
    await new Promise((resolve) => setTimeout(resolve, 10));
    await expect(hasty.send({ op: "x" })).rejects.toBeInstanceOf(QueueFullError);
    const third = patient.send({ op: "3" });
    setTimeout(() => bot.stream.resumeReading(), 20);
    expect((await Promise.all([first, second, third])).length).toBe(3);
  });

  it("fails fast with ClientNotConnectedError by default", async () => {
    const h = serverHarness();
    const client = createCommandClient<TestCommand, unknown>({ clientId: "ghost", service: h.service });
    await expect(client.send(ping)).rejects.toBeInstanceOf(ClientNotConnectedError);
  });

  it("aborts with the caller's signal", async () => {
    const h = serverHarness();
    await h.connect("bot-1", { behaviour: neverReply() });
    const client = createCommandClient<TestCommand, unknown>({ clientId: "bot-1", service: h.service });
    const controller = new AbortController();
    const outcome = client.send(ping, { signal: controller.signal }).catch((e: unknown) => e);
    setTimeout(() => controller.abort(), 10);
    expect(await outcome).toBeInstanceOf(CommandCancelledError);
  });

  it("post is fire-and-forget and returns the command id", async () => {
    const h = serverHarness();
    const bot = await h.connect("bot-1", { behaviour: neverReply() });
    const client = createCommandClient<TestCommand, unknown>({ clientId: "bot-1", service: h.service });
    const commandId = await client.post({ op: "log" });
    expect((await bot.nextCommand()).commandId).toBe(commandId);
    expect(h.service.stats().pendingCommands).toBe(0);
  });

  it("isConnected follows the client", async () => {
    const h = serverHarness();
    const client = createCommandClient<TestCommand, unknown>({ clientId: "bot-1", service: h.service });
    expect(await client.isConnected()).toBe(false);
    const bot = await h.connect("bot-1");
    expect(await client.isConnected()).toBe(true);
    bot.disconnect();
    await bot.stream.ended;
    expect(await client.isConnected()).toBe(false);
  });

  it("closing (await using) cancels what is in flight and refuses new calls", async () => {
    const h = serverHarness();
    await h.connect("bot-1", { behaviour: neverReply() });
    let inFlight!: Promise<unknown>;
    let kept!: ReturnType<typeof createCommandClient<TestCommand, unknown>>;
    {
      await using client = createCommandClient<TestCommand, unknown>({ clientId: "bot-1", service: h.service });
      kept = client;
      inFlight = client.send(ping).catch((e: unknown) => e);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    expect(await inFlight).toBeInstanceOf(CommandCancelledError);
    await expect(kept.send(ping)).rejects.toThrow(/command client for bot-1 is closed/);
    expect(h.service.stats().pendingCommands).toBe(0);
  });
});

describe("command client: cross-process", () => {
  async function remoteError(
    setup: (h: ReturnType<typeof serverHarness>) => Promise<unknown>,
    call: (client: ReturnType<typeof createCommandClient<TestCommand, unknown>>) => Promise<unknown>,
  ): Promise<CommandError> {
    const { h, router } = remoteSetup();
    await setup(h);
    const client = createCommandClient<TestCommand, unknown>({ clientId: "bot-1", service: "bots", remote: router });
    return (await call(client).catch((e: unknown) => e)) as CommandError;
  }

  it("rebuilds CommandTimeoutError on the caller's side", async () => {
    const error = await remoteError(
      (h) => h.connect("bot-1", { behaviour: neverReply() }),
      (client) => client.send(ping, { timeoutMs: 30 }),
    );
    expect(error).toBeInstanceOf(CommandTimeoutError);
    expect(error.clientId).toBe("bot-1");
  });

  it("rebuilds ClientNotConnectedError", async () => {
    const error = await remoteError(async () => {}, (client) => client.send(ping));
    expect(error).toBeInstanceOf(ClientNotConnectedError);
  });

  it("rebuilds CommandFailedError with the client's code", async () => {
    const error = await remoteError(
      (h) => h.connect("bot-1", { behaviour: failWith("bad_config", "unknown field risk.x") }),
      (client) => client.send(ping),
    );
    expect(error).toBeInstanceOf(CommandFailedError);
    expect((error as CommandFailedError).clientErrorCode).toBe("bad_config");
  });

  it("rebuilds ClientDisconnectedError", async () => {
    const error = await remoteError(
      (h) => h.connect("bot-1", { behaviour: () => ({ disconnect: true }) }),
      (client) => client.send(ping),
    );
    expect(error).toBeInstanceOf(ClientDisconnectedError);
  });

  it("rebuilds ServiceNotFoundError for a name the server does not have", async () => {
    const { router } = remoteSetup();
    const client = createCommandClient<TestCommand, unknown>({ clientId: "bot-1", service: "fleet", remote: router });
    await expect(client.send(ping)).rejects.toBeInstanceOf(ServiceNotFoundError);
  });

  it("passes the caller's abort through to the server", async () => {
    const { h, router } = remoteSetup();
    await h.connect("bot-1", { behaviour: neverReply() });
    const client = createCommandClient<TestCommand, unknown>({ clientId: "bot-1", service: "bots", remote: router });
    const controller = new AbortController();
    const outcome = client.send(ping, { signal: controller.signal }).catch((e: unknown) => e);
    setTimeout(() => controller.abort(), 10);
    expect(await outcome).toBeInstanceOf(CommandCancelledError);
    expect(h.service.stats()).toMatchObject({ pendingCommands: 0, cancellations: 1 });
  });

  it("passes wait-for-connect and post through, and lists clients for isConnected", async () => {
    const { h, router } = remoteSetup();
    const client = createCommandClient<TestCommand, unknown>({ clientId: "bot-1", service: "bots", remote: router, config: { waitForConnectMs: 2_000 } });
    expect(await client.isConnected()).toBe(false);
    const reply = client.send(ping);
    setTimeout(() => void h.connect("bot-1"), 20);
    expect(await reply).toEqual({ echo: ping });
    expect(await client.isConnected()).toBe(true);
    expect(typeof (await client.post(ping))).toBe("string");
    expect(router.calls).toEqual({ execute: 1, post: 1, listClients: 2 });
  });

  it("copies the command across: the server never sees the caller's object", async () => {
    const { h, router } = remoteSetup();
    const bot = await h.connect("bot-1");
    const client = createCommandClient<TestCommand, unknown>({ clientId: "bot-1", service: "bots", remote: router });
    const command = { op: "config", payload: { risk: 1 } };
    await client.send(command);
    expect(bot.received[0]!.command).toEqual(command);
    expect(bot.received[0]!.command).not.toBe(command);
  });
});
