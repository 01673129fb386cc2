#!/usr/bin/env node
// `pnpm botctl`: command the demo's bots from another process, through the server's CommandRouter.
// It shares the server's SQLite file (WAL) for the bots' recorded status and config.
import type { JsonObject } from "@bufbuild/protobuf";
import Table from "cli-table3";
import { Command, Option } from "commander";
import {
  ClientNotConnectedError,
  CommandError,
  CommandFailedError,
  InvalidArgumentError,
  PermissionDeniedError,
  RouterUnavailableError,
  UnauthenticatedError,
} from "@streamcmd/core";
import { botService, statusName } from "@streamcmd/demo-protocol";
import { createBotCommandClient, createSqliteBotStore, type BotCommandClient, type BotStore } from "@streamcmd/examples";
import { createRemoteRouter, type ConnectRemoteRouter } from "@streamcmd/transport-connect";
import { readFileSync } from "node:fs";
import { dirname } from "node:path";
import { isJsonObject, messageOf, parseMs, parseUrl } from "./cli-options.js";
import { mintBotToken, readCa, readToken } from "./credentials.js";
import { defaults, defaultUrl } from "./defaults.js";

/** The server's URL: --url, or $STREAMCMD_URL, or the demo's address (https; http with --insecure). */
function serverUrl(): string {
  const options = program.opts<GlobalOptions>();
  return options.url ?? defaultUrl(options.insecure === true);
}

interface GlobalOptions {
  url?: string;
  db: string;
  token?: string;
  ca?: string;
  insecure?: boolean;
  json?: boolean;
  timeout: number;
}

/** Exit statuses, so scripts can tell what went wrong. */
const exit = { ok: 0, commandFailed: 1, usage: 2, unreachable: 3 } as const;

class BotctlError extends Error {
  constructor(
    message: string,
    readonly status: number,
    /** Commander prints its own usage errors and help. */
    readonly printed = false,
  ) {
    super(message);
  }
}

const program = new Command("botctl")
  .description("command the streamcmd demo's bots from another process")
  .option("--url <url>", "the bot server (default: $STREAMCMD_URL or the demo's address)", parseUrl)
  .option("--db <path>", "the server's SQLite database; its folder holds the credentials", defaults.dbPath)
  .option("--token <token>", "the caller's token (default: $STREAMCMD_TOKEN, or the admin token in the data folder)")
  .option("--ca <file>", "the CA that issued the server's certificate (default: the data folder's)")
  .option("--insecure", "plaintext and no token, for a server started with --insecure")
  .option("--json", "print JSON instead of tables")
  .addOption(new Option("--timeout <ms>", "reply timeout").argParser(parseMs).default(10_000))
  .showHelpAfterError("(botctl --help shows the commands and options)")
  .exitOverride((error) => {
    throw new BotctlError(error.message, error.exitCode === 0 ? exit.ok : exit.usage, true);
  });

/** Everything a command needs, closed afterwards. */
async function withContext<T>(run: (context: { router: ConnectRemoteRouter; store: BotStore; options: GlobalOptions }) => Promise<T>): Promise<T> {
  const options = program.opts<GlobalOptions>();
  const url = serverUrl();
  let router: ConnectRemoteRouter;
  try {
    const secure = url.startsWith("https:");
    const dataDir = dirname(options.db);
    const credentials = secure
      ? { tls: { ca: options.ca !== undefined ? readFileSync(options.ca, "utf8") : readCa(dataDir) }, token: options.token ?? process.env["STREAMCMD_TOKEN"] ?? readToken(dataDir, "botctl-admin") }
      : { insecure: options.insecure === true };
    router = createRemoteRouter({ baseUrl: url, http2: { connectTimeoutMs: 3_000 }, ...credentials });
  } catch (error) {
    throw new BotctlError(messageOf(error), exit.usage);
  }
  // Never create a database here: a mistyped --db would quietly record into a file nobody reads.
  let store: BotStore;
  try {
    store = createSqliteBotStore(options.db, { mustExist: true });
  } catch (error) {
    await router.close();
    throw new BotctlError(`${messageOf(error)}; start the server first, or pass --db`, exit.usage);
  }
  try {
    return await run({ router, store, options });
  } finally {
    await router.close();
    await store.close();
  }
}

