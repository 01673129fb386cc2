import { afterEach, describe, expect, it, vi } from "vitest";
import {
  createHarness,
  delayed,
  disconnectOnCommand,
  failWith,
  neverReply,
  replyMalformed,
  testBinding,
  testProtocol,
  testService,
  type TestCommand,
} from "@streamcmd/testing";
import {
  ClientDisconnectedError,
  ClientNotConnectedError,
  ClientReplacedError,
  CommandCancelledError,
  CommandFailedError,
  CommandTimeoutError,
  createStreamingService,
  defineStreamingService,
  DuplicateClientError,
  HeartbeatTimeoutError,
  InternalError,
  InvalidArgumentError,
  PermissionDeniedError,
  ProtocolError,
  QueueFullError,
  RateLimitedError,
  ServiceClosedError,
  type DisconnectEvent,
  type StreamingServiceOptions,
} from "./index.js";

const ping: TestCommand = { op: "ping" };
const harnesses: { close(): Promise<void> }[] = [];

function harness(serviceOptions: StreamingServiceOptions = {}) {
  const h = createHarness(testProtocol, { serviceOptions });
  harnesses.push(h);
  return h;
}

afterEach(async () => {
  vi.useRealTimers();
  await Promise.all(harnesses.splice(0).map((h) => h.close()));
});

describe("streaming service: identity", () => {
  it("identifies a client from its hello and lists it with its metadata", async () => {
    const h = harness();
    await h.connect("bot-1", { metadata: { version: "1.2.0" } });
    expect(h.service.isConnected("bot-1")).toBe(true);
    expect(h.service.clients()).toMatchObject([{ clientId: "bot-1", metadata: { version: "1.2.0" }, pendingCommands: 0 }]);
    expect(h.service.client("bot-1")?.connectedAt).toBeInstanceOf(Date);
  });

  it("takes the transport's authenticated identity without a hello", async () => {
    const h = harness();
    await h.connect("bot-1", { identity: { clientId: "bot-1", metadata: { tenant: "acme" } }, skipHello: true });
    expect(h.service.client("bot-1")?.metadata).toEqual({ tenant: "acme" });
    expect(await h.service.send("bot-1", ping)).toEqual({ echo: ping });
  });

  it("accepts a hello that matches the authenticated identity", async () => {
    const h = harness();
    await h.connect("bot-1", { identity: { clientId: "bot-1" }, metadata: { version: "2" } });
    expect(await h.service.send("bot-1", ping)).toEqual({ echo: ping });
  });

  it("refuses a hello that claims another id than the authenticated one", async () => {
    const h = harness();
    const stream = h.openStream({ identity: { clientId: "bot-1" } });
    stream.incoming.push({ kind: "hello", clientId: "bot-2" });
    const end = await stream.ended;
    expect(end.error).toBeInstanceOf(PermissionDeniedError);
    expect(h.service.isConnected("bot-1")).toBe(false);
    expect(h.service.isConnected("bot-2")).toBe(false);
  });

  it("drops a stream whose first message is not a hello, with a ProtocolError", async () => {
    const h = harness();
    const stream = h.openStream();
    stream.incoming.push({ kind: "event", data: 1 });
    const end = await stream.ended;
    expect(end.error).toBeInstanceOf(ProtocolError);
    expect((end.error as Error).message).toMatch(/first message must identify the client/);
  });

  it("drops a client whose hello has an empty id", async () => {
    const h = harness();
    const stream = h.openStream();
    stream.incoming.push({ kind: "hello", clientId: "" });
    expect((await stream.ended).error).toBeInstanceOf(ProtocolError);
    expect(h.service.clients()).toEqual([]);
  });

  it("drops a client that never says hello after the hello timeout", async () => {
    vi.useFakeTimers();
    const h = harness({ helloTimeoutMs: 1_000 });
    const stream = h.openStream();
    await vi.advanceTimersByTimeAsync(999);
    let ended = false;
    void stream.ended.then(() => (ended = true));
    await vi.advanceTimersByTimeAsync(0);
    expect(ended).toBe(false);
    await vi.advanceTimersByTimeAsync(2);
    const end = await stream.ended;
    expect(end.error).toBeInstanceOf(ProtocolError);
    expect((end.error as Error).message).toMatch(/no hello within 1000 ms/);
  });
});

