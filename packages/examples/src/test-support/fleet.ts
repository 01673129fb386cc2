// Internal test support: simulated bots connected to a real hub through the in-memory harness.
import { CommandFailedError } from "@streamcmd/core";
import type { CommandResult, ConnectResponse } from "@streamcmd/demo-protocol";
import { createHarness, demoBotProtocol, type Behaviour } from "@streamcmd/testing";
import { createSimulatedBot, type SimulatedBot } from "../simulated-bot.js";

/** Fast timings, so tests stay quick but transitions still take time. */
export const fastTiming = { startMs: 20, perOrderMs: 10, forceStopMs: 2, configMs: 2 };

/** A harness behaviour that lets a simulated bot answer. */
export function simulated(bot: SimulatedBot): Behaviour<ConnectResponse, CommandResult> {
  return async (command) => {
    try {
      return { reply: await bot.handle(command) };
    } catch (error) {
      if (error instanceof CommandFailedError) return { fail: { code: error.clientErrorCode, message: error.clientErrorMessage } };
      throw error;
    }
  };
}

/** A hub with `ids.length` simulated bots connected. */
export async function simulatedFleet(ids: readonly string[]) {
  const harness = createHarness(demoBotProtocol, { serviceOptions: { name: "bots" } });
  const bots = new Map<string, SimulatedBot>();
  for (const id of ids) {
    const bot = createSimulatedBot(id, { timing: fastTiming });
    bots.set(id, bot);
    await harness.connect(id, { behaviour: simulated(bot) });
  }
  return { harness, hub: harness.service, bots, bot: (id: string) => bots.get(id) as SimulatedBot };
}
