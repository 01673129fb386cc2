import { afterEach, describe, expect, it, vi } from "vitest";
import { createHarness, createLoopbackRouter, failWith, neverReply, testBinding, testProtocol, testService, type TestCommand } from "@streamcmd/testing";
import {
  clearRegistry,
  ClientDisconnectedError,
  ClientNotConnectedError,
  ClosedError,
  CommandCancelledError,
  CommandFailedError,
  CommandTimeoutError,
  createCommandClient,
  defineStreamingService,
  InvalidArgumentError,
  QueueFullError,
  registerStreamingService,
  ServiceNotFoundError,
  setRemoteRouter,
  type CommandError,
  type StreamingCommandClient,
} from "./index.js";

const ping: TestCommand = { op: "ping" };
const cleanups: (() => unknown)[] = [];

function serverHarness(serviceOptions = {}) {
  const h = createHarness(testProtocol, { serviceOptions });
  cleanups.push(() => h.close());
  return h;
}

/** A hub that plays "the other process": reachable only through the loopback router. */
function remoteSetup() {
  const h = serverHarness();
  const router = createLoopbackRouter([h.service]);
  return { h, router };
}

afterEach(async () => {
  vi.useRealTimers();
  clearRegistry();
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

describe("command client: routing", () => {
  it("is same-process when given a hub", async () => {
    const h = serverHarness();
    await h.connect("bot-1");
    const client = createCommandClient(h.service, { clientId: "bot-1" });
    expect(client.mode).toBe("same-process");
    expect(await client.send(ping)).toEqual({ echo: ping });
  });

  it("is same-process when the definition's hub is registered here", async () => {
    const h = serverHarness();
    registerStreamingService(h.service);
    await h.connect("bot-1");
    const client = createCommandClient(testService, { clientId: "bot-1" });
    expect(client.mode).toBe("same-process");
    expect(await client.send(ping)).toEqual({ echo: ping });
  });

  it("is cross-process through the router it was given when the hub is not here", async () => {
    const { h, router } = remoteSetup();
    await h.connect("bot-1");
    const client = createCommandClient(testService, { clientId: "bot-1", router });
    expect(client.mode).toBe("cross-process");
    expect(await client.send(ping)).toEqual({ echo: ping });
    expect(router.calls.execute).toBe(1);
  });

  it("follows the registry: a later registration switches a client to same-process", async () => {
    const { h, router } = remoteSetup();
    await h.connect("bot-1");
    const client = createCommandClient(testService, { clientId: "bot-1", router });
    expect(client.mode).toBe("cross-process");
    registerStreamingService(h.service);
    expect(client.mode).toBe("same-process");
    await client.send(ping);
    expect(router.calls.execute).toBe(0);
  });

  it("uses the router installed with setRemoteRouter, and stops when it is uninstalled", async () => {
    const { h, router } = remoteSetup();
    await h.connect("bot-1");
    const uninstall = setRemoteRouter(router);
    cleanups.push(uninstall);
    const client = createCommandClient(testService, { clientId: "bot-1" });
    expect(client.mode).toBe("cross-process");
    expect(await client.send(ping)).toEqual({ echo: ping });
    expect(router.calls.execute).toBe(1);
    uninstall();
    expect(client.mode).toBe("unavailable");
  });

  it("prefers the router it was given over the installed one", async () => {
    const { h, router } = remoteSetup();
    const installed = createLoopbackRouter([h.service]);
    cleanups.push(setRemoteRouter(installed));
    await h.connect("bot-1");
    await createCommandClient(testService, { clientId: "bot-1", router }).send(ping);
    expect([router.calls.execute, installed.calls.execute]).toEqual([1, 0]);
  });

  it("is unavailable with neither, and send says how to fix it", async () => {
    const client = createCommandClient(testService, { clientId: "bot-1" });
    expect(client.mode).toBe("unavailable");
    const error = await client.send(ping).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ServiceNotFoundError);
    expect((error as Error).message).toMatch(/no streaming service "test" is registered in this process and there is no remote router: pass \{ router \}/);
  });

  it("refuses a registered hub made from another definition rather than mistype its replies", async () => {
    const h = serverHarness();
    registerStreamingService(h.service);
    const impostor = defineStreamingService({ name: "test", binding: testBinding });
    const client = createCommandClient(impostor, { clientId: "bot-1" });
    await expect(client.send(ping)).rejects.toThrow(/registered as "test" was made from another definition/);
  });

  it.each([
    [{ clientId: "" }, /clientId must be a non-empty string/],
    [{ clientId: "x", defaultTimeoutMs: -1 }, /defaultTimeoutMs must not be negative, got -1/],
    [{ clientId: "x", defaultTimeoutMs: 0 }, /defaultTimeoutMs must be at least 1 ms, got 0/],
    [{ clientId: "x", defaultTimeoutMs: Number.NaN }, /defaultTimeoutMs must be a whole number of milliseconds, got NaN/],
    [{ clientId: "x", queueTimeoutMs: 1.5 }, /queueTimeoutMs must be a whole number/],
    [{ clientId: "x", waitForConnectMs: Number.POSITIVE_INFINITY }, /waitForConnectMs must be a whole number/],
    [{ clientId: "x", defaultTimeoutMs: "100" }, /defaultTimeoutMs must be a whole number of milliseconds, got "100"/],
    [{ clientId: "x", defaultTimeoutMs: 2 ** 31 }, /defaultTimeoutMs must be at most/],
  ])("rejects the options %o with a clear InvalidArgumentError", (options, message) => {
    const attempt = () => createCommandClient(testService, options as never);
    expect(attempt).toThrow(InvalidArgumentError);
    expect(attempt).toThrow(message);
  });

  it("rejects something that is not a service", () => {
    expect(() => createCommandClient(3 as never, { clientId: "x" })).toThrow(InvalidArgumentError);
  });

  it("rejects a bad per-call option without sending anything", async () => {
    const h = serverHarness();
    const bot = await h.connect("bot-1");
    const client = createCommandClient(h.service, { clientId: "bot-1" });
    await expect(client.send(ping, { waitForConnectMs: -1 })).rejects.toThrow(/waitForConnectMs must not be negative, got -1/);
    expect(bot.received).toEqual([]);
  });
});

describe("command client: same-process", () => {
  it("uses defaultTimeoutMs when the call gives no timeout", async () => {
    vi.useFakeTimers();
    const h = serverHarness();
    await h.connect("bot-1", { behaviour: neverReply() });
    const client = createCommandClient(h.service, { clientId: "bot-1", defaultTimeoutMs: 50 });
    const outcome = client.send(ping).catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(50);
    expect(await outcome).toBeInstanceOf(CommandTimeoutError);
  });

  it("uses its waitForConnectMs to wait for a client that connects soon", async () => {
    const h = serverHarness();
    const client = createCommandClient(h.service, { clientId: "bot-1", waitForConnectMs: 2_000 });
    const reply = client.send(ping);
    await h.connect("bot-1");
    expect(await reply).toEqual({ echo: ping });
  });

  it("uses its queueTimeoutMs to wait for room in a full queue", async () => {
    const h = serverHarness({ maxQueueSize: 1 });
    const bot = await h.connect("bot-1");
    bot.stream.pauseReading();
    const patient = createCommandClient(h.service, { clientId: "bot-1", queueTimeoutMs: 2_000 });
    const hasty = createCommandClient(h.service, { clientId: "bot-1" });
    const first = patient.send({ op: "1" });
    const second = patient.send({ op: "2" });
    await expect.poll(() => h.service.client("bot-1")?.queuedMessages).toBe(1);
    await expect(hasty.send({ op: "x" })).rejects.toBeInstanceOf(QueueFullError);
    const third = patient.send({ op: "3" });
    bot.stream.resumeReading();
    expect(await Promise.all([first, second, third])).toEqual([{ echo: { op: "1" } }, { echo: { op: "2" } }, { echo: { op: "3" } }]);
  });

  it("fails fast with ClientNotConnectedError by default", async () => {
    const h = serverHarness();
    const client = createCommandClient(h.service, { clientId: "ghost" });
    await expect(client.send(ping)).rejects.toBeInstanceOf(ClientNotConnectedError);
  });

  it("aborts with the caller's signal", async () => {
    const h = serverHarness();
    const bot = await h.connect("bot-1", { behaviour: neverReply() });
    const client = createCommandClient(h.service, { clientId: "bot-1" });
    const controller = new AbortController();
    const outcome = client.send(ping, { signal: controller.signal }).catch((e: unknown) => e);
    await bot.nextCommand();
    controller.abort(new Error("user pressed stop"));
    const error = (await outcome) as Error;
    expect(error).toBeInstanceOf(CommandCancelledError);
    expect(error.cause).toEqual(new Error("user pressed stop"));
  });

  it("post is fire-and-forget and returns the command id", async () => {
    const h = serverHarness();
    const bot = await h.connect("bot-1", { behaviour: neverReply() });
    const client = createCommandClient(h.service, { clientId: "bot-1" });
    const commandId = await client.post({ op: "log" });
    expect((await bot.nextCommand()).commandId).toBe(commandId);
    expect(h.service.stats().pendingCommands).toBe(0);
  });

  it("isConnected follows the client", async () => {
    const h = serverHarness();
    const client = createCommandClient(h.service, { clientId: "bot-1" });
    expect(await client.isConnected()).toBe(false);
    const bot = await h.connect("bot-1");
    expect(await client.isConnected()).toBe(true);
    bot.disconnect();
    await bot.stream.ended;
    expect(await client.isConnected()).toBe(false);
  });

  it("closing (await using) cancels what is in flight and refuses new calls with ClosedError", async () => {
    const h = serverHarness();
    const bot = await h.connect("bot-1", { behaviour: neverReply() });
    let inFlight!: Promise<unknown>;
    let kept!: StreamingCommandClient<TestCommand, unknown>;
    {
      await using client = createCommandClient(h.service, { clientId: "bot-1" });
      kept = client;
      inFlight = client.send(ping).catch((e: unknown) => e);
      await bot.nextCommand();
    }
    const cancelled = (await inFlight) as Error;
    expect(cancelled).toBeInstanceOf(CommandCancelledError);
    expect(cancelled.cause).toBeInstanceOf(ClosedError);
    const refused = await kept.send(ping).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ClosedError);
    expect((refused as Error).message).toBe("the command client for bot-1 is closed");
    expect(h.service.stats().pendingCommands).toBe(0);
  });

  it("a rejection carries the stack of the code that called send", async () => {
    const h = serverHarness();
    await h.connect("bot-1", { behaviour: failWith("busy", "later") });
    const client = createCommandClient(h.service, { clientId: "bot-1" });
    async function operatorPressedStart() {
      return await client.send(ping);
    }
    const error = (await operatorPressedStart().catch((e: unknown) => e)) as Error;
    expect(error).toBeInstanceOf(CommandFailedError);
    expect(error.stack).toContain("operatorPressedStart");
  });
});