describe("streaming service: welcome and stacks", () => {
  it("sends the binding's welcome first, once the client is admitted, before any command", async () => {
    const h = harness();
    const bot = await h.connect("bot-1");
    await h.service.send("bot-1", ping);
    expect(bot.stream.written[0]).toEqual({ kind: "welcome", clientId: "bot-1" });
    expect(bot.stream.written[1]).toMatchObject({ kind: "command", command: ping });
  });

  it("admission gates: the client is listed, welcomed and reachable only once every gate is through", async () => {
    const h = harness();
    let open!: () => void;
    const seen: string[] = [];
    h.service.addAdmissionGate(async (client) => {
      seen.push(client.clientId);
      await new Promise<void>((resolve) => (open = resolve));
    });
    const raw = h.openStream();
    raw.incoming.push({ kind: "hello", clientId: "bot-1" });
    await expect.poll(() => seen).toEqual(["bot-1"]);
    const waiting = h.service.send("bot-1", ping, { waitForConnectMs: 5_000, timeoutMs: 5_000 });
    const immediate = await h.service.send("bot-1", ping).catch((e: unknown) => e);
    expect(immediate).toBeInstanceOf(ClientNotConnectedError); // not listed yet
    expect(h.service.isConnected("bot-1")).toBe(false);
    expect(raw.written).toEqual([]);
    open();
    await expect.poll(() => raw.written.length).toBe(2);
    expect(raw.written[0]).toEqual({ kind: "welcome", clientId: "bot-1" });
    expect(raw.written[1]).toMatchObject({ kind: "command", command: ping });
    raw.incoming.push({ kind: "reply", commandId: (raw.written[1] as { commandId: string }).commandId, ok: true, value: "pong" });
    await waiting;
  });

  it("admission gates: one that throws or outlasts the hello timeout drops the client (InternalError), and onDisconnect tells the gate", async () => {
    const h = harness({ helloTimeoutMs: 100 });
    const disconnected: string[] = [];
    h.service.onDisconnect((event) => disconnected.push(event.client.clientId));
    const remove = h.service.addAdmissionGate(async (client) => {
      if (client.clientId === "refused") throw new Error("no room on this node");
      if (client.clientId === "slow") await new Promise(() => {});
    });
    const refused = h.openStream();
    refused.incoming.push({ kind: "hello", clientId: "refused" });
    expect((await refused.ended).error).toBeInstanceOf(InternalError);
    const slow = h.openStream();
    slow.incoming.push({ kind: "hello", clientId: "slow" });
    expect((await slow.ended).error).toBeInstanceOf(InternalError);
    expect(disconnected.sort()).toEqual(["refused", "slow"]);
    remove();
    await h.connect("slow"); // no gate any more
    expect(h.service.isConnected("slow")).toBe(true);
  });

  it("admission gates: a second connection with the id while the first is in the gates replaces it", async () => {
    const h = harness();
    const releases: (() => void)[] = [];
    h.service.addAdmissionGate(() => new Promise<void>((resolve) => releases.push(resolve)));
    const first = h.openStream();
    first.incoming.push({ kind: "hello", clientId: "twin" });
    await expect.poll(() => releases.length).toBe(1);
    const second = h.openStream();
    second.incoming.push({ kind: "hello", clientId: "twin" });
    expect((await first.ended).error).toBeInstanceOf(ClientReplacedError);
    await expect.poll(() => releases.length).toBe(2);
    releases.forEach((release) => release());
    await expect.poll(() => h.service.isConnected("twin")).toBe(true);
    expect(second.written).toEqual([{ kind: "welcome", clientId: "twin" }]);
    expect(first.written).toEqual([]);
  });

  it("sends no welcome to a stream it refuses", async () => {
    const h = harness({ duplicatePolicy: "reject" });
    await h.connect("bot-1");
    const refused = h.openStream();
    refused.incoming.push({ kind: "hello", clientId: "bot-1" });
    expect((await refused.ended).error).toBeInstanceOf(DuplicateClientError);
    expect(refused.written).toEqual([]);
  });

  it("an error raised later (a timeout) carries the caller's stack, not the timer's", async () => {
    vi.useFakeTimers();
    const h = harness();
    await h.connect("bot-1", { behaviour: neverReply() });
    async function callerOfSend() {
      return await h.service.send("bot-1", ping, { timeoutMs: 10 });
    }
    const outcome = callerOfSend().catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(10);
    const error = (await outcome) as Error;
    expect(error).toBeInstanceOf(CommandTimeoutError);
    expect(error.stack).toMatch(/^CommandTimeoutError: client bot-1 did not reply/);
    expect(error.stack).toContain("callerOfSend");
  });
});

describe("streaming service: hello limits", () => {
  it("drops a client whose hello carries too much metadata, before it is listed; the others are untouched", async () => {
    const h = harness({ maxMetadataEntries: 2, maxMetadataBytes: 64 });
    await h.connect("calm", { metadata: { version: "1" } });
    const many = h.openStream();
    many.incoming.push({ kind: "hello", clientId: "many", metadata: { a: "1", b: "2", c: "3" } });
    expect((await many.ended).error).toMatchObject({ name: "ProtocolError", message: "the hello carries 3 metadata entries (limit 2)" });
    const big = h.openStream();
    big.incoming.push({ kind: "hello", clientId: "big", metadata: { version: "x".repeat(100) } });
    expect((await big.ended).error).toMatchObject({ name: "ProtocolError", message: "the hello's metadata is 107 bytes (limit 64)" });
    expect(h.service.clients().map((c) => c.clientId)).toEqual(["calm"]);
    expect(big.written).toEqual([]); // nothing was sent to it, not even the welcome
  });

  it("counts metadata in UTF-8 bytes, not characters", async () => {
    const h = harness({ maxMetadataBytes: 20 });
    const wide = h.openStream();
    wide.incoming.push({ kind: "hello", clientId: "wide", metadata: { v: "€".repeat(7) } }); // 8 characters, 22 bytes
    expect((await wide.ended).error).toMatchObject({ message: "the hello's metadata is 22 bytes (limit 20)" });
    await h.connect("narrow", { metadata: { v: "e".repeat(7) } });
    expect(h.service.isConnected("narrow")).toBe(true);
  });

  it("applies the same limits to a hello that follows an authenticated identity", async () => {
    const h = harness({ maxMetadataBytes: 16 });
    const stream = h.openStream({ identity: { clientId: "bot-1" } });
    stream.incoming.push({ kind: "hello", clientId: "bot-1", metadata: { note: "y".repeat(50) } });
    expect((await stream.ended).error).toMatchObject({ name: "ProtocolError" });
    expect(h.service.isConnected("bot-1")).toBe(false);
  });
});

