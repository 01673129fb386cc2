import { existsSync, mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { DatabaseSync } from "node:sqlite";
import type { JsonObject } from "@bufbuild/protobuf";
import { InvalidArgumentError } from "@streamcmd/core";
import { BotStatus } from "@streamcmd/demo-protocol";
import type { BotRecord, BotStore } from "./bot-store.js";

interface Row {
  id: string;
  status: number;
  status_reason: string;
  config: string;
  updated_at: number;
}

/**
 * A `BotStore` in an embedded SQLite file (Node's built-in `node:sqlite`: no native build, no
 * server). The file and its folder are created on first use (unless `mustExist`); WAL mode and a
 * busy timeout let several processes (the server, botctl) use one file at once.
 */
export function createSqliteBotStore(path: string, options: { busyTimeoutMs?: number; mustExist?: boolean } = {}): BotStore {
  if (typeof path !== "string" || path === "") throw new InvalidArgumentError("a SQLite path must be a non-empty string");
  if (options.mustExist === true && !existsSync(path)) {
    throw new InvalidArgumentError(`no bot database at ${path} (is that the file the server uses?)`);
  }
  if (path !== ":memory:") mkdirSync(dirname(path), { recursive: true });
  const db = new DatabaseSync(path);
  // node:sqlite is synchronous: a wait for another process's write lock blocks this event loop,
  // so keep it short (writes here are single rows and take microseconds).
  db.exec(`PRAGMA busy_timeout = ${Math.trunc(options.busyTimeoutMs ?? 1_000)}`);
  db.exec("PRAGMA journal_mode = WAL");
  db.exec(`CREATE TABLE IF NOT EXISTS bots (
    id TEXT PRIMARY KEY,
    status INTEGER NOT NULL,
    status_reason TEXT NOT NULL DEFAULT '',
    config TEXT NOT NULL DEFAULT '{}',
    updated_at INTEGER NOT NULL
  )`);
  const selectOne = db.prepare("SELECT * FROM bots WHERE id = ?");
  const selectAll = db.prepare("SELECT * FROM bots ORDER BY id");
  const insert = db.prepare("INSERT OR IGNORE INTO bots (id, status, status_reason, config, updated_at) VALUES (?, ?, '', '{}', ?)");
  const updateStatus = db.prepare("UPDATE bots SET status = ?, status_reason = ?, updated_at = ? WHERE id = ?");
  const updateConfig = db.prepare("UPDATE bots SET config = ?, updated_at = ? WHERE id = ?");
  let closed = false;

  function open(): void {
    if (closed) throw new InvalidArgumentError("the bot store is closed");
  }

  function toRecord(row: Row): BotRecord {
    return {
      id: row.id,
      status: row.status as BotStatus,
      statusReason: row.status_reason,
      config: JSON.parse(row.config) as JsonObject,
      updatedAt: new Date(row.updated_at),
    };
  }

  function ensure(id: string): BotRecord {
    open();
    if (typeof id !== "string" || id === "") throw new InvalidArgumentError("a bot id must be a non-empty string");
    insert.run(id, BotStatus.STOPPED, Date.now());
    return toRecord(selectOne.get(id) as unknown as Row);
  }

  return {
    async get(id) {
      open();
      const row = selectOne.get(id) as unknown as Row | undefined;
      return row === undefined ? undefined : toRecord(row);
    },
    async list() {
      open();
      return (selectAll.all() as unknown as Row[]).map(toRecord);
    },
    async ensure(id) {
      return ensure(id);
    },
    async setStatus(id, status, reason = "") {
      ensure(id);
      updateStatus.run(status, reason, Date.now(), id);
      return toRecord(selectOne.get(id) as unknown as Row);
    },
    async setConfig(id, config: JsonObject) {
      ensure(id);
      updateConfig.run(JSON.stringify(config), Date.now(), id);
      return toRecord(selectOne.get(id) as unknown as Row);
    },
    async updateConfig(id, change) {
      ensure(id);
      // IMMEDIATE takes the write lock before reading, so no other process writes in between.
      db.exec("BEGIN IMMEDIATE");
      try {
        const current = toRecord(selectOne.get(id) as unknown as Row);
        updateConfig.run(JSON.stringify(change(current.config)), Date.now(), id);
        db.exec("COMMIT");
      } catch (error) {
        db.exec("ROLLBACK");
        throw error;
      }
      return toRecord(selectOne.get(id) as unknown as Row);
    },
    async close() {
      if (closed) return;
      closed = true;
      db.close();
    },
  };
}
