// Internal test support: simulated bots connected to a real hub through the in-memory harness.
import { CommandFailedError } from "@streamcmd/core";
import { botAgent, createBotClient, type BotClient, type CommandResult, type ConnectResponse } from "@streamcmd/demo-protocol";
import { createHarness, demoBotProtocol, type Behaviour } from "@streamcmd/testing";
import { createBotCommandClient } from "../bot-command-client.js";
import { createMemoryBotStore } from "../memory-bot-store.js";
import { createSimulatedBot, type SimulatedBot } from "../simulated-bot.js";

/** Fast timings, so tests stay quick but transitions still take time. */
export const fastTiming = { startMs: 20, perOrderMs: 10, forceStopMs: 2, configMs: 2 };

/** A harness behaviour that lets a simulated bot answer, through its handlers as an agent would call them. */
export function simulated(bot: SimulatedBot): Behaviour<ConnectResponse, CommandResult> {
  const { onCommand } = botAgent(bot);
  // The harness has no connection to lose: the handlers' signal never aborts.
  const signal = new AbortController().signal;
  return async (command, { commandId }) => {
    try {
      return { reply: await onCommand(command, { commandId, signal }) };
    } catch (error) {
      if (error instanceof CommandFailedError) return { fail: { code: error.clientErrorCode, message: error.clientErrorMessage } };
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
  const bot = (id: string): SimulatedBot => {
    const found = bots.get(id);
    if (found === undefined) throw new Error(`no simulated bot ${id} in this fleet`);
    return found;
  };
  return { harness, hub: harness.service, bots, bot };
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
      const client = (id: string): BotClient => createBotClient({ clientId: id, service: fleet.hub });
      const botClient = (botId: string) => createBotCommandClient({ botId, store, service: fleet.hub });
      return { ...fleet, store, client, botClient };
    },
    async closeAll(): Promise<void> {
      for (const close of closers.splice(0)) await close();
    },
  };
}