describe("streaming service: duplicate ids", () => {
  it("replaces the old connection by default and rejects its pending commands", async () => {
    const h = harness();
    const old = await h.connect("bot-1", { behaviour: neverReply() });
    const pending = h.service.send("bot-1", ping, { timeoutMs: 5_000 });
    await old.nextCommand();
    const fresh = await h.connect("bot-1");
    const error = await pending.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ClientDisconnectedError);
    expect((error as Error).cause).toBeInstanceOf(ClientReplacedError);
    expect((await old.stream.ended).error).toBeInstanceOf(ClientReplacedError);
    expect(await h.service.send("bot-1", ping)).toEqual({ echo: ping });
    expect(fresh.received).toHaveLength(1);
    expect(h.service.clients()).toHaveLength(1);
  });

  it("refuses the new connection when duplicatePolicy is reject, and the old one keeps working", async () => {
    const h = harness({ duplicatePolicy: "reject" });
    const first = await h.connect("bot-1");
    await expect(h.connect("bot-1")).rejects.toBeInstanceOf(DuplicateClientError);
    expect(await h.service.send("bot-1", ping)).toEqual({ echo: ping });
    expect(first.received).toHaveLength(1);
  });
});

describe("streaming service: send", () => {
  it("resolves with the client's reply", async () => {
    const h = harness();
    await h.connect("bot-1");
    expect(await h.service.send("bot-1", { op: "start", payload: { reason: "test" } })).toEqual({
      echo: { op: "start", payload: { reason: "test" } },
    });
  });

  it("gives every command a unique id", async () => {
    const h = harness();
    const bot = await h.connect("bot-1");
    await Promise.all(Array.from({ length: 50 }, () => h.service.send("bot-1", ping)));
    expect(new Set(bot.received.map((c) => c.commandId)).size).toBe(50);
  });

  it("routes replies to the right caller when they come back out of order", async () => {
    const h = harness();
    await h.connect("bot-1", {
      behaviour: delayed(0, (command) => ({ reply: command.payload })),
    });
    const bot = await h.connect("bot-2", { behaviour: neverReply() });
    const a = h.service.send("bot-2", { op: "a" });
    const b = h.service.send("bot-2", { op: "b" });
    const first = await bot.nextCommand();
    const second = await bot.nextCommand();
    bot.reply(second.commandId, "B");
    bot.reply(first.commandId, "A");
    expect(await Promise.all([a, b])).toEqual(["A", "B"]);
  });

  it("rejects with CommandFailedError carrying the client's code and message", async () => {
    const h = harness();
    await h.connect("bot-1", { behaviour: failWith("already_running", "bot is running") });
    const error = await h.service.send("bot-1", ping).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CommandFailedError);
    expect(error).toMatchObject({ clientErrorCode: "already_running", clientErrorMessage: "bot is running", clientId: "bot-1" });
    expect(h.service.stats().repliesFailed).toBe(1);
  });

  it("a command the client was sent and that times out or is cancelled is cancelled on the client too (the binding's wrapCancel)", async () => {
    const h = harness();
    const bot = await h.connect("bot-1", { behaviour: neverReply() });
    const timedOut = await h.service.send("bot-1", ping, { timeoutMs: 50 }).catch((e: unknown) => e);
    expect(timedOut).toBeInstanceOf(CommandTimeoutError);
    const controller = new AbortController();
    const cancelled = h.service.send("bot-1", { op: "slow" }, { timeoutMs: 60_000, signal: controller.signal }).catch((e: unknown) => e);
    await expect.poll(() => bot.received.length).toBe(2);
    controller.abort();
    expect(await cancelled).toBeInstanceOf(CommandCancelledError);
    const cancels = bot.stream.written.filter((m) => m.kind === "cancel").map((m) => (m as { commandId: string }).commandId);
    expect(cancels).toEqual(bot.received.map((r) => r.commandId));
  });

  it("a command that times out while still queued is taken back, not cancelled: the client never saw it", async () => {
    const h = harness();
    const bot = await h.connect("bot-1", { behaviour: neverReply() });
    bot.stream.pauseReading();
    const held = h.service.send("bot-1", { op: "held" }, { timeoutMs: 60_000 }).catch((e: unknown) => e); // the paused reader takes it
    const outcome = await h.service.send("bot-1", ping, { timeoutMs: 50 }).catch((e: unknown) => e);
    expect(outcome).toBeInstanceOf(CommandTimeoutError);
    bot.stream.resumeReading();
    await expect.poll(() => bot.received.length).toBe(1);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(bot.received.map((r) => r.command.op)).toEqual(["held"]);
    expect(bot.stream.written.filter((m) => m.kind === "cancel")).toEqual([]);
    void held;
  });

  it("a client's deadline_exceeded refusal (it never ran the command) is a CommandTimeoutError to the caller", async () => {
    const h = harness();
    await h.connect("bot-1", { behaviour: failWith("deadline_exceeded", "too late; not run") });
    const error = await h.service.send("bot-1", ping).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CommandTimeoutError);
    expect((error as CommandTimeoutError).cause).toMatchObject({ clientErrorCode: "deadline_exceeded" });
    expect(h.service.stats()).toMatchObject({ repliesFailed: 1, pendingCommands: 0 });
  });

  it("fails fast with ClientNotConnectedError for an unknown client: no timer, no wait", async () => {
    vi.useFakeTimers();
    const h = harness();
    const outcome = h.service.send("ghost", ping).catch((e: unknown) => e);
    expect(vi.getTimerCount()).toBe(0);
    expect(await outcome).toBeInstanceOf(ClientNotConnectedError);
  });

  it("waits for a client to connect when waitForConnectMs is given", async () => {
    const h = harness();
    const reply = h.service.send("late-bot", ping, { waitForConnectMs: 2_000 });
    expect(h.service.isConnected("late-bot")).toBe(false);
    const bot = await h.connect("late-bot");
    expect(await reply).toEqual({ echo: ping });
    expect(bot.received).toHaveLength(1);
  });

  it("gives up waiting for a client after waitForConnectMs, not before", async () => {
    vi.useFakeTimers();
    const h = harness();
    let settled = false;
    const outcome = h.service.send("ghost", ping, { waitForConnectMs: 30 }).catch((e: unknown) => e).finally(() => (settled = true));
    await vi.advanceTimersByTimeAsync(29);
    expect(settled).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(await outcome).toMatchObject({ name: "ClientNotConnectedError", message: "client ghost did not connect within 30 ms" });
  });

  it("rejects with CommandTimeoutError at the timeout, not before, when the client never replies", async () => {
    vi.useFakeTimers();
    const h = harness();
    await h.connect("bot-1", { behaviour: neverReply() });
    let settled = false;
    const outcome = h.service.send("bot-1", ping, { timeoutMs: 200 }).catch((e: unknown) => e).finally(() => (settled = true));
    await vi.advanceTimersByTimeAsync(199);
    expect(settled).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(await outcome).toBeInstanceOf(CommandTimeoutError);
    expect(h.service.stats()).toMatchObject({ pendingCommands: 0, timeouts: 1 });
  });

  it("uses the service's default timeout when the call gives none", async () => {
    vi.useFakeTimers();
    const h = harness({ defaultTimeoutMs: 1_000 });
    await h.connect("bot-1", { behaviour: neverReply() });
    const outcome = h.service.send("bot-1", ping).catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(1_001);
    expect(await outcome).toBeInstanceOf(CommandTimeoutError);
  });

  it("drops a reply that comes after the timeout, counts it and does not throw", async () => {
    vi.useFakeTimers();
    const h = harness();
    const bot = await h.connect("bot-1", { behaviour: neverReply() });
    const outcome = h.service.send("bot-1", ping, { timeoutMs: 100 }).catch((e: unknown) => e);
    const command = await bot.nextCommand();
    await vi.advanceTimersByTimeAsync(101);
    expect(await outcome).toBeInstanceOf(CommandTimeoutError);
    bot.reply(command.commandId, "too late");
    await vi.advanceTimersByTimeAsync(1);
    expect(h.service.stats()).toMatchObject({ lateReplies: 1, unknownReplies: 0, pendingCommands: 0 });
    expect(h.service.isConnected("bot-1")).toBe(true);
  });

  it("ignores and logs a reply with an id it never issued", async () => {
    const warn = vi.fn();
    const h = harness({ logger: { debug() {}, info() {}, warn, error() {} } });
    const bot = await h.connect("bot-1");
    bot.reply("made-up-id", "?");
    expect(await h.service.send("bot-1", ping)).toEqual({ echo: ping });
    expect(h.service.stats().unknownReplies).toBe(1);
    expect(warn).toHaveBeenCalledWith(expect.objectContaining({ commandId: "made-up-id" }), expect.stringMatching(/unknown command id/));
  });

  it("ignores a reply from another client to someone else's command", async () => {
    const h = harness();
    const target = await h.connect("bot-1", { behaviour: neverReply() });
    const impostor = await h.connect("bot-2");
    const outcome = h.service.send("bot-1", ping, { timeoutMs: 2_000 });
    const command = await target.nextCommand();
    impostor.reply(command.commandId, "forged");
    await expect.poll(() => h.service.stats().unknownReplies).toBe(1);
    target.reply(command.commandId, "genuine");
    expect(await outcome).toBe("genuine");
  });

  it("cancels with CommandCancelledError when the signal aborts, keeping the reason", async () => {
    const h = harness();
    await h.connect("bot-1", { behaviour: neverReply() });
    const controller = new AbortController();
    const outcome = h.service.send("bot-1", ping, { signal: controller.signal }).catch((e: unknown) => e);
    controller.abort(new Error("user pressed stop"));
    const error = await outcome;
    expect(error).toBeInstanceOf(CommandCancelledError);
    expect((error as Error).cause).toEqual(new Error("user pressed stop"));
    expect(h.service.stats().pendingCommands).toBe(0);
  });

  it("rejects at once when the signal is already aborted", async () => {
    const h = harness();
    await h.connect("bot-1");
    await expect(h.service.send("bot-1", ping, { signal: AbortSignal.abort() })).rejects.toBeInstanceOf(CommandCancelledError);
    expect(h.service.stats().commandsSent).toBe(0);
  });

  it.each([[""], [undefined], [42]])("rejects the client id %o with InvalidArgumentError", async (clientId) => {
    const h = harness();
    await expect(h.service.send(clientId as string, ping)).rejects.toBeInstanceOf(InvalidArgumentError);
  });

  it("rejects an invalid timeout with InvalidArgumentError", async () => {
    const h = harness();
    await h.connect("bot-1");
    await expect(h.service.send("bot-1", ping, { timeoutMs: -5 })).rejects.toThrow(/timeoutMs must not be negative/);
  });

  it("fails only the call when the binding cannot wrap the command", async () => {
    const picky = defineStreamingService({
      name: "picky",
      binding: {
        ...testBinding,
        wrapCommand(commandId: string, command: TestCommand) {
          if (command.op === "bad") throw new Error("cannot encode");
          return testBinding.wrapCommand(commandId, command);
        },
      },
    });
    const h = createHarness(testProtocol, { service: createStreamingService(picky) });
    harnesses.push(h);
    await h.connect("bot-1");
    await expect(h.service.send("bot-1", { op: "bad" })).rejects.toThrow(/could not wrap the command: cannot encode/);
    expect(await h.service.send("bot-1", ping)).toEqual({ echo: ping });
    await h.service.close();
  });
});

