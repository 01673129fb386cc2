import type { JsonObject } from "@bufbuild/protobuf";
import type { BotStatus } from "@streamcmd/demo-protocol";

/** One bot as the application records it. */
export interface BotRecord {
  id: string;
  status: BotStatus;
  /** Why the status is what it is: the last command's reason, or the error that put it in ERROR. */
  statusReason: string;
  config: JsonObject;
  updatedAt: Date;
}

/** Something with a status (the original's `HasStatus`). */
export interface HasStatus {
  /** Sets the status and its reason; creates the bot if it is new. */
  setStatus(id: string, status: BotStatus, reason?: string): Promise<BotRecord>;
}

/** Something with a config (the original's `HasConfig`). */
export interface HasConfig {
  /** Replaces the stored config; creates the bot if it is new. */
  setConfig(id: string, config: JsonObject): Promise<BotRecord>;
}

/** Where bots' status and config live; the example functions read and write it around each command. */
export interface BotStore extends HasStatus, HasConfig {
  get(id: string): Promise<BotRecord | undefined>;
  /** Every bot, ordered by id. */
  list(): Promise<BotRecord[]>;
  /**
   * Replaces the config with `change(current)`, read and written atomically (two processes
   * updating different fields at once both keep their change); creates the bot if it is new.
   */
  updateConfig(id: string, change: (current: JsonObject) => JsonObject): Promise<BotRecord>;
  /** The bot, created as STOPPED with an empty config if it is new. */
  ensure(id: string): Promise<BotRecord>;
  close(): Promise<void>;
}
