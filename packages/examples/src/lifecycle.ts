import type { JsonObject } from "@bufbuild/protobuf";
import { CommandCancelledError, isCommandError, type CallOptions, type CommandErrorCode } from "@streamcmd/core";
// The workspace's concurrency limit. In your own code, p-limit or the like does the same.
import { createLimiter } from "@streamcmd/core/internal";
import { BotStatus, type BotClient, type ConfigUpdateReply, type StartReply, type StopReply } from "@streamcmd/demo-protocol";
import type { BotRecord, BotStore } from "./bot-store.js";
import { applyFieldPaths, validateFieldPaths } from "./field-paths.js";

/** A command client for one bot of the demo protocol (`createBotClient`): `start`, `stop`, `configUpdate`, `ping`. */
export type { BotClient } from "@streamcmd/demo-protocol";

export type { CallOptions } from "@streamcmd/core";

/** What a lifecycle command did; `reply` is the bot's own reply to it (`StartReply` or `StopReply`). */
export interface LifecycleOutcome<TReply extends StartReply | StopReply = StartReply | StopReply> {
  botId: string;
  /** The status before the command. */
  previousStatus: BotStatus;
  /** The status now (stored). */
  status: BotStatus;
  reply: TReply;
  /** From sending the command to having the reply, in ms. */
  roundTripMs: number;
}

/** What a config update did. */
export interface ConfigOutcome {
  botId: string;
  /** The config now stored. */
  config: JsonObject;
  reply: ConfigUpdateReply;
  roundTripMs: number;
}

/** The per-call options of `options` (it may carry the example's own fields too). */
const callOptions = ({ caller, signal, timeoutMs, queueTimeoutMs, waitForConnectMs }: CallOptions): CallOptions => ({
  ...(caller !== undefined ? { caller } : {}),
  ...(signal ? { signal } : {}),
  ...(timeoutMs !== undefined ? { timeoutMs } : {}),
  ...(queueTimeoutMs !== undefined ? { queueTimeoutMs } : {}),
  ...(waitForConnectMs !== undefined ? { waitForConnectMs } : {}),
});

/**
 * Errors that prove the command never reached the bot: nothing about the bot changed.
 * (A timeout, a disconnect mid-command or a cancel after sending leave its state unknown.)
 */
const neverDelivered: readonly CommandErrorCode[] = ["client_not_connected", "queue_full", "service_not_found", "service_closed", "invalid_argument", "closed"];

/**
 * After a failed lifecycle command: if the bot reported the failure, or the command provably never
 * reached it, nothing changed, so the status goes back to what it was; any other error (timeout,
 * disconnect mid-command, cancel, a broken router connection) leaves the bot's state unknown, so it
 * becomes ERROR with the error kept as the reason. A store that fails here (say, closed during
 * shutdown) does not hide the command's own error, which the caller gets either way.
 */
async function recordFailure(store: BotStore, before: BotRecord, error: unknown): Promise<void> {
  try {
    if (isCommandError(error, "command_failed") || neverDelivered.some((code) => isCommandError(error, code))) {
      await store.setStatus(before.id, before.status, before.statusReason);
      return;
    }
    const reason = isCommandError(error) ? `${error.code}: ${error.message}` : String(error);
    await store.setStatus(before.id, BotStatus.ERROR, reason);
  } catch {
    // The command's error is what matters to the caller; it is rethrown by our caller.
  }
}

/** Internal: one lifecycle command, with the stored status set before it and from its reply after. */
async function transition<TReply extends StartReply | StopReply>(
  client: BotClient,
  store: BotStore,
  send: (call: CallOptions) => Promise<TReply>,
  during: BotStatus,
  after: BotStatus,
  reason: string,
  options: CallOptions,
): Promise<LifecycleOutcome<TReply>> {
  const botId = client.clientId;
  const before = await store.ensure(botId);
  await store.setStatus(botId, during, reason);
  const started = performance.now();
  let reply: TReply;
  try {
    reply = await send(callOptions(options));
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

/**
 * STOPPED → STARTING → RUNNING. A failure reply (or a command that never left, e.g. the bot is not
 * connected) restores the old status; an error that leaves the outcome unknown sets ERROR.
 */
export function startBot(client: BotClient, store: BotStore, options: CallOptions & { reason: string }): Promise<LifecycleOutcome<StartReply>> {
  const { reason } = options;
  return transition(client, store, (call) => client.start({ reason }, call), BotStatus.STARTING, BotStatus.RUNNING, reason, options);
}

/**
 * → STOPPING → STOPPED. `graceful` lets the bot finish its open work first; otherwise it stops at
 * once. A failure reply restores the old status; a transport error sets ERROR.
 */
export function stopBot(
  client: BotClient,
  store: BotStore,
  options: CallOptions & { reason: string; graceful: boolean },
): Promise<LifecycleOutcome<StopReply>> {
  const { reason, graceful } = options;
  return transition(client, store, (call) => client.stop({ reason, graceful }, call), BotStatus.STOPPING, BotStatus.STOPPED, reason, options);
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
  await store.ensure(botId);
  const started = performance.now();
  const { fields } = options;
  // Without field paths the bot replaces its whole config; with them it patches only those.
  const update = { config, partial: fields !== undefined, fieldPaths: fields === undefined ? [] : [...fields] };
  const reply = await client.configUpdate(update, callOptions(options));
  const roundTripMs = performance.now() - started;
  // Applied to the config as stored at write time, atomically, so two partial updates of different
  // fields that overlap both survive (as they did in the bot).
  const stored = await store.updateConfig(botId, (current) => (fields === undefined ? config : applyFieldPaths(current, config, fields)));
  return { botId, config: stored.config, reply, roundTripMs };
}

/** One bot's outcome in a batch. */
export type BatchOutcome<T> = { botId: string; ok: true; result: T } | { botId: string; ok: false; error: unknown };

/**
 * Runs `work` for every item, at most `concurrency` at once; one outcome per item, in order. A
 * failing item is its outcome; once `signal` aborts, items not yet started end as
 * `CommandCancelledError` without being touched. Rejects only for an invalid `concurrency`.
 */
export async function runBatch<I, T>(
  items: readonly I[],
  idOf: (item: I) => string,
  work: (item: I) => Promise<T>,
  concurrency = 8,
  signal?: AbortSignal,
): Promise<BatchOutcome<T>[]> {
  const limit = createLimiter(concurrency, "concurrency");
  return Promise.all(
    items.map(async (item): Promise<BatchOutcome<T>> => {
      const botId = idOf(item);
      let release: () => void;
      try {
        release = await limit.acquire(signal);
      } catch {
        return { botId, ok: false, error: new CommandCancelledError("the batch was cancelled before this bot's turn", { cause: signal?.reason }) };
      }
      try {
        return { botId, ok: true, result: await work(item) };
      } catch (error) {
        return { botId, ok: false, error };
      } finally {
        release();
      }
    }),
  );
}

/** `updateBotConfig` for many bots, `concurrency` at a time, with a per-bot report. */
export async function batchUpdateConfig(
  clients: readonly BotClient[],
  store: BotStore,
  config: JsonObject,
  options: CallOptions & { fields?: readonly string[]; concurrency?: number } = {},
): Promise<BatchOutcome<ConfigOutcome>[]> {
  if (options.fields !== undefined) validateFieldPaths(options.fields);
  return runBatch(clients, (client) => client.clientId, (client) => updateBotConfig(client, store, config, options), options.concurrency, options.signal);
}