describe("streaming service: disconnects", () => {
  it("rejects every pending command with ClientDisconnectedError when the client hangs up", async () => {
    const h = harness();
    await h.connect("bot-1", { behaviour: disconnectOnCommand() });
    const error = await h.service.send("bot-1", ping).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ClientDisconnectedError);
    expect(h.service.isConnected("bot-1")).toBe(false);
  });

  it("rejects 100 pending commands at once on a disconnect (no timer has to fire) and frees the queue", async () => {
    vi.useFakeTimers();
    const h = harness();
    const bot = await h.connect("bot-1", { behaviour: neverReply() });
    const outcomes = Array.from({ length: 100 }, () =>
      h.service.send("bot-1", ping, { timeoutMs: 60_000 }).then(
        () => "replied",
        (e: unknown) => e,
      ),
    );
    expect(h.service.stats().pendingCommands).toBe(100);
    bot.disconnect();
    await vi.advanceTimersByTimeAsync(0);
    const errors = await Promise.all(outcomes);
    expect(errors.every((e) => e instanceof ClientDisconnectedError)).toBe(true);
    expect(h.service.stats()).toMatchObject({ pendingCommands: 0, queuedMessages: 0, disconnectRejections: 100 });
  });

  it("disconnect(): the server ends a client's stream with the error it gives; its pending commands fail; others stay", async () => {
    const h = harness();
    const bot = await h.connect("bot-1", { behaviour: neverReply() });
    await h.connect("bot-2");
    const events: DisconnectEvent[] = [];
    h.service.onDisconnect((event) => events.push(event));
    const pending = h.service.send("bot-1", ping, { timeoutMs: 60_000 }).catch((e: unknown) => e);
    await expect.poll(() => h.service.stats().pendingCommands).toBe(1);
    expect(h.service.disconnect("bot-1", new ClientReplacedError("bot-1 connected on node B"))).toBe(true);
    expect(await pending).toBeInstanceOf(ClientDisconnectedError);
    expect((await bot.stream.ended).error).toBeInstanceOf(ClientReplacedError);
    expect(events.map((e) => [e.client.clientId, e.reason])).toEqual([["bot-1", "replaced"]]);
    expect(h.service.disconnect("bot-1", new ClientReplacedError("again"))).toBe(false);
    expect(h.service.disconnect("bot-3", new InvalidArgumentError("kicked"))).toBe(false);
    expect(h.service.clients().map((c) => c.clientId)).toEqual(["bot-2"]);
  });

  it("treats a broken transport stream as a disconnect", async () => {
    const h = harness();
    const bot = await h.connect("bot-1", { behaviour: neverReply() });
    const outcome = h.service.send("bot-1", ping).catch((e: unknown) => e);
    await bot.nextCommand();
    bot.breakStream(new Error("ECONNRESET"));
    expect(await outcome).toBeInstanceOf(ClientDisconnectedError);
  });

  it("treats the transport's cancellation signal as a disconnect", async () => {
    const h = harness();
    const bot = await h.connect("bot-1", { behaviour: neverReply() });
    const outcome = h.service.send("bot-1", ping).catch((e: unknown) => e);
    await bot.nextCommand();
    bot.stream.cancel();
    expect(await outcome).toBeInstanceOf(ClientDisconnectedError);
    expect(h.service.isConnected("bot-1")).toBe(false);
  });

  it("drops a client that sends a malformed message, and the others keep working", async () => {
    const h = harness();
    const bad = await h.connect("bad", { behaviour: replyMalformed() });
    await h.connect("good");
    const error = await h.service.send("bad", ping).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ClientDisconnectedError);
    expect((error as Error).cause).toBeInstanceOf(ProtocolError);
    expect((await bad.stream.ended).error).toBeInstanceOf(ProtocolError);
    expect(await h.service.send("good", ping)).toEqual({ echo: ping });
  });

  it("drops a client silent for longer than the heartbeat timeout; a chatty one stays", async () => {
    vi.useFakeTimers();
    const h = harness({ heartbeatTimeoutMs: 4_000 });
    const silent = await h.connect("silent", { behaviour: neverReply() });
    const chatty = await h.connect("chatty");
    const pending = h.service.send("silent", ping, { timeoutMs: 60_000 }).catch((e: unknown) => e);
    for (let t = 0; t < 6; t++) {
      chatty.sendEvent();
      await vi.advanceTimersByTimeAsync(1_000);
    }
    expect(h.service.isConnected("silent")).toBe(false);
    expect(h.service.isConnected("chatty")).toBe(true);
    expect((await silent.stream.ended).error).toBeInstanceOf(HeartbeatTimeoutError);
    expect((await pending as Error).cause).toBeInstanceOf(HeartbeatTimeoutError);
  });
});

