import { afterEach, describe, expect, it } from "vitest";
import { CommandFailedError, CommandTimeoutError } from "@streamcmd/core";
import { create } from "@bufbuild/protobuf";
import { BotStatus, CommandResultSchema, type CommandResult, type ConnectResponse } from "@streamcmd/demo-protocol";
import { batchStart, batchStop, createBotCommandClient } from "./index.js";
import { fleetScope } from "./test-support/fleet.js";

const scope = fleetScope();
afterEach(() => scope.closeAll());
const setup = scope.setup;

/** A fake bot's reply to `command`: the reply of that command, with `status` (and `detail`). */
function replyTo(command: ConnectResponse, status: BotStatus, detail = ""): CommandResult {
  switch (command.command.case) {
    case "start":
    case "stop":
    case "configUpdate":
      return create(CommandResultSchema, { reply: { case: command.command.case, value: { status, detail } } });
    default:
      return create(CommandResultSchema, { reply: { case: "ping", value: { status } } });
  }
}

describe("BotCommandClient", () => {
  it("start, updateConfig, stop keep the store in step with the bot", async () => {
    const { store, botClient, bot } = await setup();
    const client = botClient("bot-1");
    expect((await client.start("open")).status).toBe(BotStatus.RUNNING);
    expect((await client.updateConfig({ max_open_orders: 5 })).config).toEqual({ max_open_orders: 5 });
    expect((await client.stop("close", { graceful: false })).status).toBe(BotStatus.STOPPED);
    expect(await store.get("bot-1")).toMatchObject({ status: BotStatus.STOPPED, config: { max_open_orders: 5 } });
    expect(bot("bot-1").abandonedOrders).toBe(3);
  });

  it("status asks the bot and stores what it says", async () => {
    const { store, botClient } = await setup();
    await store.setStatus("bot-1", BotStatus.ERROR, "stale");
    expect(await botClient("bot-1").status()).toBe(BotStatus.STOPPED);
    expect((await store.get("bot-1"))?.status).toBe(BotStatus.STOPPED);
  });

  it("restart: graceful stop, then start; the bot closed its orders and runs again", async () => {
    const { store, botClient, bot } = await setup();
    const client = botClient("bot-1");
    await client.start("open");
    const outcome = await client.restart("new strategy");
    expect(outcome.stop.status).toBe(BotStatus.STOPPED);
    expect(outcome.start.status).toBe(BotStatus.RUNNING);
    expect(bot("bot-1").closedOrders).toBe(3);
    expect(await store.get("bot-1")).toMatchObject({ status: BotStatus.RUNNING, statusReason: "restart: new strategy" });
  });

  it("restart waits (asking the bot) when the stop reply comes before the bot is STOPPED", async () => {
    const { store, harness } = await setup([]);
    let stopping = 0;
    await harness.connect("slow-stopper", {
      behaviour: (command) => {
        switch (command.command.case) {
          case "stop":
            stopping = 3; // three more pings before it is down
            return { reply: replyTo(command, BotStatus.STOPPING, "winding down") };
          case "ping":
            stopping = Math.max(0, stopping - 1);
            return { reply: replyTo(command, stopping > 0 ? BotStatus.STOPPING : BotStatus.STOPPED) };
          default:
            return { reply: replyTo(command, BotStatus.RUNNING) };
        }
      },
    });
    const client = createBotCommandClient({ botId: "slow-stopper", store, service: harness.service });
    const outcome = await client.restart("roll");
    expect(outcome.stop.status).toBe(BotStatus.STOPPING);
    expect(outcome.start.status).toBe(BotStatus.RUNNING);
    expect(stopping).toBe(0);
  });

  it("restart gives up with CommandTimeoutError if the bot never reaches STOPPED", async () => {
    const { store, harness } = await setup([]);
    await harness.connect("stubborn", { behaviour: (command) => ({ reply: replyTo(command, BotStatus.STOPPING) }) });
    const client = createBotCommandClient({ botId: "stubborn", store, service: harness.service });
    await expect(client.restart("roll", { stoppedWithinMs: 100 })).rejects.toBeInstanceOf(CommandTimeoutError);
  });

  it("restart aborts when the stop fails: the bot is not started again", async () => {
    const { botClient, bot, hub } = await setup();
    const client = botClient("bot-1");
    await client.start("open");
    bot("bot-1").injectFailure("stop", "orders_locked");
    const sentBefore = hub.stats().commandsSent;
    await expect(client.restart("roll")).rejects.toBeInstanceOf(CommandFailedError);
    expect(hub.stats().commandsSent).toBe(sentBefore + 1); // the stop only
    expect(bot("bot-1").status).toBe(BotStatus.RUNNING);
  });
});

describe("batchStart / batchStop", () => {
  it("start and stop many bots with per-bot outcomes", async () => {
    const ids = ["a", "b", "c"];
    const { store, botClient, bot } = await setup(ids);
    bot("b").injectFailure("start", "exchange_unreachable");
    const clients = ids.map(botClient);
    const started = await batchStart(clients, "open", { concurrency: 2 });
    expect(started.map((o) => [o.botId, o.ok])).toEqual([["a", true], ["b", false], ["c", true]]);
    expect((await store.get("b"))?.status).toBe(BotStatus.STOPPED);
    const stopped = await batchStop(clients, "close", { graceful: true });
    expect(stopped.every((o) => o.ok)).toBe(true);
    expect((await store.list()).map((r) => r.status)).toEqual([BotStatus.STOPPED, BotStatus.STOPPED, BotStatus.STOPPED]);
  });
});
