import { describe, expect, it, vi } from "vitest";
import { CommandFailedError } from "@streamcmd/core";
import { botAgent, botCommands, BotStatus } from "@streamcmd/demo-protocol";
import { createSimulatedBot } from "./index.js";

describe("simulated trading bot", () => {
  it("takes realistic time to start and reports every status change", async () => {
    vi.useFakeTimers();
    try {
      const bot = createSimulatedBot("sim", { timing: { startMs: 400 } });
      const changes: BotStatus[] = [];
      bot.onStatus((status) => changes.push(status));
      const starting = bot.start({ reason: "go" });
      expect(bot.status).toBe(BotStatus.STARTING);
      await vi.advanceTimersByTimeAsync(399);
      expect(bot.status).toBe(BotStatus.STARTING);
      await vi.advanceTimersByTimeAsync(1);
      expect((await starting).status).toBe(BotStatus.RUNNING);
      expect(changes).toEqual([BotStatus.STARTING, BotStatus.RUNNING]);
    } finally {
      vi.useRealTimers();
    }
  });

  it("refuses to start twice, and honours injected failures once or always", async () => {
    const bot = createSimulatedBot("sim", { timing: { startMs: 1 } });
    await bot.start({ reason: "go" });
    await expect(bot.start({ reason: "again" })).rejects.toMatchObject({ clientErrorCode: "already_running" });
    bot.injectFailure("ping", "flaky");
    await expect(bot.ping()).rejects.toBeInstanceOf(CommandFailedError);
    expect((await bot.ping()).status).toBe(BotStatus.RUNNING);
    bot.injectFailure("ping", "down", "always down", true);
    await expect(bot.ping()).rejects.toThrow(/always down/);
    await expect(bot.ping()).rejects.toThrow(/always down/);
    bot.clearFailures();
    expect((await bot.ping()).status).toBe(BotStatus.RUNNING);
  });

  it("opens config.max_open_orders orders; graceful stop closes them one by one, force abandons them", async () => {
    const graceful = createSimulatedBot("g", { timing: { startMs: 1, perOrderMs: 5 }, config: { max_open_orders: 4 } });
    await graceful.start({ reason: "go" });
    expect(graceful.openOrders).toBe(4);
    const t0 = performance.now();
    await graceful.stop({ reason: "done", graceful: true });
    expect(performance.now() - t0).toBeGreaterThanOrEqual(18);
    expect([graceful.closedOrders, graceful.abandonedOrders, graceful.status]).toEqual([4, 0, BotStatus.STOPPED]);

    const forced = createSimulatedBot("f", { timing: { startMs: 1 }, config: { max_open_orders: 4 } });
    await forced.start({ reason: "go" });
    await forced.stop({ reason: "now", graceful: false });
    expect([forced.closedOrders, forced.abandonedOrders]).toEqual([0, 4]);
  });

  it("validates and applies configs, whole or by field path", async () => {
    const bot = createSimulatedBot("c", { timing: { configMs: 1 } });
    await bot.configUpdate({ config: { risk: { max_position: 2, stop_loss: 0.1 } } });
    await bot.configUpdate({ config: { risk: { stop_loss: 0.3 } }, partial: true, fieldPaths: ["risk.stop_loss"] });
    expect(bot.config).toEqual({ risk: { max_position: 2, stop_loss: 0.3 } });
    await expect(bot.configUpdate({ config: { risk: { max_position: -1 } } })).rejects.toMatchObject({ clientErrorCode: "invalid_config" });
    expect(bot.config).toEqual({ risk: { max_position: 2, stop_loss: 0.3 } });
  });

  it("stops work when its signal aborts and is left STOPPED, ready to start again", async () => {
    const bot = createSimulatedBot("s", { timing: { startMs: 10_000 } });
    const controller = new AbortController();
    const starting = bot.start({ reason: "go" }, { signal: controller.signal });
    controller.abort(new Error("connection lost"));
    await expect(starting).rejects.toThrow("connection lost");
    expect(bot.status).toBe(BotStatus.STOPPED);
  });

  it("refuses overlapping commands: start while stopping, stop while starting", async () => {
    const bot = createSimulatedBot("o", { timing: { startMs: 30, perOrderMs: 30 } });
    const starting = bot.start({ reason: "go" });
    await expect(bot.stop({ reason: "now", graceful: true })).rejects.toMatchObject({ clientErrorCode: "busy" });
    await starting;
    const stopping = bot.stop({ reason: "later", graceful: true });
    await expect(bot.start({ reason: "again" })).rejects.toMatchObject({ clientErrorCode: "busy" });
    expect((await stopping).status).toBe(BotStatus.STOPPED);
    expect(bot.openOrders).toBe(0);
  });

  it("plugs into botAgent: each command reaches its handler and comes back as that command's reply", async () => {
    const bot = createSimulatedBot("a", { timing: { startMs: 1 }, version: "sim-2" });
    const { onCommand } = botAgent(bot);
    const context = { commandId: "c-1", signal: new AbortController().signal };
    expect((await onCommand(botCommands.start({ reason: "go" }), context)).reply).toMatchObject({ case: "start", value: { status: BotStatus.RUNNING } });
    expect((await onCommand(botCommands.ping(), context)).reply).toMatchObject({ case: "ping", value: { status: BotStatus.RUNNING, version: "sim-2" } });
  });
});