describe("streaming service: floods", () => {
  it("drops a client that sends more than maxMessagesPerSecond, and the others keep working", async () => {
    vi.useFakeTimers();
    const h = harness({ maxMessagesPerSecond: 50, heartbeatTimeoutMs: 0 });
    const flooder = await h.connect("flooder");
    const calm = await h.connect("calm");
    for (let i = 0; i < 40; i++) calm.sendEvent();
    await vi.advanceTimersByTimeAsync(1_000);
    for (let i = 0; i < 60; i++) flooder.sendEvent();
    await vi.advanceTimersByTimeAsync(1);
    const end = await flooder.stream.ended;
    expect(end.error).toBeInstanceOf(RateLimitedError);
    expect((end.error as Error).message).toMatch(/more than 50 messages per second/);
    expect(h.service.isConnected("calm")).toBe(true);
    expect(await h.service.send("calm", ping)).toEqual({ echo: ping });
  });

  it("replies to the server's own commands do not count against the rate", async () => {
    const h = harness({ maxMessagesPerSecond: 20, heartbeatTimeoutMs: 0 });
    await h.connect("busy");
    const replies = await Promise.all(Array.from({ length: 60 }, (_, i) => h.service.send("busy", { op: String(i) })));
    expect(replies).toHaveLength(60);
    expect(h.service.isConnected("busy")).toBe(true);
  });

  it("a steady client under the rate is never dropped", async () => {
    vi.useFakeTimers();
    const h = harness({ maxMessagesPerSecond: 20, heartbeatTimeoutMs: 0 });
    const steady = await h.connect("steady");
    for (let second = 0; second < 5; second++) {
      for (let i = 0; i < 10; i++) {
        steady.sendEvent();
        await vi.advanceTimersByTimeAsync(100);
      }
    }
    expect(h.service.isConnected("steady")).toBe(true);
  });
});

