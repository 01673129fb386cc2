import { afterEach, describe, expect, it } from "vitest";
import { createHarness, delayed, disconnectOnCommand, replyWith, testProtocol, type TestCommand } from "@streamcmd/testing";
import { ClientDisconnectedError, ClientNotConnectedError, InvalidArgumentError, QueueFullError, type StreamingServiceOptions } from "./index.js";

const start: TestCommand = { op: "start" };
const harnesses: { close(): Promise<void> }[] = [];
afterEach(async () => {
  await Promise.all(harnesses.splice(0).map((h) => h.close()));
});

function harness(serviceOptions: StreamingServiceOptions = {}) {
  const h = createHarness(testProtocol, { serviceOptions });
  harnesses.push(h);
  return h;
}

describe("idempotency keys", () => {
  it("a retry while the first call is in flight waits for it; the command is delivered once", async () => {
    const h = harness();
    const bot = await h.connect("bot-1", { behaviour: delayed(50, replyWith((command) => `ran ${command.op}`)) });
    const [first, retry] = await Promise.all([h.service.send("bot-1", start, { idempotencyKey: "k1" }), h.service.send("bot-1", start, { idempotencyKey: "k1" })]);
    expect([first, retry]).toEqual(["ran start", "ran start"]);
    expect(bot.received).toHaveLength(1);
  });

  it("a retry after the outcome, within the window, gets that outcome; another key or another client sends", async () => {
    const h = harness();
    const bot = await h.connect("bot-1", { behaviour: replyWith((command) => `ran ${command.op}`) });
    const other = await h.connect("bot-2");
    await h.service.send("bot-1", start, { idempotencyKey: "k1" });
    await h.service.send("bot-1", start, { idempotencyKey: "k1" });
    await h.service.send("bot-1", start, { idempotencyKey: "k2" });
    await h.service.send("bot-2", start, { idempotencyKey: "k1" });
    expect([bot.received.length, other.received.length]).toEqual([2, 1]);
  });

  it("a key is forgotten after the window", async () => {
    let now = 1_000_000;
    const h = harness({ idempotencyWindowMs: 1_000, now: () => now });
    const bot = await h.connect("bot-1");
    await h.service.send("bot-1", start, { idempotencyKey: "k1" });
    now += 1_001;
    await h.service.send("bot-1", start, { idempotencyKey: "k1" });
    expect(bot.received).toHaveLength(2);
  });

  it("a command that was never delivered is forgotten: the retry sends it", async () => {
    const h = harness();
    await expect(h.service.send("bot-1", start, { idempotencyKey: "k1" })).rejects.toBeInstanceOf(ClientNotConnectedError);
    const bot = await h.connect("bot-1");
    await h.service.send("bot-1", start, { idempotencyKey: "k1" });
    expect(bot.received).toHaveLength(1);
  });

  it("a command that may have run is not run again after the client reconnects: the retry gets the first outcome", async () => {
    const h = harness();
    const first = await h.connect("bot-1", { behaviour: disconnectOnCommand() });
    await expect(h.service.send("bot-1", start, { idempotencyKey: "k1" })).rejects.toBeInstanceOf(ClientDisconnectedError);
    const again = await h.connect("bot-1");
    await expect(h.service.send("bot-1", start, { idempotencyKey: "k1" })).rejects.toBeInstanceOf(ClientDisconnectedError);
    expect([first.received.length, again.received.length]).toEqual([1, 0]);
  });

  it("refuses a bad key, and a new key beyond maxIdempotencyKeys (never sent)", async () => {
    const h = harness({ maxIdempotencyKeys: 2 });
    const bot = await h.connect("bot-1");
    await expect(h.service.send("bot-1", start, { idempotencyKey: "" })).rejects.toBeInstanceOf(InvalidArgumentError);
    await h.service.send("bot-1", start, { idempotencyKey: "a" });
    await h.service.send("bot-1", start, { idempotencyKey: "b" });
    await expect(h.service.send("bot-1", start, { idempotencyKey: "c" })).rejects.toBeInstanceOf(QueueFullError);
    await h.service.send("bot-1", start, { idempotencyKey: "a" });
    expect(bot.received).toHaveLength(2);
  });
});
