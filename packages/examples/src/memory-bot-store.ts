import type { JsonObject } from "@bufbuild/protobuf";
import { InvalidArgumentError } from "@streamcmd/core";
import { BotStatus } from "@streamcmd/demo-protocol";
import type { BotRecord, BotStore } from "./bot-store.js";

/** A `BotStore` in memory: for tests and for processes that keep nothing. */
export function createMemoryBotStore(now: () => Date = () => new Date()): BotStore {
  const records = new Map<string, BotRecord>();
  let closed = false;

  const copy = (record: BotRecord): BotRecord => ({ ...record, config: structuredClone(record.config), updatedAt: new Date(record.updatedAt) });

  function open(): void {
    if (closed) throw new InvalidArgumentError("the bot store is closed");
  }

  function ensure(id: string): BotRecord {
    open();
    if (typeof id !== "string" || id === "") throw new InvalidArgumentError("a bot id must be a non-empty string");
    let record = records.get(id);
    if (record === undefined) {
      record = { id, status: BotStatus.STOPPED, statusReason: "", config: {}, updatedAt: now() };
      records.set(id, record);
    }
    return record;
  }

  return {
    async get(id) {
      open();
      const record = records.get(id);
      return record === undefined ? undefined : copy(record);
    },
    async list() {
      open();
      return [...records.values()].sort((a, b) => a.id.localeCompare(b.id)).map(copy);
    },
    async ensure(id) {
      return copy(ensure(id));
    },
    async setStatus(id, status, reason = "") {
      const record = ensure(id);
      record.status = status;
      record.statusReason = reason;
      record.updatedAt = now();
      return copy(record);
    },
    async setConfig(id, config: JsonObject) {
      const record = ensure(id);
      record.config = structuredClone(config);
      record.updatedAt = now();
      return copy(record);
    },
    async updateConfig(id, change) {
      const record = ensure(id);
      record.config = structuredClone(change(structuredClone(record.config)));
      record.updatedAt = now();
      return copy(record);
    },
    async close() {
      closed = true;
    },
  };
}