describe("command client: cross-process", () => {
  async function remoteError(
    setup: (h: ReturnType<typeof serverHarness>) => Promise<unknown>,
    call: (client: StreamingCommandClient<TestCommand, unknown>) => Promise<unknown>,
  ): Promise<CommandError> {
    const { h, router } = remoteSetup();
    await setup(h);
    const client = createCommandClient(testService, { clientId: "bot-1", router });
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

  it("rebuilds ServiceNotFoundError for a service the server does not have", async () => {
    const { router } = remoteSetup();
    const client = createCommandClient(defineStreamingService({ name: "fleet", binding: testBinding }), { clientId: "bot-1", router });
    await expect(client.send(ping)).rejects.toBeInstanceOf(ServiceNotFoundError);
  });

  it("passes the caller's abort through to the server", async () => {
    const { h, router } = remoteSetup();
    const bot = await h.connect("bot-1", { behaviour: neverReply() });
    const client = createCommandClient(testService, { clientId: "bot-1", router });
    const controller = new AbortController();
    const outcome = client.send(ping, { signal: controller.signal }).catch((e: unknown) => e);
    await bot.nextCommand();
    controller.abort();
    expect(await outcome).toBeInstanceOf(CommandCancelledError);
    expect(h.service.stats()).toMatchObject({ pendingCommands: 0, cancellations: 1 });
  });

  it("passes wait-for-connect and post through, and lists clients for isConnected", async () => {
    const { h, router } = remoteSetup();
    const client = createCommandClient(testService, { clientId: "bot-1", router, waitForConnectMs: 2_000 });
    expect(await client.isConnected()).toBe(false);
    const reply = client.send(ping);
    await h.connect("bot-1");
    expect(await reply).toEqual({ echo: ping });
    expect(await client.isConnected()).toBe(true);
    expect(typeof (await client.post(ping))).toBe("string");
    expect(router.calls).toEqual({ execute: 1, post: 1, listClients: 2 });
  });

  it("copies the command across: the server never sees the caller's object", async () => {
    const { h, router } = remoteSetup();
    const bot = await h.connect("bot-1");
    const client = createCommandClient(testService, { clientId: "bot-1", router });
    const command = { op: "config", payload: { risk: 1 } };
    await client.send(command);
    expect(bot.received[0]!.command).toEqual(command);
    expect(bot.received[0]!.command).not.toBe(command);
  });

  it("an error rebuilt from the wire carries the caller's stack", async () => {
    const { router } = remoteSetup();
    const client = createCommandClient(testService, { clientId: "ghost", router });
    async function workerJob() {
      return await client.send(ping);
    }
    const error = (await workerJob().catch((e: unknown) => e)) as Error;
    expect(error).toBeInstanceOf(ClientNotConnectedError);
    expect(error.stack).toContain("workerJob");
  });
});
