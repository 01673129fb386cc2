import type { Logger } from "@streamcmd/core";
import { botAgent, botAgentBinding, ConnectRequestSchema, statusName, type ConnectRequest } from "@streamcmd/demo-protocol";
import { createSimulatedBot, type SimulatedBot, type SimulatedCommand, type SimulatedTiming } from "@streamcmd/examples";
import { connectAgent, type Agent } from "@streamcmd/transport-connect";
import { readCa, readToken } from "./credentials.js";
import { create } from "@bufbuild/protobuf";

/** A failure to inject into a simulated bot: `bot-2:start` or `bot-2:start:exchange_unreachable`. */
export interface InjectedFailure {
  botId: string;
  command: SimulatedCommand;
  code: string;
}

/** Reads a `--fail BOT:COMMAND[:CODE]` value; throws a message fit for the command line. */
export function parseFailure(spec: string): InjectedFailure {
  const [botId, command, code = "injected_failure"] = spec.split(":");
  const commands: readonly SimulatedCommand[] = ["start", "stop", "configUpdate", "ping"];
  const known = commands.find((candidate) => candidate === command);
  if (!botId || known === undefined) {
    throw new Error(`--fail takes BOT:COMMAND[:CODE] with COMMAND one of ${commands.join(", ")}, got ${JSON.stringify(spec)}`);
  }
  return { botId, command: known, code };
}

/** A running simulated fleet: the bots' state machines and their agents. */
export interface Fleet {
  bots: Map<string, SimulatedBot>;
  agents: Map<string, Agent<ConnectRequest>>;
  close(): Promise<void>;
}

/**
 * A simulated fleet: each bot is a small trading-bot state machine behind a real agent on its own
 * HTTP/2 connection, reporting status changes and heartbeats.
 */
export function startFleet(options: {
  /** The server, or the nodes of a cluster: each bot tries them in turn (bot i starts at node i mod n). */
  url: string | readonly string[];
  /** Where the server's CA and the bots' tokens are (an https:// url needs them). */
  dataDir: string;
  botIds: readonly string[];
  failures?: readonly InjectedFailure[];
  logger: Logger;
  /** Faster (or slower) bots than the realistic defaults. */
  timing?: Partial<SimulatedTiming>;
}): Fleet {
  const bots = new Map<string, SimulatedBot>();
  const agents = new Map<string, Agent<ConnectRequest>>();
  for (const botId of options.botIds) {
    const startMs = 400 + Math.round(Math.random() * 400);
    const bot = createSimulatedBot(botId, { timing: { startMs, perOrderMs: 150, forceStopMs: 30, configMs: 80, ...options.timing } });
    for (const failure of options.failures ?? []) {
      if (failure.botId === botId) bot.injectFailure(failure.command, failure.code, `${failure.command} failed on purpose (--fail)`, true);
    }
    const urls = typeof options.url === "string" ? [options.url] : options.url;
    const first = bots.size % urls.length;
    const baseUrl = [...urls.slice(first), ...urls.slice(0, first)];
    const secure = baseUrl[0]!.startsWith("https:");
    // Fail at start, not on every reconnect, when a bot has no token yet.
    if (secure) readToken(options.dataDir, botId);
    const agent = connectAgent({
      baseUrl,
      // Read at every (re)connection, so a token minted again (botctl token) is picked up.
      ...(secure ? { tls: { ca: readCa(options.dataDir) }, token: () => readToken(options.dataDir, botId) } : {}),
      clientId: botId,
      metadata: { version: bot.version },
      // The bot's handlers answer its commands; the method, binding and dispatch are generated.
      ...botAgent(bot),
      // Heartbeats carry the bot's status, so the server sees it even between status reports.
      binding: {
        ...botAgentBinding,
        heartbeat: () => create(ConnectRequestSchema, { message: { case: "heartbeat", value: { status: bot.status } } }),
      },
      heartbeatIntervalMs: 5_000,
      reconnect: { initialDelayMs: 200, maxDelayMs: 5_000, jitter: 0.2 },
      logger: options.logger,
    });
    const report = (detail: string): void => {
      agent.send(create(ConnectRequestSchema, { message: { case: "statusReport", value: { status: bot.status, detail } } }));
    };
    bot.onStatus((status, detail) => {
      report(detail);
      options.logger.info({ botId, status: statusName(status), detail }, "bot status");
    });
    // On every (re)connection the server hears the bot's real status, not what it last recorded.
    agent.on("connected", () => report("connected"));
    bots.set(botId, bot);
    agents.set(botId, agent);
  }
  return {
    bots,
    agents,
    async close() {
      await Promise.all([...agents.values()].map((agent) => agent.close()));
    },
  };
}
