import type { JsonObject } from "@bufbuild/protobuf";
import { CommandFailedError, CommandError, InvalidArgumentError, type StreamingCommandClient } from "@streamcmd/core";
import { botCommands, BotStatus, type CommandResult, type ConnectResponse } from "@streamcmd/demo-protocol";
import type { BotRecord, BotStore } from "./bot-store.js";
import { applyFieldPaths, validateFieldPaths } from "./field-paths.js";

/** A command client for one bot of the demo protocol. */
export type BotClient = StreamingCommandClient<ConnectResponse, CommandResult>;

/** Per-call options of the example functions. */
export interface CallOptions {
  signal?: AbortSignal;
  /** Reply timeout for this command, in ms; default: the client's config. */
  timeoutMs?: number;
}

/** What a lifecycle command did. */
export interface LifecycleOutcome {
  botId: string;
  /** The status before the command. */
  previousStatus: BotStatus;
  /** The status now (stored). */
  status: BotStatus;
  reply: CommandResult;
  /** From sending the command to having the reply, in ms. */
  roundTripMs: number;
}

/** What a config update did. */
export interface ConfigOutcome {
  botId: string;
  /** The config now stored. */
  config: JsonObject;
  reply: CommandResult;
  roundTripMs: number;
}

const callOptions = (options: CallOptions) => ({
  ...(options.signal ? { signal: options.signal } : {}),
  ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
});

/**
 * After a failed lifecycle command: a failure the bot reported means nothing changed, so the status
 * goes back to what it was; any other error (timeout, disconnect, cancel) leaves the bot's state
 * unknown, so it becomes ERROR with the error kept as the reason.
 */
async function recordFailure(store: BotStore, before: BotRecord, error: unknown): Promise<void> {
  if (error instanceof CommandFailedError) {
    await store.setStatus(before.id, before.status, before.statusReason);
    return;
  }
  const reason = error instanceof CommandError ? `${error.code}: ${error.message}` : String(error);
  await store.setStatus(before.id, BotStatus.ERROR, reason);
}

async function transition(
  client: BotClient,
  store: BotStore,
  command: ConnectResponse,
  during: BotStatus,
  after: BotStatus,
  reason: string,
  options: CallOptions,
): Promise<LifecycleOutcome> {
  const botId = client.clientId;
  const before = await store.ensure(botId);
  await store.setStatus(botId, during, reason);
  const started = performance.now();
  let reply: CommandResult;
  try {
    reply = await client.send(command, callOptions(options));
  } catch (error) {
    await recordFailure(store, before, error);
    throw error;
  }
  const roundTripMs = performance.now() - started;
  // The bot says where it ended up; trust it over what we expected.
  const status = reply.status === BotStatus.UNSPECIFIED ? after : reply.status;
  await store.setStatus(botId, status, reason);
  return { botId, previousStatus: before.status, status, reply, roundTripMs };
}

/** STOPPED → STARTING → RUNNING. A failure reply restores the old status; a transport error sets ERROR. */
export function startBot(client: BotClient, store: BotStore, options: CallOptions & { reason: string }): Promise<LifecycleOutcome> {
  return transition(client, store, botCommands.start(options.reason), BotStatus.STARTING, BotStatus.RUNNING, options.reason, options);
}

/**
 * → STOPPING → STOPPED. `graceful` lets the bot finish its open work first; otherwise it stops at
 * once. A failure reply restores the old status; a transport error sets ERROR.
 */
export function stopBot(
  client: BotClient,
  store: BotStore,
  options: CallOptions & { reason: string; graceful: boolean },
): Promise<LifecycleOutcome> {
  return transition(client, store, botCommands.stop(options.reason, options.graceful), BotStatus.STOPPING, BotStatus.STOPPED, options.reason, options);
}

/**
 * Sends a config to the bot and stores it once the bot accepted it. Without `fields` the config is
 * replaced whole; with `fields` (dotted paths) only those change, taking their values from `config`
 * (a listed path missing from `config` is cleared). On any failure the stored config is untouched.
 */
export async function updateBotConfig(
  client: BotClient,
  store: BotStore,
  config: JsonObject,
  options: CallOptions & { fields?: readonly string[] } = {},
): Promise<ConfigOutcome> {
  const botId = client.clientId;
  if (options.fields !== undefined) validateFieldPaths(options.fields);
  const before = await store.ensure(botId);
  const next = options.fields === undefined ? config : applyFieldPaths(before.config, config, options.fields);
  const started = performance.now();
  const reply = await client.send(botCommands.configUpdate(config, options.fields), callOptions(options));
  const roundTripMs = performance.now() - started;
  const stored = await store.setConfig(botId, next);
  return { botId, config: stored.config, reply, roundTripMs };
}

/** One bot's outcome in a batch. */
export type BatchOutcome<T> = { botId: string; ok: true; result: T } | { botId: string; ok: false; error: unknown };

/** Runs `work` for every item, at most `concurrency` at once; one outcome per item, in order; never rejects. */
export async function runBatch<I, T>(
  items: readonly I[],
  idOf: (item: I) => string,
  work: (item: I) => Promise<T>,
  concurrency = 8,
): Promise<BatchOutcome<T>[]> {
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    throw new InvalidArgumentError(`concurrency must be a whole number of at least 1, got ${concurrency}`);
  }
  const outcomes: BatchOutcome<T>[] = new Array(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const index = next++;
      const item = items[index] as I;
      try {
        outcomes[index] = { botId: idOf(item), ok: true, result: await work(item) };
      } catch (error) {
        outcomes[index] = { botId: idOf(item), ok: false, error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
  return outcomes;
}

/** `updateBotConfig` for many bots, `concurrency` at a time, with a per-bot report. */
export function batchUpdateConfig(
  clients: readonly BotClient[],
  store: BotStore,
  config: JsonObject,
  options: CallOptions & { fields?: readonly string[]; concurrency?: number } = {},
): Promise<BatchOutcome<ConfigOutcome>[]> {
  if (options.fields !== undefined) validateFieldPaths(options.fields);
  return runBatch(clients, (client) => client.clientId, (client) => updateBotConfig(client, store, config, options), options.concurrency);
}
