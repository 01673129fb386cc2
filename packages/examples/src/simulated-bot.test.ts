import { describe, expect, it, vi } from "vitest";
import { CommandFailedError } from "@streamcmd/core";
import { botCommands, BotStatus } from "@streamcmd/demo-protocol";
import { createSimulatedBot } from "./index.js";

describe("simulated trading bot", () => {
  it("takes realistic time to start and reports every status change", async () => {
    vi.useFakeTimers();
    try {
      const bot = createSimulatedBot("sim", { timing: { startMs: 400 } });
      const changes: BotStatus[] = [];
      bot.onStatus((status) => changes.push(status));
      const starting = bot.handle(botCommands.start("go"));
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
    await bot.handle(botCommands.start("go"));
    await expect(bot.handle(botCommands.start("again"))).rejects.toMatchObject({ clientErrorCode: "already_running" });
    bot.injectFailure("ping", "flaky");
    await expect(bot.handle(botCommands.ping())).rejects.toBeInstanceOf(CommandFailedError);
    expect((await bot.handle(botCommands.ping())).status).toBe(BotStatus.RUNNING);
    bot.injectFailure("ping", "down", "always down", true);
    await expect(bot.handle(botCommands.ping())).rejects.toThrow(/always down/);
    await expect(bot.handle(botCommands.ping())).rejects.toThrow(/always down/);
    bot.clearFailures();
    expect((await bot.handle(botCommands.ping())).status).toBe(BotStatus.RUNNING);
  });

  it("opens config.max_open_orders orders; graceful stop closes them one by one, force abandons them", async () => {
    const graceful = createSimulatedBot("g", { timing: { startMs: 1, perOrderMs: 5 }, config: { max_open_orders: 4 } });
    await graceful.handle(botCommands.start("go"));
    expect(graceful.openOrders).toBe(4);
    const t0 = performance.now();
    await graceful.handle(botCommands.stop("done", true));
    expect(performance.now() - t0).toBeGreaterThanOrEqual(18);
    expect([graceful.closedOrders, graceful.abandonedOrders, graceful.status]).toEqual([4, 0, BotStatus.STOPPED]);

    const forced = createSimulatedBot("f", { timing: { startMs: 1 }, config: { max_open_orders: 4 } });
    await forced.handle(botCommands.start("go"));
    await forced.handle(botCommands.stop("now", false));
    expect([forced.closedOrders, forced.abandonedOrders]).toEqual([0, 4]);
  });

  it("validates and applies configs, whole or by field path", async () => {
    const bot = createSimulatedBot("c", { timing: { configMs: 1 } });
    await bot.handle(botCommands.configUpdate({ risk: { max_position: 2, stop_loss: 0.1 } }));
    await bot.handle(botCommands.configUpdate({ risk: { stop_loss: 0.3 } }, ["risk.stop_loss"]));
    expect(bot.config).toEqual({ risk: { max_position: 2, stop_loss: 0.3 } });
    await expect(bot.handle(botCommands.configUpdate({ risk: { max_position: -1 } }))).rejects.toMatchObject({ clientErrorCode: "invalid_config" });
    expect(bot.config).toEqual({ risk: { max_position: 2, stop_loss: 0.3 } });
  });

  it("stops work when its signal aborts and is left STOPPED, ready to start again", async () => {
    const bot = createSimulatedBot("s", { timing: { startMs: 10_000 } });
    const controller = new AbortController();
    const starting = bot.handle(botCommands.start("go"), controller.signal);
    controller.abort(new Error("connection lost"));
    await expect(starting).rejects.toThrow("connection lost");
    expect(bot.status).toBe(BotStatus.STOPPED);
  });

  it("refuses overlapping commands: start while stopping, stop while starting", async () => {
    const bot = createSimulatedBot("o", { timing: { startMs: 30, perOrderMs: 30 } });
    const starting = bot.handle(botCommands.start("go"));
    await expect(bot.handle(botCommands.stop("now", true))).rejects.toMatchObject({ clientErrorCode: "busy" });
    await starting;
    const stopping = bot.handle(botCommands.stop("later", true));
    await expect(bot.handle(botCommands.start("again"))).rejects.toMatchObject({ clientErrorCode: "busy" });
    expect((await stopping).status).toBe(BotStatus.STOPPED);
    expect(bot.openOrders).toBe(0);
  });
});
