import type { JsonObject } from "@bufbuild/protobuf";
import { CommandTimeoutError, type RemoteRouter, type ServiceKey } from "@streamcmd/core";
import { delay } from "@streamcmd/core/internal";
import { BotStatus, createBotClient, type CommandResult, type ConnectResponse, type StartReply, type StopReply } from "@streamcmd/demo-protocol";
import type { BotStore } from "./bot-store.js";
import {
  runBatch,
  startBot,
  stopBot,
  updateBotConfig,
  type BatchOutcome,
  type BotClient,
  type CallOptions,
  type ConfigOutcome,
  type LifecycleOutcome,
} from "./lifecycle.js";

/** Options of `createBotCommandClient`. */
export interface BotCommandClientOptions {
  botId: string;
  store: BotStore;
  /** The bots' streaming service: a hub, or a definition routed as `createBotClient` does. Default `botService`. */
  service?: ServiceKey<ConnectResponse, CommandResult>;
  /** The cross-process router, when the service lives in another process (default: the installed one). */
  router?: RemoteRouter;
  /** Reply timeout of a command that gives none, in ms. Default 5000. */
  defaultTimeoutMs?: number;
}

/** What `restart` did. */
export interface RestartOutcome {
  stop: LifecycleOutcome<StopReply>;
  start: LifecycleOutcome<StartReply>;
  roundTripMs: number;
}

/** One bot's commands, with its stored status kept in step: the wrapper the original offered. */
export interface BotCommandClient {
  readonly botId: string;
  readonly client: BotClient;
  start(reason: string, options?: CallOptions): Promise<LifecycleOutcome<StartReply>>;
  stop(reason: string, options?: CallOptions & { graceful?: boolean }): Promise<LifecycleOutcome<StopReply>>;
  updateConfig(config: JsonObject, options?: CallOptions & { fields?: readonly string[] }): Promise<ConfigOutcome>;
  /**
   * Stops (gracefully), waits until the bot reports STOPPED — asking it, with growing pauses, if the
   * stop reply came before it got there; no fixed sleep — then starts it. If the stop fails the
   * restart stops there and rejects with the stop's error.
   */
  restart(reason: string, options?: CallOptions & { stoppedWithinMs?: number }): Promise<RestartOutcome>;
  /** Asks the bot for its status (a ping) and stores it. */
  status(options?: CallOptions): Promise<BotStatus>;
}

/** Creates a `BotCommandClient`; same-process or cross-process as `createBotClient` decides. */
export function createBotCommandClient(options: BotCommandClientOptions): BotCommandClient {
  const { botId, store } = options;
  const client = createBotClient({
    clientId: botId,
    ...(options.service ? { service: options.service } : {}),
    ...(options.router ? { router: options.router } : {}),
    ...(options.defaultTimeoutMs !== undefined ? { defaultTimeoutMs: options.defaultTimeoutMs } : {}),
  });

  async function status(call: CallOptions = {}): Promise<BotStatus> {
    const reply = await client.ping({}, call);
    await store.setStatus(botId, reply.status, "reported by the bot");
    return reply.status;
  }

  async function waitUntilStopped(withinMs: number, signal: AbortSignal | undefined): Promise<void> {
    const deadline = performance.now() + withinMs;
    let pauseMs = 10;
    for (;;) {
      if ((await status(signal ? { signal } : {})) === BotStatus.STOPPED) return;
      if (performance.now() + pauseMs > deadline) {
        throw new CommandTimeoutError(`bot ${botId} did not reach STOPPED within ${withinMs} ms`, { clientId: botId });
      }
      await delay(pauseMs, signal);
      pauseMs = Math.min(pauseMs * 2, 500);
    }
  }

  return {
    botId,
    client,
    start: (reason, call = {}) => startBot(client, store, { ...call, reason }),
    stop: (reason, call = {}) => stopBot(client, store, { ...call, reason, graceful: call.graceful ?? true }),
    updateConfig: (config, call = {}) => updateBotConfig(client, store, config, call),
    async restart(reason, call = {}) {
      const started = performance.now();
      const stop = await stopBot(client, store, { ...call, reason: `restart: ${reason}`, graceful: true });
      if (stop.status !== BotStatus.STOPPED) await waitUntilStopped(call.stoppedWithinMs ?? 30_000, call.signal);
      const start = await startBot(client, store, { ...call, reason: `restart: ${reason}` });
      return { stop, start, roundTripMs: performance.now() - started };
    },
    status,
  };
}

/** Starts many bots, `concurrency` at a time; one outcome per bot, never rejects. */
export function batchStart(
  bots: readonly BotCommandClient[],
  reason: string,
  options: CallOptions & { concurrency?: number } = {},
): Promise<BatchOutcome<LifecycleOutcome<StartReply>>[]> {
  return runBatch(bots, (bot) => bot.botId, (bot) => bot.start(reason, options), options.concurrency, options.signal);
}

/** Stops many bots (gracefully unless told otherwise), `concurrency` at a time; one outcome per bot. */
export function batchStop(
  bots: readonly BotCommandClient[],
  reason: string,
  options: CallOptions & { graceful?: boolean; concurrency?: number } = {},
): Promise<BatchOutcome<LifecycleOutcome<StopReply>>[]> {
  return runBatch(bots, (bot) => bot.botId, (bot) => bot.stop(reason, options), options.concurrency, options.signal);
}
