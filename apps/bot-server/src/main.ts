#!/usr/bin/env node
// `pnpm demo`: the bot server, a simulated fleet connected to it over HTTP/2, and a guided tour.
import { Command } from "commander";
import { messageOf, onShutdownSignal, parseCount, serverOptions } from "./cli-options.js";
import { dirname, join } from "node:path";
import { defaults, insecureWarning } from "./defaults.js";
import { parseFailure, startFleet } from "./fleet.js";
import { createLogger } from "./logger.js";
import { startDemoServer } from "./server.js";
import { runTour } from "./tour.js";

const program = serverOptions(new Command("demo").description("streamcmd demo: a bot server, a simulated trading-bot fleet and a guided tour"), "warn")
  .option("--bots <n>", "how many simulated bots to run", parseCount, defaults.bots)
  .option("--fail <spec...>", "make a bot's command fail: BOT:COMMAND[:CODE], e.g. bot-2:start")
  .option("--exit-after-tour", "exit after the tour: status 0 if every step succeeded, 1 otherwise")
  .option("--no-tour", "skip the tour")
  .parse();

const options = program.opts<{
  host: string;
  port: number;
  db: string;
  bots: number;
  fail?: string[];
  insecure?: boolean;
  exitAfterTour?: boolean;
  tour: boolean;
  logLevel: string;
}>();

const logger = createLogger(options.logLevel, "demo");
let failures;
try {
  failures = (options.fail ?? []).map(parseFailure);
} catch (error) {
  program.error(`demo: ${messageOf(error)}`);
}
if (options.insecure) process.stderr.write(`${insecureWarning}\n`);
const server = await startDemoServer({ host: options.host, port: options.port, dbPath: options.db, logger, insecure: options.insecure === true }).catch((error: unknown) => {
  process.stderr.write(`demo: cannot start the server on ${options.host}:${options.port}: ${messageOf(error)}\n`);
  process.exit(2);
});
const botIds = Array.from({ length: options.bots }, (_, i) => `bot-${i + 1}`);
const fleet = startFleet({ url: server.url, dataDir: dirname(options.db), botIds, failures, logger });
// Interrupted before the tour finished: 130, like any program stopped by Ctrl-C.
let exitCode = 130;
const shutdown = async (): Promise<void> => {
  await fleet.close();
  await server.close();
};
onShutdownSignal(shutdown, () => exitCode);

console.log(`bot server on ${server.url} (database ${options.db}), ${botIds.length} simulated bots`);
const signInWith = options.insecure === true ? "no token needed (insecure demo)" : `sign in with the token in ${join(dirname(options.db), "tokens", "botctl-admin.jwt")}`;
console.log(`dashboard: ${server.url}/dashboard — ${signInWith}; metrics: ${server.url}/metrics`);
if (options.tour) {
  const steps = await runTour({ hub: server.hub, store: server.store, botIds, print: (line) => console.log(line) });
  exitCode = steps.every((step) => step.ok) ? 0 : 1;
} else {
  exitCode = 0;
}
if (options.exitAfterTour) {
  await shutdown();
  process.exit(exitCode);
}
console.log(`still serving; in another terminal try: ./dev botctl --url ${server.url} --db ${options.db} list   (Ctrl-C stops the demo)`);
