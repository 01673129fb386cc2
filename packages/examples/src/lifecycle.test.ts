import { afterEach, describe, expect, it } from "vitest";
import {
  ClientDisconnectedError,
  CommandCancelledError,
  CommandFailedError,
  CommandTimeoutError,
  InvalidArgumentError,
} from "@streamcmd/core";
import { BotStatus } from "@streamcmd/demo-protocol";
import { neverReply } from "@streamcmd/testing";
import { batchUpdateConfig, createSimulatedBot, startBot, stopBot, updateBotConfig } from "./index.js";
import { fastTiming, fleetScope, simulated } from "./test-support/fleet.js";

const scope = fleetScope();
afterEach(() => scope.closeAll());
const setup = scope.setup;

describe("startBot", () => {
  it("goes STOPPED → STARTING → RUNNING, in the store and in the bot", async () => {
    const { store, client, bot } = await setup();
    const seen: BotStatus[] = [];
    bot("bot-1").onStatus(async () => seen.push((await store.get("bot-1"))!.status));
    const outcome = await startBot(client("bot-1"), store, { reason: "market open" });
    expect(outcome).toMatchObject({ botId: "bot-1", previousStatus: BotStatus.STOPPED, status: BotStatus.RUNNING });
    expect(outcome.roundTripMs).toBeGreaterThan(0);
    expect(seen[0]).toBe(BotStatus.STARTING); // stored while the bot was starting
    expect(await store.get("bot-1")).toMatchObject({ status: BotStatus.RUNNING, statusReason: "market open" });
    expect(bot("bot-1").status).toBe(BotStatus.RUNNING);
  });

  it("restores the previous status when the bot replies with a failure", async () => {
    const { store, client, bot } = await setup();
    await store.setStatus("bot-1", BotStatus.STOPPED, "maintenance");
    bot("bot-1").injectFailure("start", "exchange_unreachable", "cannot reach the exchange");
    const error = await startBot(client("bot-1"), store, { reason: "try" }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CommandFailedError);
    expect(await store.get("bot-1")).toMatchObject({ status: BotStatus.STOPPED, statusReason: "maintenance" });
  });

  it("sets ERROR with the reason kept on a transport error", async () => {
    const { store, client, harness } = await setup();
    await harness.connect("silent", { behaviour: neverReply() });
    const error = await startBot(client("silent"), store, { reason: "try", timeoutMs: 30 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CommandTimeoutError);
    const record = await store.get("silent");
    expect(record?.status).toBe(BotStatus.ERROR);
    expect(record?.statusReason).toMatch(/^command_timeout: client silent did not reply/);
  });

  it("a command that never left (the bot is not connected) changes nothing", async () => {
    const { store, client } = await setup();
    await store.setStatus("ghost", BotStatus.STOPPED, "offline since Monday");
    await expect(startBot(client("ghost"), store, { reason: "x" })).rejects.toThrow(/not connected/);
    expect(await store.get("ghost")).toMatchObject({ status: BotStatus.STOPPED, statusReason: "offline since Monday" });
  });
});

describe("stopBot", () => {
  it("graceful: the bot closes its open orders before it reports STOPPED", async () => {
    const { store, client, bot } = await setup();
    await startBot(client("bot-1"), store, { reason: "go" });
    expect(bot("bot-1").openOrders).toBe(3);
    const outcome = await stopBot(client("bot-1"), store, { reason: "end of day", graceful: true });
    expect(outcome).toMatchObject({ previousStatus: BotStatus.RUNNING, status: BotStatus.STOPPED });
    expect([bot("bot-1").closedOrders, bot("bot-1").abandonedOrders]).toEqual([3, 0]);
    expect(outcome.reply).toMatchObject({ status: BotStatus.STOPPED, detail: "stopped gracefully, closed 3 orders" });
  });

  it("force: the bot stops at once and abandons its orders", async () => {
    const { store, client, bot } = await setup();
    await startBot(client("bot-1"), store, { reason: "go" });
    const outcome = await stopBot(client("bot-1"), store, { reason: "panic", graceful: false });
    expect(outcome.status).toBe(BotStatus.STOPPED);
    expect([bot("bot-1").closedOrders, bot("bot-1").abandonedOrders]).toEqual([0, 3]);
  });

  it("restores the previous status when the bot refuses", async () => {
    const { store, client, bot } = await setup();
    await startBot(client("bot-1"), store, { reason: "go" });
    bot("bot-1").injectFailure("stop", "orders_locked", "an order is being amended");
    await expect(stopBot(client("bot-1"), store, { reason: "x", graceful: true })).rejects.toBeInstanceOf(CommandFailedError);
    expect((await store.get("bot-1"))?.status).toBe(BotStatus.RUNNING);
  });

  it("sets ERROR when the bot goes away mid-stop", async () => {
    const { store, client, harness } = await setup();
    await harness.connect("quitter", { behaviour: () => ({ disconnect: true }) });
    await expect(stopBot(client("quitter"), store, { reason: "x", graceful: true })).rejects.toBeInstanceOf(ClientDisconnectedError);
    expect((await store.get("quitter"))?.status).toBe(BotStatus.ERROR);
  });
});

describe("updateBotConfig", () => {
  it("replaces the whole config, in the bot and in the store", async () => {
    const { store, client, bot } = await setup();
    await store.setConfig("bot-1", { old: true });
    const outcome = await updateBotConfig(client("bot-1"), store, { risk: { max_position: 3 }, symbols: ["ETH"] });
    expect(outcome.config).toEqual({ risk: { max_position: 3 }, symbols: ["ETH"] });
    expect(bot("bot-1").config).toEqual({ risk: { max_position: 3 }, symbols: ["ETH"] });
    expect((await store.get("bot-1"))?.config).toEqual({ risk: { max_position: 3 }, symbols: ["ETH"] });
  });

  it("updates only the listed field paths", async () => {
    const { store, client, bot } = await setup();
    const initial = { risk: { max_position: 3, stop_loss: 0.02 }, symbols: ["ETH"] };
    await updateBotConfig(client("bot-1"), store, initial);
    const outcome = await updateBotConfig(client("bot-1"), store, { risk: { max_position: 8 }, symbols: ["IGNORED"] }, { fields: ["risk.max_position"] });
    const expected = { risk: { max_position: 8, stop_loss: 0.02 }, symbols: ["ETH"] };
    expect(outcome.config).toEqual(expected);
    expect(bot("bot-1").config).toEqual(expected);
    expect((await store.get("bot-1"))?.config).toEqual(expected);
    expect(outcome.reply.detail).toBe("updated risk.max_position");
  });

  it("leaves the stored config untouched when the bot rejects it", async () => {
    const { store, client } = await setup();
    await updateBotConfig(client("bot-1"), store, { risk: { max_position: 3 } });
    const error = await updateBotConfig(client("bot-1"), store, { risk: { max_position: -1 } }).catch((e: unknown) => e);
    expect(error).toMatchObject({ clientErrorCode: "invalid_config" });
    expect((await store.get("bot-1"))?.config).toEqual({ risk: { max_position: 3 } });
  });

  it("refuses bad field paths before sending anything", async () => {
    const { store, client, hub } = await setup();
    await expect(updateBotConfig(client("bot-1"), store, {}, { fields: ["risk..x"] })).rejects.toBeInstanceOf(InvalidArgumentError);
    expect(hub.stats().commandsSent).toBe(0);
  });
});

describe("partial updates that overlap", () => {
  it("two partial updates of different fields in flight together both survive", async () => {
    const { store, client } = await setup();
    await updateBotConfig(client("bot-1"), store, { a: 1, b: 1 });
    await Promise.all([
      updateBotConfig(client("bot-1"), store, { a: 2 }, { fields: ["a"] }),
      updateBotConfig(client("bot-1"), store, { b: 3 }, { fields: ["b"] }),
    ]);
    expect((await store.get("bot-1"))?.config).toEqual({ a: 2, b: 3 });
  });
});

describe("batchUpdateConfig", () => {
  it("stops handing out bots once its signal aborts, without touching the rest", async () => {
    const ids = ["a", "b", "c", "d"];
    const { store, client } = await setup(ids);
    const controller = new AbortController();
    controller.abort();
    const report = await batchUpdateConfig(ids.map(client), store, { mode: "live" }, { signal: controller.signal, concurrency: 1 });
    expect(report.every((r) => !r.ok && r.error instanceof CommandCancelledError)).toBe(true);
    expect((await store.list()).map((r) => r.config)).toEqual([]);
  });

  it("updates many bots with a concurrency limit and reports per bot", async () => {
    const ids = ["a", "b", "c", "d", "e"];
    const { store, client, harness } = await setup([]);
    // Counted where the commands arrive: how many bots are working on one at once.
    let inFlight = 0;
    let peak = 0;
    for (const id of ids) {
      const bot = createSimulatedBot(id, { timing: fastTiming });
      if (id === "c") bot.injectFailure("configUpdate", "busy", "try later");
      const answer = simulated(bot);
      await harness.connect(id, {
        behaviour: async (command, received) => {
          inFlight++;
          peak = Math.max(peak, inFlight);
          try {
            return await answer(command, received);
          } finally {
            inFlight--;
          }
        },
      });
    }
    const report = await batchUpdateConfig(ids.map(client), store, { mode: "live" }, { concurrency: 2 });
    expect(report.map((r) => [r.botId, r.ok])).toEqual([["a", true], ["b", true], ["c", false], ["d", true], ["e", true]]);
    expect(report[2]).toMatchObject({ ok: false, error: expect.any(CommandFailedError) });
    expect(peak).toBe(2);
    expect((await store.get("c"))?.config).toEqual({});
    expect((await store.get("e"))?.config).toEqual({ mode: "live" });
  });

  it("applies a partial update to every bot", async () => {
    const { store, client } = await setup(["a", "b"]);
    await store.setConfig("a", { risk: { max_position: 1 }, tag: "a" });
    await store.setConfig("b", { risk: { max_position: 2 }, tag: "b" });
    const report = await batchUpdateConfig([client("a"), client("b")], store, { risk: { max_position: 7 } }, { fields: ["risk.max_position"] });
    expect(report.every((r) => r.ok)).toBe(true);
    expect((await store.list()).map((r) => r.config)).toEqual([
      { risk: { max_position: 7 }, tag: "a" },
      { risk: { max_position: 7 }, tag: "b" },
    ]);
  });
});
