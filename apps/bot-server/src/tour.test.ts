import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { clearRegistry, silentLogger } from "@streamcmd/core";
import { create } from "@bufbuild/protobuf";
import { BotStatus, ConnectRequestSchema } from "@streamcmd/demo-protocol";
import { createHarness, demoBotProtocol } from "@streamcmd/testing";
import { startFleet, parseFailure } from "./fleet.js";
import { startDemoServer } from "./server.js";
import { runTour } from "./tour.js";

const fast = { startMs: 20, perOrderMs: 5, forceStopMs: 1, configMs: 1 };
const closers: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
  clearRegistry();
});

async function demo(botIds: string[], failures: string[] = []) {
  const dir = mkdtempSync(join(tmpdir(), "streamcmd-demo-"));
  closers.push(async () => rmSync(dir, { recursive: true, force: true }));
  const server = await startDemoServer({ host: "127.0.0.1", port: 0, dbPath: join(dir, "data/bots.db"), logger: silentLogger });
  closers.push(() => server.close(0));
  const fleet = startFleet({ url: server.url, dataDir: join(dir, "data"), botIds, failures: failures.map(parseFailure), logger: silentLogger, timing: fast });
  closers.push(() => fleet.close());
  return { server, fleet };
}

describe("demo tour", () => {
  it("runs every step over real HTTP/2 and leaves the database and the bots in step", async () => {
    const { server, fleet } = await demo(["bot-1", "bot-2"]);
    const lines: string[] = [];
    const steps = await runTour({ hub: server.hub, store: server.store, botIds: ["bot-1", "bot-2"], print: (line) => lines.push(line) });
    expect(steps.map((s) => [s.title, s.ok])).toEqual([
      ["list bots", true],
      ["start bot-1", true],
      ["update bot-1 config (risk.max_position)", true],
      ["restart bot-1", true],
      ["stop bot-1 gracefully", true],
      ["start bot-2", true],
      ["force-stop bot-2", true],
    ]);
    expect(lines.at(-1)).toBe("tour complete: every step succeeded");
    expect(lines.some((line) => /✓ restart bot-1\s+\d+\.\d ms/.test(line))).toBe(true);
    expect(await server.store.get("bot-1")).toMatchObject({ status: BotStatus.STOPPED, config: { risk: { max_position: 10 } } });
    expect(fleet.bots.get("bot-1")?.config).toEqual({ risk: { max_position: 10 } });
    expect([fleet.bots.get("bot-1")?.closedOrders, fleet.bots.get("bot-2")?.abandonedOrders]).toEqual([6, 3]);
  });

  it("reports a failing step, and the rest of the tour still runs", async () => {
    const { server } = await demo(["bot-1", "bot-2"], ["bot-1:start:exchange_unreachable"]);
    const lines: string[] = [];
    const steps = await runTour({ hub: server.hub, store: server.store, botIds: ["bot-1", "bot-2"], print: (line) => lines.push(line) });
    expect(steps.find((s) => s.title === "start bot-1")).toMatchObject({ ok: false, detail: expect.stringMatching(/exchange_unreachable/) });
    expect(steps.find((s) => s.title === "force-stop bot-2")?.ok).toBe(true);
    expect(lines.at(-1)).toMatch(/step\(s\) failed/);
    expect((await server.store.get("bot-1"))?.status).toBe(BotStatus.STOPPED); // restored after the refusal
  });

  it("bot status reports reach the database through the server", async () => {
    const { server, fleet } = await demo(["bot-1"]);
    await server.hub.waitForClient("bot-1", { timeoutMs: 5_000 });
    await fleet.bots.get("bot-1")!.start({ reason: "local" });
    await expect.poll(async () => (await server.store.get("bot-1"))?.status).toBe(BotStatus.RUNNING);
  });

  it("the store follows the status in a bot's heartbeats, and records when it leaves", async () => {
    const { server } = await demo([]);
    // A bot driven in memory on the server's own hub: its heartbeat says RUNNING, with no status report.
    const bot = await createHarness(demoBotProtocol, { service: server.hub }).connect("bot-9");
    bot.send(create(ConnectRequestSchema, { message: { case: "heartbeat", value: { status: BotStatus.RUNNING } } }));
    await expect.poll(async () => await server.store.get("bot-9")).toMatchObject({ status: BotStatus.RUNNING, statusReason: "from its heartbeat" });
    bot.disconnect();
    await expect.poll(async () => await server.store.get("bot-9")).toMatchObject({ status: BotStatus.RUNNING, statusReason: "disconnected (client_closed)" });
  });

  it("parseFailure explains a bad --fail", () => {
    expect(parseFailure("bot-2:stop")).toEqual({ botId: "bot-2", command: "stop", code: "injected_failure" });
    expect(() => parseFailure("bot-2:fly")).toThrow(/BOT:COMMAND\[:CODE\]/);
  });
});
