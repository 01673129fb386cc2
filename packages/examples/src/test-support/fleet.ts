// Internal test support: simulated bots connected to a real hub through the in-memory harness.
import { createCommandClient, isCommandError, type CommandFailedError } from "@streamcmd/core";
import type { CommandResult, ConnectResponse } from "@streamcmd/demo-protocol";
import { createHarness, demoBotProtocol, type Behaviour } from "@streamcmd/testing";
import { createBotCommandClient } from "../bot-command-client.js";
import type { BotClient } from "../lifecycle.js";
import { createMemoryBotStore } from "../memory-bot-store.js";
import { createSimulatedBot, type SimulatedBot } from "../simulated-bot.js";

/** Fast timings, so tests stay quick but transitions still take time. */
export const fastTiming = { startMs: 20, perOrderMs: 10, forceStopMs: 2, configMs: 2 };

/** A harness behaviour that lets a simulated bot answer. */
export function simulated(bot: SimulatedBot): Behaviour<ConnectResponse, CommandResult> {
  return async (command) => {
    try {
      return { reply: await bot.handle(command) };
    } catch (error) {
      if (isCommandError(error, "command_failed")) {
        const failed = error as CommandFailedError;
        return { fail: { code: failed.clientErrorCode, message: failed.clientErrorMessage } };
      }
      throw error;
    }
  };
}

/** A hub with `ids.length` simulated bots connected. */
export async function simulatedFleet(ids: readonly string[]) {
  const harness = createHarness(demoBotProtocol);
  const bots = new Map<string, SimulatedBot>();
  for (const id of ids) {
    const bot = createSimulatedBot(id, { timing: fastTiming });
    bots.set(id, bot);
    await harness.connect(id, { behaviour: simulated(bot) });
  }
  return { harness, hub: harness.service, bots, bot: (id: string) => bots.get(id) as SimulatedBot };
}

/**
 * A fleet, a memory store and command clients for one test file; `closeAll` in `afterEach`.
 */
export function fleetScope() {
  const closers: (() => Promise<unknown>)[] = [];
  return {
    async setup(ids: readonly string[] = ["bot-1"]) {
      const fleet = await simulatedFleet(ids);
      closers.push(() => fleet.harness.close());
      const store = createMemoryBotStore();
      const client = (id: string): BotClient => createCommandClient(fleet.hub, { clientId: id });
      const botClient = (botId: string) => createBotCommandClient({ botId, store, service: fleet.hub });
      return { ...fleet, store, client, botClient };
    },
    async closeAll(): Promise<void> {
      for (const close of closers.splice(0)) await close();
    },
  };
}
