#!/usr/bin/env node
// `pnpm demo:server`: the bot server alone; bots (`pnpm demo:fleet`) and botctl connect to it.
import { Command } from "commander";
import { messageOf, onShutdownSignal, serverOptions } from "./cli-options.js";
import { createLogger } from "./logger.js";
import { insecureWarning } from "./defaults.js";
import { startDemoServer } from "./server.js";

const options = serverOptions(
  new Command("demo:server").description("the streamcmd demo bot server: bots connect to it, botctl and other processes command them through it"),
  "info",
)
  .option("--nats <url>", "join a cluster on this NATS server (e.g. nats://127.0.0.1:4222): any node reaches every bot")
  .option("--node-id <id>", "this node's id in the cluster (default: random)")
  .parse()
  .opts<{ host: string; port: number; db: string; insecure?: boolean; logLevel: string; nats?: string; nodeId?: string }>();

const logger = createLogger(options.logLevel, "bot-server");
if (options.insecure) process.stderr.write(`${insecureWarning}\n`);
const cluster = options.nats === undefined ? {} : { cluster: { natsUrl: options.nats, nodeId: options.nodeId ?? `node-${process.pid}` } };
const server = await startDemoServer({ host: options.host, port: options.port, dbPath: options.db, logger, insecure: options.insecure === true, ...cluster }).catch((error: unknown) => {
  process.stderr.write(`demo:server: cannot start on ${options.host}:${options.port}: ${messageOf(error)}\n`);
  process.exit(2);
});
onShutdownSignal(() => server.close(), () => 0);
const joined = server.node === undefined ? "" : `, node ${server.node.nodeId} of the cluster on ${options.nats}`;
console.log(`bot server on ${server.url} (database ${options.db}${joined}); Ctrl-C stops it`);