describe("streaming service: queue", () => {
  it("fails fast with QueueFullError when a slow client's queue is full", async () => {
    const h = harness({ maxQueueSize: 3 });
    const bot = await h.connect("bot-1", { behaviour: neverReply() });
    bot.stream.pauseReading();
    // One message is taken by the paused reader; three more fill the queue.
    const accepted = Array.from({ length: 4 }, () => h.service.send("bot-1", ping, { timeoutMs: 5_000 }).catch(() => {}));
    await expect.poll(() => h.service.client("bot-1")?.queuedMessages).toBe(3);
    const error = await h.service.send("bot-1", ping).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(QueueFullError);
    expect((error as Error).message).toMatch(/3 messages queued \(limit 3\)/);
    bot.stream.cancel();
    await Promise.all(accepted);
  });

  it("puts the caller's deadline on the wire for send (queue wait + reply timeout), none for post", async () => {
    const h = harness();
    const bot = await h.connect("bot-1");
    const before = Date.now();
    await h.service.send("bot-1", ping, { timeoutMs: 5_000, queueTimeoutMs: 1_000 });
    await h.service.post("bot-1", ping);
    await expect.poll(() => bot.received.length).toBe(2);
    const [sent, posted] = bot.received;
    expect(sent!.deadline).toBeGreaterThanOrEqual(before + 6_000);
    expect(sent!.deadline).toBeLessThanOrEqual(Date.now() + 6_000);
    expect(posted!.deadline).toBeUndefined();
  });

  it("never delivers a command that timed out (or was cancelled) while still queued", async () => {
    const h = harness();
    const bot = await h.connect("bot-1", { behaviour: neverReply() });
    bot.stream.pauseReading();
    // The paused reader holds the first message; the other two wait in the queue.
    const calls = ["taken", "late-1", "late-2"].map((op) => h.service.send("bot-1", { op }, { timeoutMs: 50 }).catch((e: unknown) => e));
    for (const error of await Promise.all(calls)) expect(error).toBeInstanceOf(CommandTimeoutError);
    // The two queued ones are gone; what waits is the cancel of the one the reader took.
    expect(h.service.client("bot-1")?.queuedMessages).toBe(1);
    bot.stream.resumeReading();
    await h.service.send("bot-1", { op: "after" }, { timeoutMs: 50 }).catch(() => undefined);
    expect(bot.received.map((message) => message.command.op)).toEqual(["taken", "after"]);
  });

  it("waits up to queueTimeoutMs for room and goes through when the client catches up", async () => {
    const h = harness({ maxQueueSize: 1 });
    const bot = await h.connect("bot-1");
    bot.stream.pauseReading();
    const first = h.service.send("bot-1", { op: "1" });
    const second = h.service.send("bot-1", { op: "2" });
    await expect.poll(() => h.service.client("bot-1")?.queuedMessages).toBe(1);
    const third = h.service.send("bot-1", { op: "3" }, { queueTimeoutMs: 2_000 });
    expect(h.service.client("bot-1")?.queuedMessages).toBe(1); // the third waits for room
    bot.stream.resumeReading();
    expect(await Promise.all([first, second, third])).toEqual([{ echo: { op: "1" } }, { echo: { op: "2" } }, { echo: { op: "3" } }]);
  });

  it("gives up after queueTimeoutMs with QueueFullError, not before", async () => {
    vi.useFakeTimers();
    const h = harness({ maxQueueSize: 1 });
    const bot = await h.connect("bot-1", { behaviour: neverReply() });
    bot.stream.pauseReading();
    void h.service.send("bot-1", ping).catch(() => {});
    await vi.advanceTimersByTimeAsync(0); // the paused reader takes the first
    void h.service.send("bot-1", ping).catch(() => {});
    expect(h.service.client("bot-1")?.queuedMessages).toBe(1);
    let settled = false;
    const outcome = h.service.send("bot-1", ping, { queueTimeoutMs: 40 }).catch((e: unknown) => e).finally(() => (settled = true));
    await vi.advanceTimersByTimeAsync(39);
    expect(settled).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(await outcome).toMatchObject({ name: "QueueFullError", message: expect.stringMatching(/no room came within 40 ms/) });
  });
});

