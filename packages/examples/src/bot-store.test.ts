import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { InvalidArgumentError } from "@streamcmd/core";
import { BotStatus } from "@streamcmd/demo-protocol";
import { createMemoryBotStore, createSqliteBotStore, type BotStore } from "./index.js";

const dir = mkdtempSync(join(tmpdir(), "streamcmd-store-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

describe.each([
  ["memory", () => createMemoryBotStore()],
  ["sqlite", () => createSqliteBotStore(join(dir, `nested/folder/bots-${n++}.db`))],
] as const)("%s bot store", (_, make: () => BotStore) => {
  it("creates a bot as STOPPED with an empty config on first use", async () => {
    const store = make();
    expect(await store.get("bot-1")).toBeUndefined();
    const record = await store.ensure("bot-1");
    expect(record).toMatchObject({ id: "bot-1", status: BotStatus.STOPPED, statusReason: "", config: {} });
    expect(record.updatedAt).toBeInstanceOf(Date);
    await store.close();
  });

  it("keeps status with its reason, and config, per bot; lists by id", async () => {
    const store = make();
    await store.setStatus("bot-2", BotStatus.RUNNING, "market open");
    await store.setConfig("bot-1", { risk: { max_position: 5 }, symbols: ["BTC", "ETH"] });
    expect(await store.get("bot-2")).toMatchObject({ status: BotStatus.RUNNING, statusReason: "market open" });
    expect((await store.get("bot-1"))?.config).toEqual({ risk: { max_position: 5 }, symbols: ["BTC", "ETH"] });
    expect((await store.list()).map((r) => r.id)).toEqual(["bot-1", "bot-2"]);
    await store.close();
  });

  it("updateConfig changes the config as stored at write time", async () => {
    const store = make();
    await store.setConfig("bot-1", { a: 1, b: 1 });
    await store.updateConfig("bot-1", (current) => ({ ...current, a: 2 }));
    await store.updateConfig("bot-1", (current) => ({ ...current, b: 3 }));
    expect((await store.get("bot-1"))?.config).toEqual({ a: 2, b: 3 });
    await store.close();
  });

  it("hands out copies: changing a returned record changes nothing stored", async () => {
    const store = make();
    const record = await store.setConfig("bot-1", { a: 1 });
    record.config["a"] = 2;
    expect((await store.get("bot-1"))?.config).toEqual({ a: 1 });
    await store.close();
  });

  it("refuses an empty id and use after close", async () => {
    const store = make();
    await expect(store.ensure("")).rejects.toBeInstanceOf(InvalidArgumentError);
    await store.close();
    await expect(store.list()).rejects.toThrow(/closed/);
  });
});

describe("sqlite bot store", () => {
  it("with mustExist, refuses a file that is not there instead of creating it", () => {
    expect(() => createSqliteBotStore(join(dir, "typo.db"), { mustExist: true })).toThrow(/no bot database at/);
  });

  it("persists across reopening, and two handles on one file see each other's writes (WAL)", async () => {
    const path = join(dir, "shared.db");
    const first = createSqliteBotStore(path);
    const second = createSqliteBotStore(path);
    await first.setStatus("bot-1", BotStatus.RUNNING, "from the server");
    expect(await second.get("bot-1")).toMatchObject({ status: BotStatus.RUNNING, statusReason: "from the server" });
    await second.setConfig("bot-1", { x: 1 });
    await first.close();
    await second.close();
    const reopened = createSqliteBotStore(path);
    expect(await reopened.get("bot-1")).toMatchObject({ status: BotStatus.RUNNING, config: { x: 1 } });
    await reopened.close();
  });
});
