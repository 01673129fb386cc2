#!/usr/bin/env node
// `pnpm demo:server`: the bot server alone; bots (`pnpm demo:fleet`) and botctl connect to it.
import { Command, Option } from "commander";
import { logLevels, onShutdownSignal, parsePort } from "./cli-options.js";
import { defaults } from "./defaults.js";
import { createLogger } from "./logger.js";
import { startDemoServer } from "./server.js";

const options = new Command("demo:server")
  .description("the streamcmd demo bot server: bots connect to it, botctl and other processes command them through it")
  .option("--host <host>", "address to listen on", defaults.host)
  .option("--port <port>", "port to listen on (0: any free port)", parsePort, defaults.port)
  .option("--db <path>", "SQLite database file (created on first run)", defaults.dbPath)
  .addOption(new Option("--log-level <level>", "log level (logs are JSON on stderr)").choices(logLevels).default("info"))
  .parse()
  .opts<{ host: string; port: number; db: string; logLevel: string }>();

const logger = createLogger(options.logLevel, "bot-server");
const server = await startDemoServer({ host: options.host, port: options.port, dbPath: options.db, logger }).catch((error: unknown) => {
  process.stderr.write(`demo:server: cannot start on ${options.host}:${options.port}: ${(error as Error).message}\n`);
  process.exit(2);
});
onShutdownSignal(() => server.close(), () => 0);
console.log(`bot server on ${server.url} (database ${options.db}); Ctrl-C stops it`);
