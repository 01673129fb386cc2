import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createHarness, demoBotProtocol, disconnectOnCommand, failWith, neverReply } from "@streamcmd/testing";
import { botService } from "@streamcmd/demo-protocol";
import type { Agent } from "./index.js";
import { startAgent, startBotServer, startCommand, type BotServer } from "./test-support/bot-server.js";

const run = promisify(execFile);
const callerScript = fileURLToPath(new URL("./test-support/remote-caller.mjs", import.meta.url));
const builtPackages = ["core", "demo-protocol", "testing", "transport-connect"].map((name) =>
  fileURLToPath(new URL(`../../${name}/dist/index.js`, import.meta.url)),
);

let bots: BotServer;
let agent: Agent;

/** Runs the caller in its own OS process and returns its result per scenario. */
async function callFromAnotherProcess(...scenarios: string[]): Promise<Record<string, Record<string, unknown>>> {
  const { stdout } = await run(process.execPath, [callerScript, ...scenarios], {
    env: { ...process.env, STREAMCMD_URL: bots.url },
    timeout: 30_000,
  });
  const results: Record<string, Record<string, unknown>> = {};
  for (const line of stdout.trim().split("\n")) {
    const parsed = JSON.parse(line) as { scenario: string };
    results[parsed.scenario] = parsed;
  }
  return results;
}

beforeAll(async () => {
  const missing = builtPackages.filter((file) => !existsSync(file));
  if (missing.length > 0) {
    throw new Error(`the cross-process test runs the built packages; run "./dev pnpm build" first (missing ${missing.join(", ")})`);
  }
  bots = await startBotServer({ serviceOptions: { maxQueueSize: 1 } });
  agent = startAgent(bots.url, "bot-ok");
  // Misbehaving bots live in the same hub, driven in memory: the caller cannot tell the difference.
  const fakes = createHarness(demoBotProtocol, { service: bots.hub });
  await fakes.connect("bot-failing", { behaviour: failWith("already_running", "running since 09:00") });
  await fakes.connect("bot-silent", { behaviour: neverReply() });
  await fakes.connect("bot-quitter", { behaviour: disconnectOnCommand() });
  const slow = await fakes.connect("bot-slow-reader", { behaviour: neverReply() });
  slow.stream.pauseReading();
  // One message sits with the paused reader and one fills the queue of one: the next is refused.
  for (let i = 0; i < 2; i++) void bots.hub.send("bot-slow-reader", startCommand("fill"), { timeoutMs: 60_000 }).catch(() => {});
  await bots.hub.waitForClient("bot-ok", { timeoutMs: 5_000 });
}, 30_000);

afterAll(async () => {
  await agent?.close();
  await bots?.close();
});

describe("cross-process, from a separate OS process", () => {
  it("auto-detects cross-process mode and gets the bot's reply", async () => {
    const results = await callFromAnotherProcess("mode", "ok", "typed");
    expect(results["mode"]).toMatchObject({ mode: "cross-process" });
    expect(results["ok"]).toMatchObject({ outcome: "reply", typeName: "demo.bot.v1.CommandResult", reply: "start", detail: "bot-ok:start:from another process" });
    expect(results["typed"]).toMatchObject({ outcome: "reply", typeName: "demo.bot.v1.StartReply", detail: "bot-ok:start:typed, from another process" });
  });

  it("every typed error the server raises arrives as the same class, rebuilt from the wire, with the caller's stack", async () => {
    const results = await callFromAnotherProcess("failed", "timeout", "notConnected", "disconnected", "queueFull", "serviceNotFound");
    expect(results["failed"]).toMatchObject({ name: "CommandFailedError", code: "command_failed", clientErrorCode: "already_running", clientId: "bot-failing" });
    expect(results["timeout"]).toMatchObject({ name: "CommandTimeoutError", code: "command_timeout", clientId: "bot-silent" });
    expect(results["notConnected"]).toMatchObject({ name: "ClientNotConnectedError", code: "client_not_connected", clientId: "ghost" });
    expect(results["disconnected"]).toMatchObject({ name: "ClientDisconnectedError", code: "client_disconnected" });
    expect(results["queueFull"]).toMatchObject({ name: "QueueFullError", code: "queue_full" });
    expect(results["serviceNotFound"]).toMatchObject({ name: "ServiceNotFoundError", code: "service_not_found" });
    for (const name of ["failed", "timeout", "notConnected", "disconnected", "queueFull", "serviceNotFound"]) {
      // Raised by the server: it came off the wire as a status, which is kept as the cause.
      expect(results[name], name).toMatchObject({ causeName: "ConnectError", stackHasCaller: true });
    }
    // The server's own words: only its hub knows the command id it assigned and the limits it has.
    expect(results["timeout"]!["message"]).toMatch(/^client bot-silent did not reply to command \S+-\S+ within 150 ms$/);
    expect(results["queueFull"]!["message"]).toMatch(/messages queued \(limit 1\)/);
  });

  it("a caller's own cancellation is raised in the caller's process and reaches the server", async () => {
    const before = bots.hub.stats().cancellations;
    const results = await callFromAnotherProcess("cancelled");
    expect(results["cancelled"]).toMatchObject({ name: "CommandCancelledError", code: "command_cancelled", causeName: "TimeoutError" });
    await expect.poll(() => bots.hub.stats().cancellations).toBe(before + 1);
    expect(bots.hub.client("bot-silent")?.pendingCommands).toBe(0);
  });

  it("a bad call is refused in the caller's process with a clear error, and nothing reaches the server", async () => {
    const sentBefore = bots.hub.stats().commandsSent;
    const results = await callFromAnotherProcess("wrongType", "emptyClientId");
    expect(results["wrongType"]).toMatchObject({ name: "InvalidArgumentError", message: `a command of "${botService.name}" must be a demo.bot.v1.ConnectResponse, got a demo.bot.v1.Hello` });
    expect(results["emptyClientId"]).toMatchObject({ name: "InvalidArgumentError", message: 'clientId must be a non-empty string, got ""' });
    // Raised here: no status from the server behind them.
    expect([results["wrongType"]!["causeName"], results["emptyClientId"]!["causeName"]]).toEqual([undefined, undefined]);
    expect(bots.hub.stats().commandsSent).toBe(sentBefore);
    expect(bots.hub.isConnected("bot-ok")).toBe(true);
  });
});
