// The demo as a user runs it: separate OS processes on the built entry points (dist/).
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { BotStatus } from "@streamcmd/demo-protocol";
import { createSqliteBotStore } from "@streamcmd/examples";

const dist = fileURLToPath(new URL("../dist/", import.meta.url));
const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), "streamcmd-processes-"));
const children: ChildProcess[] = [];

/** Starts an entry point and resolves with the first stdout line matching `ready`. */
function start(script: string, args: string[], ready: RegExp): Promise<{ child: ChildProcess; match: RegExpMatchArray }> {
  const child = spawn(process.execPath, [join(dist, script), ...args], { cwd: dir, stdio: ["ignore", "pipe", "pipe"] });
  children.push(child);
  return new Promise((resolve, reject) => {
    let out = "";
    let err = "";
    child.stderr!.on("data", (chunk: Buffer) => (err += chunk.toString()));
    child.stdout!.on("data", (chunk: Buffer) => {
      out += chunk.toString();
      const match = out.match(ready);
      if (match) resolve({ child, match });
    });
    child.once("exit", (code) => reject(new Error(`${script} exited with ${code} before it was ready:\n${out}\n${err}`)));
  });
}

async function botctl(url: string, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [join(dist, "botctl.js"), "--url", url, ...args], { cwd: dir, timeout: 30_000 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

let url = "";

beforeAll(async () => {
  if (!existsSync(join(dist, "botctl.js"))) throw new Error('these tests run the built demo; run "./dev pnpm build" first');
  const server = await start("server-main.js", ["--port", "0", "--log-level", "warn"], /bot server on (https:\/\/127\.0\.0\.1:\d+)/);
  url = server.match[1]!;
  await start("fleet-main.js", ["--url", url, "--bots", "2", "--fail", "bot-2:start:exchange_unreachable", "--log-level", "warn"], /simulated bots/);
  // Wait until both bots are connected, as botctl sees them.
  const connected = async () => {
    const listed = await botctl(url, "list", "--json");
    return listed.code === 0 ? (JSON.parse(listed.stdout) as { connected: boolean }[]).filter((b) => b.connected).length : 0;
  };
  await vi.waitFor(async () => expect(await connected()).toBe(2), { timeout: 20_000, interval: 100 });
}, 60_000);

afterAll(async () => {
  for (const child of children) child.kill("SIGTERM");
  await Promise.all(children.map((child) => new Promise((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve(null) : child.once("exit", resolve)))));
  rmSync(dir, { recursive: true, force: true });
});

describe("server, fleet and botctl in three separate processes", () => {
  it("start / config / restart / stop change the bot's status in the database and in the bot; botctl shows it", async () => {
    const started = await botctl(url, "start", "bot-1", "--reason", "from botctl");
    expect(started).toMatchObject({ code: 0, stdout: expect.stringMatching(/bot-1: start ok STOPPED → RUNNING \(\d+(\.\d)? ms\) running with 3 open orders/) });

    const config = await botctl(url, "config", "bot-1", '{"risk":{"max_position":5,"stop_loss":0.1}}');
    expect(config.code).toBe(0);
    const patched = await botctl(url, "config", "bot-1", '{"risk":{"max_position":9}}', "--fields", "risk.max_position");
    expect(patched.stdout).toMatch(/config \{"risk":\{"max_position":9,"stop_loss":0.1\}\}/);

    const restarted = await botctl(url, "restart", "bot-1", "--json");
    expect(JSON.parse(restarted.stdout)).toMatchObject({ bot: "bot-1", action: "restart", status: "RUNNING" });

    const status = JSON.parse((await botctl(url, "status", "bot-1", "--json")).stdout) as { status: string; config: unknown };
    expect(status).toMatchObject({ status: "RUNNING", config: { risk: { max_position: 9, stop_loss: 0.1 } } });

    expect((await botctl(url, "stop", "bot-1")).stdout).toMatch(/RUNNING → STOPPED .* stopped gracefully, closed 3 orders/);
    const store = createSqliteBotStore(join(dir, "data/bots.db"));
    expect(await store.get("bot-1")).toMatchObject({ status: BotStatus.STOPPED, config: { risk: { max_position: 9, stop_loss: 0.1 } } });
    await store.close();

    const listed = await botctl(url, "list");
    expect(listed.stdout).toMatch(/│ bot-1 │ STOPPED │ yes/);
  });

  it("a failing bot: one clear line and a non-zero exit", async () => {
    const failed = await botctl(url, "start", "bot-2");
    expect(failed.code).toBe(1);
    expect(failed.stderr.trim()).toBe('botctl: bot "bot-2" refused: exchange_unreachable: start failed on purpose (--fail)');
  });

  it("an unknown bot: one clear line and a non-zero exit", async () => {
    const unknown = await botctl(url, "start", "bot-99");
    expect(unknown.code).toBe(2);
    expect(unknown.stderr.trim()).toBe('botctl: unknown bot "bot-99": it is not connected and not in ./data/bots.db');
  });

  it("a stopped server: one clear line and a non-zero exit", async () => {
    const { match } = await start("server-main.js", ["--port", "0", "--log-level", "warn", "--db", "other.db"], /bot server on (https:\/\/127\.0\.0\.1:\d+)/);
    const child = children.at(-1)!;
    child.kill("SIGTERM");
    await new Promise((resolve) => child.once("exit", resolve));
    const down = await botctl(match[1]!, "list");
    expect(down.code).toBe(3);
    expect(down.stderr.trim()).toBe(`botctl: cannot reach the bot server at ${match[1]} (is it running? ./dev demo or ./dev pnpm demo:server)`);
  });
});

describe("a server killed with a command in flight", () => {
  it("botctl restart exits 3, server unreachable, not a cancelled or internal error", async () => {
    const server = await start("server-main.js", ["--port", "0", "--insecure", "--log-level", "info", "--db", "killed/bots.db"], /bot server on (http:\/\/127\.0\.0\.1:\d+)/);
    const killedUrl = server.match[1]!;
    await start("fleet-main.js", ["--url", killedUrl, "--insecure", "--bots", "1", "--prefix", "k-", "--log-level", "warn"], /simulated bots/);
    const insecure = ["--insecure", "--db", "killed/bots.db"];
    await vi.waitFor(async () => expect((await botctl(killedUrl, "start", "k-1", ...insecure)).code).toBe(0), { timeout: 20_000, interval: 200 });
    // The server logs (to stderr) each status the bot reports: kill it -9 the moment the restart's stop is under way.
    let log = "";
    const stopping = new Promise<void>((resolve) =>
      server.child.stderr!.on("data", (chunk: Buffer) => {
        log += chunk.toString();
        if (/"status":"STOPPING"/.test(log)) resolve();
      }),
    );
    const restart = botctl(killedUrl, "restart", "k-1", ...insecure);
    await stopping;
    server.child.kill("SIGKILL");
    const outcome = await restart;
    expect(outcome.code).toBe(3);
    expect(outcome.stderr.trim()).toBe(`botctl: cannot reach the bot server at ${killedUrl} (is it running? ./dev demo or ./dev pnpm demo:server)`);
  }, 60_000);
});

describe("a server killed -9 mid-commands and restarted on the same database", () => {
  it("the database passes integrity_check and, once the bots are back, holds each bot's own status", async () => {
    const args = ["--insecure", "--log-level", "warn", "--db", "restart/bots.db"];
    const first = await start("server-main.js", ["--port", "0", ...args], /bot server on (http:\/\/127\.0\.0\.1:(\d+))/);
    const [restartUrl, port] = [first.match[1]!, first.match[2]!];
    await start("fleet-main.js", ["--url", restartUrl, "--insecure", "--bots", "3", "--prefix", "r-", "--log-level", "warn"], /simulated bots/);
    const ctl = (...command: string[]) => botctl(restartUrl, ...command, "--insecure", "--db", "restart/bots.db");
    await vi.waitFor(async () => expect((await ctl("start", "r-1")).code).toBe(0), { timeout: 20_000, interval: 200 });
    // Commands in flight to every bot, and the server gone in the middle of them.
    const inFlight = [ctl("stop", "r-1"), ctl("start", "r-2"), ctl("config", "r-3", '{"risk":{"max_position":3}}')];
    await new Promise((resolve) => setTimeout(resolve, 150));
    first.child.kill("SIGKILL");
    await Promise.all(inFlight);
    await start("server-main.js", ["--port", port, ...args], /bot server on/);
    const { DatabaseSync } = await import("node:sqlite");
    const db = new DatabaseSync(join(dir, "restart/bots.db"), { readOnly: true });
    expect(db.prepare("PRAGMA integrity_check").get()).toEqual({ integrity_check: "ok" });
    db.close();
    // The bots reconnect by themselves and report their status on connecting.
    const connected = async () => (JSON.parse((await ctl("list", "--json")).stdout) as { connected: boolean }[]).filter((b) => b.connected).length;
    await vi.waitFor(async () => expect(await connected()).toBe(3), { timeout: 20_000, interval: 250 });
    await new Promise((resolve) => setTimeout(resolve, 500));
    // What the database says, read before asking the bots (a ping records what it hears).
    const store = createSqliteBotStore(join(dir, "restart/bots.db"));
    const stored = await Promise.all(["r-1", "r-2", "r-3"].map(async (bot) => BotStatus[(await store.get(bot))?.status ?? BotStatus.UNSPECIFIED]));
    await store.close();
    const own = await Promise.all(["r-1", "r-2", "r-3"].map(async (bot) => (JSON.parse((await ctl("status", bot, "--json")).stdout) as { status: string }).status));
    expect(stored).toEqual(own);
  }, 90_000);
});

describe("pnpm demo", () => {
  it("completes the tour and exits 0 with --exit-after-tour", async () => {
    const { stdout } = await run(process.execPath, [join(dist, "main.js"), "--port", "0", "--bots", "2", "--db", "tour.db", "--exit-after-tour"], {
      cwd: dir,
      timeout: 60_000,
    });
    expect(stdout).toMatch(/tour complete: every step succeeded/);
    expect(stdout.match(/^✓ /gm)).toHaveLength(7);
  }, 60_000);

  it("exits non-zero when a step fails", async () => {
    const failed = await run(process.execPath, [join(dist, "main.js"), "--port", "0", "--bots", "2", "--db", "tour2.db", "--exit-after-tour", "--fail", "bot-1:start"], {
      cwd: dir,
      timeout: 60_000,
    }).then(
      () => ({ code: 0, stdout: "" }),
      (error: { code: number; stdout: string }) => error,
    );
    expect(failed.code).toBe(1);
    expect(failed.stdout).toMatch(/✗ start bot-1/);
  }, 60_000);
});