/** A client for a bot that exists (recorded or connected); a clear error otherwise. */
async function botClient(botId: string, context: { router: ConnectRemoteRouter; store: BotStore; options: GlobalOptions }): Promise<BotCommandClient> {
  const { router, store, options } = context;
  const connected = (await router.listClients(botService)).some((client) => client.clientId === botId);
  if (!connected && (await store.get(botId)) === undefined) {
    throw new BotctlError(`unknown bot "${botId}": it is not connected and not in ${options.db}`, exit.usage);
  }
  return createBotCommandClient({ botId, store, router, defaultTimeoutMs: options.timeout });
}

function print(value: unknown, table: () => string): void {
  console.log(program.opts<GlobalOptions>().json ? JSON.stringify(value, null, 2) : table());
}

/** The bot's reply (start, stop or config update): each has a `detail`. */
function printOutcome(action: string, outcome: { botId: string; previousStatus?: number; status?: number; reply: { detail: string }; roundTripMs: number; config?: JsonObject }): void {
  const { detail } = outcome.reply;
  const summary = {
    bot: outcome.botId,
    action,
    ...(outcome.previousStatus !== undefined ? { previousStatus: statusName(outcome.previousStatus) } : {}),
    ...(outcome.status !== undefined ? { status: statusName(outcome.status) } : {}),
    ...(outcome.config !== undefined ? { config: outcome.config } : {}),
    detail,
    roundTripMs: Number(outcome.roundTripMs.toFixed(1)),
  };
  print(summary, () => {
    const parts = [`${outcome.botId}: ${action} ok`];
    if (summary.previousStatus !== undefined) parts.push(`${summary.previousStatus} → ${summary.status}`);
    if (summary.config !== undefined) parts.push(`config ${JSON.stringify(summary.config)}`);
    parts.push(`(${summary.roundTripMs} ms)`);
    if (detail !== "") parts.push(detail);
    return parts.join(" ");
  });
}

program
  .command("list")
  .description("the bots the server's database knows and whether each is connected")
  .action(() =>
    withContext(async ({ router, store }) => {
      const connected = new Map((await router.listClients(botService)).map((client) => [client.clientId, client]));
      const records = await store.list();
      const ids = [...new Set([...records.map((r) => r.id), ...connected.keys()])].sort();
      const rows = ids.map((id) => {
        const record = records.find((r) => r.id === id);
        const client = connected.get(id);
        return {
          bot: id,
          // A bot that is not connected is not doing anything we know of: say so, with its last status.
          status: client !== undefined ? (record ? statusName(record.status) : "unknown") : `OFFLINE (last ${record ? statusName(record.status) : "unknown"})`,
          connected: client !== undefined,
          since: client?.connectedAt.toISOString() ?? null,
          version: client?.metadata["version"] ?? null,
          reason: record?.statusReason ?? "",
          config: record?.config ?? {},
        };
      });
      print(rows, () => {
        // Colours only for a terminal: piped output stays plain text.
        const style = process.stdout.isTTY ? {} : { style: { head: [], border: [] } };
        const table = new Table({ head: ["BOT", "STATUS", "CONNECTED", "VERSION", "REASON", "CONFIG"], ...style });
        for (const row of rows) {
          table.push([row.bot, row.status, row.connected ? "yes" : "no", row.version ?? "", row.reason, JSON.stringify(row.config)]);
        }
        return rows.length === 0 ? "no bots yet: start a fleet (./dev pnpm demo:fleet)" : table.toString();
      });
    }),
  );

program
  .command("status")
  .description("ask a bot for its status (a ping through the server) and record it")
  .argument("<bot>", "the bot's id")
  .action((botId: string) =>
    withContext(async (context) => {
      const bot = await botClient(botId, context);
      const started = performance.now();
      const status = await bot.status();
      const record = await context.store.get(botId);
      const summary = { bot: botId, status: statusName(status), config: record?.config ?? {}, roundTripMs: Number((performance.now() - started).toFixed(1)) };
      print(summary, () => `${botId}: ${summary.status} config ${JSON.stringify(summary.config)} (${summary.roundTripMs} ms)`);
    }),
  );

program
  .command("start")
  .description("start a bot: STOPPED → STARTING → RUNNING")
  .argument("<bot>", "the bot's id")
  .option("--reason <text>", "why, for the bot's log and the database", "botctl")
  .action((botId: string, options: { reason: string }) =>
    withContext(async (context) => printOutcome("start", await (await botClient(botId, context)).start(options.reason))),
  );

