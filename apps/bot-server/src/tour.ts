import { isCommandError } from "@streamcmd/core";
import { botService, statusName } from "@streamcmd/demo-protocol";
import { createBotCommandClient, type BotStore } from "@streamcmd/examples";
import type { BotHub } from "./server.js";

/** One step of the tour, as printed. */
export interface TourStep {
  title: string;
  ok: boolean;
  ms: number;
  detail: string;
}

const describeError = (error: unknown): string =>
  isCommandError(error) ? `${error.name}: ${error.message}` : error instanceof Error ? error.message : String(error);

/** Runs and prints tour steps, each with its round-trip time as it completes; `steps` collects them. */
export function tourSteps(print: (line: string) => void): { step: (title: string, run: () => Promise<string>) => Promise<boolean>; steps: TourStep[] } {
  const steps: TourStep[] = [];
  async function step(title: string, run: () => Promise<string>): Promise<boolean> {
    const started = performance.now();
    let result: TourStep;
    try {
      const detail = await run();
      result = { title, ok: true, ms: performance.now() - started, detail };
    } catch (error) {
      result = { title, ok: false, ms: performance.now() - started, detail: describeError(error) };
    }
    steps.push(result);
    print(`${result.ok ? "✓" : "✗"} ${title.padEnd(40)} ${result.ms.toFixed(1).padStart(8)} ms  ${result.detail}`);
    return result.ok;
  }
  return { step, steps };
}

/**
 * The guided tour: list the bots, start one, update its config, restart it, stop it gracefully,
 * force-stop another. Each step is printed with its round-trip time as it completes. The commands
 * go through `botService`, found registered in this process, as any code in the server process would send them.
 */
export async function runTour(options: { hub: BotHub; store: BotStore; botIds: readonly string[]; print: (line: string) => void }): Promise<TourStep[]> {
  const { hub, store, print } = options;
  const { step, steps } = tourSteps(print);
  const [first, second] = options.botIds;

  print(`streamcmd demo tour — ${options.botIds.length} bots, commands sent from the server process (service "${botService.name}")`);
  await step("list bots", async () => {
    await Promise.all(options.botIds.map((id) => hub.waitForClient(id, { timeoutMs: 10_000 })));
    const records = new Map((await store.list()).map((record) => [record.id, record]));
    return hub
      .clients()
      .map((client) => `${client.clientId} (${statusName(records.get(client.clientId)?.status ?? 0)}, v${client.metadata["version"] ?? "?"})`)
      .join(", ");
  });
  if (first === undefined) return steps;
  const bot = createBotCommandClient({ botId: first, store, service: botService, defaultTimeoutMs: 10_000 });
  await step(`start ${first}`, async () => {
    const outcome = await bot.start("tour: market open");
    return `${statusName(outcome.previousStatus)} → ${statusName(outcome.status)}: ${outcome.reply.detail}`;
  });
  await step(`update ${first} config (risk.max_position)`, async () => {
    const outcome = await bot.updateConfig({ risk: { max_position: 10 } }, { fields: ["risk.max_position"] });
    return `${outcome.reply.detail}; stored config ${JSON.stringify(outcome.config)}`;
  });
  await step(`restart ${first}`, async () => {
    const outcome = await bot.restart("tour: new parameters");
    return `stop: ${outcome.stop.reply.detail}; start: ${outcome.start.reply.detail}`;
  });
  await step(`stop ${first} gracefully`, async () => {
    const outcome = await bot.stop("tour: end of day", { graceful: true });
    return `${statusName(outcome.previousStatus)} → ${statusName(outcome.status)}: ${outcome.reply.detail}`;
  });
  if (second === undefined) {
    print("  (force-stopping another bot needs --bots 2 or more; skipped)");
    return steps;
  }
  const other = createBotCommandClient({ botId: second, store, service: botService, defaultTimeoutMs: 10_000 });
  await step(`start ${second}`, async () => (await other.start("tour: second bot")).reply.detail);
  await step(`force-stop ${second}`, async () => {
    const outcome = await other.stop("tour: emergency", { graceful: false });
    return `${statusName(outcome.previousStatus)} → ${statusName(outcome.status)}: ${outcome.reply.detail}`;
  });
  const failed = steps.filter((s) => !s.ok).length;
  print(failed === 0 ? "tour complete: every step succeeded" : `tour complete: ${failed} step(s) failed`);
  return steps;
}