describe("streaming service: pending limit", () => {
  it("a client that reads but never answers is capped at maxPendingPerClient", async () => {
    const h = harness({ maxPendingPerClient: 3 });
    await h.connect("sink", { behaviour: neverReply() });
    const held = Array.from({ length: 3 }, () => h.service.send("sink", ping, { timeoutMs: 60_000 }).catch((e: unknown) => e));
    expect(h.service.client("sink")?.pendingCommands).toBe(3);
    const error = await h.service.send("sink", ping).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(QueueFullError);
    expect((error as Error).message).toMatch(/3 commands waiting for replies \(limit 3\)/);
    await h.service.close();
    expect((await Promise.all(held)).every((e) => e instanceof ClientDisconnectedError)).toBe(true);
  });

  it("a command cancelled while waiting for its client never reaches anyone", async () => {
    const h = harness();
    const bot = await h.connect("bot-1");
    const controller = new AbortController();
    const sending = h.service.send("ghost-free", ping, { signal: controller.signal, waitForConnectMs: 1_000 }).catch((e: unknown) => e);
    controller.abort();
    expect(await sending).toBeInstanceOf(CommandCancelledError);
    await h.service.send("bot-1", { op: "after" });
    expect(bot.received.map((c) => c.command.op)).toEqual(["after"]);
  });
});

describe("streaming service: post, broadcast, events", () => {
  it("post resolves with the command id once queued, and its reply is not counted as unknown", async () => {
    const h = harness();
    const bot = await h.connect("bot-1");
    const commandId = await h.service.post("bot-1", ping);
    expect(typeof commandId).toBe("string");
    expect((await bot.nextCommand()).commandId).toBe(commandId);
    await h.service.send("bot-1", ping);
    expect(h.service.stats()).toMatchObject({ unknownReplies: 0, pendingCommands: 0 });
  });

  it("post to a missing client fails fast", async () => {
    const h = harness();
    await expect(h.service.post("ghost", ping)).rejects.toBeInstanceOf(ClientNotConnectedError);
  });

  it("broadcast reports one outcome per client, mixing replies, failures and timeouts", async () => {
    const h = harness();
    await h.connect("ok");
    await h.connect("failing", { behaviour: failWith("busy", "try later") });
    await h.connect("silent", { behaviour: neverReply() });
    const outcomes = await h.service.broadcast(ping, { timeoutMs: 100 });
    const byId = Object.fromEntries(outcomes.map((o) => [o.clientId, o]));
    expect(outcomes).toHaveLength(3);
    expect(byId["ok"]).toEqual({ clientId: "ok", ok: true, reply: { echo: ping } });
    expect(byId["failing"]).toMatchObject({ ok: false, error: expect.any(CommandFailedError) });
    expect(byId["silent"]).toMatchObject({ ok: false, error: expect.any(CommandTimeoutError) });
  });

  it("broadcast can be narrowed with a filter", async () => {
    const h = harness();
    await h.connect("a", { metadata: { region: "eu" } });
    await h.connect("b", { metadata: { region: "us" } });
    const outcomes = await h.service.broadcast(ping, { filter: (client) => client.metadata["region"] === "eu" });
    expect(outcomes.map((o) => o.clientId)).toEqual(["a"]);
  });

  it("onConnect, onMessage and onDisconnect see the client's life, and unsubscribing works", async () => {
    const h = harness();
    const connected: string[] = [];
    const messages: unknown[] = [];
    const disconnects: DisconnectEvent[] = [];
    h.service.onConnect((client) => connected.push(client.clientId));
    const stopMessages = h.service.onMessage((clientId, message) => messages.push([clientId, message]));
    h.service.onDisconnect((event) => disconnects.push(event));
    const bot = await h.connect("bot-1");
    bot.send({ kind: "event", data: "status: running" });
    await h.service.send("bot-1", ping);
    stopMessages();
    bot.send({ kind: "event", data: "not seen" });
    bot.disconnect();
    await bot.stream.ended;
    expect(connected).toEqual(["bot-1"]);
    expect(messages).toEqual([["bot-1", { kind: "event", data: "status: running" }]]);
    expect(disconnects).toHaveLength(1);
    expect(disconnects[0]).toMatchObject({ reason: "client_closed", client: { clientId: "bot-1" } });
  });

  it("a listener that throws is logged and does not break the stream", async () => {
    const error = vi.fn();
    const h = harness({ logger: { debug() {}, info() {}, warn() {}, error } });
    h.service.onMessage(() => {
      throw new Error("listener bug");
    });
    const bot = await h.connect("bot-1");
    bot.sendEvent();
    expect(await h.service.send("bot-1", ping)).toEqual({ echo: ping });
    expect(error).toHaveBeenCalled();
  });
});

