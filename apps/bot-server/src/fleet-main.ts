#!/usr/bin/env node
// `pnpm demo:fleet`: a simulated fleet alone, connecting to a server elsewhere (--url).
import { Command, Option } from "commander";
import { logLevels, messageOf, onShutdownSignal, parseCount, parseUrl } from "./cli-options.js";
import { defaults, defaultUrl, insecureWarning } from "./defaults.js";
import { parseFailure, startFleet } from "./fleet.js";
import { createLogger } from "./logger.js";

const program = new Command("demo:fleet")
  .description("a simulated trading-bot fleet that connects to a streamcmd bot server and answers its commands")
  .option("--url <urls>", "the bot server, or a cluster's nodes separated by commas (default: $STREAMCMD_URL or the demo's address)", (value: string) => value.split(",").map(parseUrl))
  .option("--data <dir>", "the server's data folder: its CA and the bots' tokens", "./data")
  .option("--insecure", "plaintext and no tokens, for a server started with --insecure")
  .option("--bots <n>", "how many bots", parseCount, defaults.bots)
  .option("--prefix <prefix>", "bot ids are PREFIX1, PREFIX2, …", "bot-")
  .option("--fail <spec...>", "make a bot's command fail: BOT:COMMAND[:CODE], e.g. bot-2:start")
  .addOption(new Option("--log-level <level>", "log level (logs are JSON on stderr)").choices(logLevels).default("info"))
  .parse();
const options = program.opts<{ url?: string[]; data: string; insecure?: boolean; bots: number; prefix: string; fail?: string[]; logLevel: string }>();
const url = options.url ?? [defaultUrl(options.insecure === true)];
if (options.insecure) process.stderr.write(`${insecureWarning}\n`);

let failures;
try {
  failures = (options.fail ?? []).map(parseFailure);
} catch (error) {
  program.error(`demo:fleet: ${messageOf(error)}`);
}
const logger = createLogger(options.logLevel, "fleet");
const botIds = Array.from({ length: options.bots }, (_, i) => `${options.prefix}${i + 1}`);
const fleet = (() => {
  try {
    return startFleet({ url, dataDir: options.data, botIds, failures, logger });
  } catch (error) {
    return program.error(`demo:fleet: ${messageOf(error)}`);
  }
})();
onShutdownSignal(() => fleet.close(), () => 0);
console.log(`${botIds.length} simulated bots (${botIds.join(", ")}) connecting to ${url.join(", ")}; Ctrl-C stops them`);
