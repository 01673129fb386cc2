/**
 * @streamcmd/examples — copy-paste material over the demo bot protocol: bot stores (in memory and
 * in an embedded SQLite file), start / stop / config updates that keep the stored status in step
 * with the bot (with rollback), restart, batches, and a simulated trading bot.
 *
 * @packageDocumentation
 */

export type { BotRecord, BotStore, HasConfig, HasStatus } from "./bot-store.js";
export { createMemoryBotStore } from "./memory-bot-store.js";
export { createSqliteBotStore } from "./sqlite-bot-store.js";
export { applyFieldPaths, validateFieldPaths } from "./field-paths.js";
export {
  batchUpdateConfig,
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
export {
  batchStart,
  batchStop,
  createBotCommandClient,
  type BotCommandClient,
  type BotCommandClientOptions,
  type RestartOutcome,
} from "./bot-command-client.js";
export { createSimulatedBot, type SimulatedBot, type SimulatedCommand, type SimulatedContext, type SimulatedTiming } from "./simulated-bot.js";