describe("streaming service: close", () => {
  it("rejects pending commands, ends every stream with ServiceClosedError and refuses new work", async () => {
    const h = harness();
    const bots = [await h.connect("a", { behaviour: neverReply() }), await h.connect("b")];
    const pending = h.service.send("a", ping).catch((e: unknown) => e);
    await bots[0]!.nextCommand();
    await h.service.close();
    const error = await pending;
    expect(error).toBeInstanceOf(ClientDisconnectedError);
    expect((error as Error).cause).toBeInstanceOf(ServiceClosedError);
    for (const bot of bots) expect((await bot.stream.ended).error).toBeInstanceOf(ServiceClosedError);
    expect(h.service.clients()).toEqual([]);
    await expect(h.service.send("b", ping)).rejects.toBeInstanceOf(ServiceClosedError);
    expect((await h.openStream().ended).error).toBeInstanceOf(ServiceClosedError);
    await h.service.close();
  });

  it("waitForClient on a closed service rejects rather than throws", async () => {
    const h = harness();
    await h.service.close();
    const waiting = h.service.waitForClient("x", { timeoutMs: 10 });
    await expect(waiting).rejects.toBeInstanceOf(ServiceClosedError);
  });

  it("rejects waiters for clients that will now never connect", async () => {
    const h = harness();
    const waiting = h.service.send("ghost", ping, { waitForConnectMs: 10_000 }).catch((e: unknown) => e);
    await h.service.close();
    expect(await waiting).toBeInstanceOf(ServiceClosedError);
  });

  it("works with await using", async () => {
    let closedService;
    {
      await using service = createStreamingService(testService);
      closedService = service;
      expect(service.closed).toBe(false);
    }
    expect(closedService.closed).toBe(true);
  });
});

describe("streaming service: options", () => {
  it.each([
    [{ duplicatePolicy: "keep" }, /duplicatePolicy must be "replace" or "reject"/],
    [{ maxQueueSize: 0 }, /maxQueueSize must be a whole number of at least 1/],
    [{ heartbeatTimeoutMs: -1 }, /heartbeatTimeoutMs must not be negative/],
    [{ helloTimeoutMs: Number.NaN }, /helloTimeoutMs must be a whole number/],
    [{ defaultTimeoutMs: 1.5 }, /defaultTimeoutMs must be a whole number/],
    [{ maxMessagesPerSecond: -3 }, /maxMessagesPerSecond must be a whole number of at least 0/],
    [{ maxPendingPerClient: 0 }, /maxPendingPerClient must be a whole number of at least 1/],
    [{ helloTimeoutMs: 0 }, /helloTimeoutMs must be at least 1 ms/],
    [{ defaultTimeoutMs: 0 }, /defaultTimeoutMs must be at least 1 ms/],
  ])("rejects %o", (options, message) => {
    expect(() => createStreamingService(testService, options as never)).toThrow(message);
  });

  it("rejects a binding without its functions, at definition and at creation", () => {
    expect(() => defineStreamingService({ name: "x", binding: { identify() {} } } as never)).toThrow(/needs a function "wrapCommand"/);
    expect(() => createStreamingService({ name: "x", binding: { identify() {} } } as never)).toThrow(/needs a function "wrapCommand"/);
  });
});

describe("streaming service: load", () => {
  it("10,000 commands through the harness leave no pending entry and no timer behind", async () => {
    vi.useFakeTimers();
    const h = harness({ heartbeatTimeoutMs: 0 });
    const bots = await h.connectMany(10, "bot-");
    const timersBefore = vi.getTimerCount();
    const replies = await Promise.all(
      Array.from({ length: 10_000 }, (_, i) => h.service.send(`bot-${i % 10}`, { op: "n", payload: i }, { queueTimeoutMs: 60_000 })),
    );
    expect(replies[9_999]).toEqual({ echo: { op: "n", payload: 9_999 } });
    expect(bots.reduce((sum, bot) => sum + bot.received.length, 0)).toBe(10_000);
    expect(h.service.stats()).toMatchObject({ pendingCommands: 0, queuedMessages: 0, repliesOk: 10_000 });
    expect(vi.getTimerCount()).toBe(timersBefore);
    await h.service.close();
    expect(vi.getTimerCount()).toBe(0);
  });
});