program
  .command("stop")
  .description("stop a bot gracefully (it finishes open work), or at once with --force")
  .argument("<bot>", "the bot's id")
  .option("--force", "stop at once, abandoning open work")
  .option("--reason <text>", "why, for the bot's log and the database", "botctl")
  .action((botId: string, options: { force?: boolean; reason: string }) =>
    withContext(async (context) =>
      printOutcome(options.force ? "force-stop" : "stop", await (await botClient(botId, context)).stop(options.reason, { graceful: !options.force })),
    ),
  );

program
  .command("restart")
  .description("stop a bot gracefully, wait until it is STOPPED, start it again")
  .argument("<bot>", "the bot's id")
  .option("--reason <text>", "why, for the bot's log and the database", "botctl")
  .action((botId: string, options: { reason: string }) =>
    withContext(async (context) => {
      const outcome = await (await botClient(botId, context)).restart(options.reason);
      printOutcome("restart", { ...outcome.start, previousStatus: outcome.stop.previousStatus, roundTripMs: outcome.roundTripMs });
    }),
  );

program
  .command("config")
  .description("send a bot a new config (JSON); with --fields, change only those dotted paths")
  .argument("<bot>", "the bot's id")
  .argument("<json>", 'the config, e.g. \'{"risk":{"max_position":5}}\'')
  .option("--fields <paths>", "comma-separated dotted paths to change, e.g. risk.max_position,symbols")
  .action((botId: string, json: string, options: { fields?: string }) =>
    withContext(async (context) => {
      let config: unknown;
      try {
        config = JSON.parse(json);
      } catch (error) {
        throw new BotctlError(`the config is not valid JSON: ${messageOf(error)}`, exit.usage);
      }
      if (!isJsonObject(config)) throw new BotctlError("the config must be a JSON object", exit.usage);
      const fields = options.fields?.split(",").map((field) => field.trim());
      const bot = await botClient(botId, context);
      printOutcome("config", await bot.updateConfig(config, fields ? { fields } : {}));
    }),
  );

program
  .command("token")
  .description(`mint a token for a bot (sub = the bot's id, aud = ${botService.name}) with the data folder's signing key, and store it there`)
  .argument("<bot>", "the bot's id")
  .action(async (botId: string) => {
    const dataDir = dirname(program.opts<GlobalOptions>().db);
    let token: string;
    try {
      token = await mintBotToken(dataDir, botId);
    } catch (error) {
      throw new BotctlError(messageOf(error), exit.usage);
    }
    print({ bot: botId, token, file: `${dataDir}/tokens/${botId}.jwt` }, () => `token for ${botId} stored in ${dataDir}/tokens/${botId}.jwt:\n${token}`);
  });

/** One clear line per failure, and an exit status that says which kind. */
function explain(error: unknown): BotctlError {
  const url = serverUrl();
  if (error instanceof BotctlError) return error;
  if (error instanceof RouterUnavailableError) {
    const tls = /over TLS: (.*)$/.exec(error.message)?.[1];
    return new BotctlError(tls !== undefined ? `cannot reach the bot server at ${url}: ${tls}` : `cannot reach the bot server at ${url} (is it running? ./dev demo or ./dev pnpm demo:server)`, exit.unreachable);
  }
  if (error instanceof UnauthenticatedError || error instanceof PermissionDeniedError) return new BotctlError(`the bot server refused botctl: ${error.message}`, exit.commandFailed);
  if (error instanceof ClientNotConnectedError) return new BotctlError(`bot "${error.clientId ?? "?"}" is not connected`, exit.commandFailed);
  if (error instanceof CommandFailedError) {
    return new BotctlError(`bot "${error.clientId ?? "?"}" refused: ${error.clientErrorCode}: ${error.clientErrorMessage}`, exit.commandFailed);
  }
  if (error instanceof InvalidArgumentError) return new BotctlError(error.message, exit.usage);
  if (error instanceof CommandError) return new BotctlError(`${error.name}: ${error.message}`, exit.commandFailed);
  return new BotctlError(error instanceof Error ? error.message : String(error), exit.commandFailed);
}

try {
  await program.parseAsync();
} catch (error) {
  const failure = explain(error);
  if (!failure.printed) process.stderr.write(`botctl: ${failure.message}\n`);
  process.exitCode = failure.status;
}
