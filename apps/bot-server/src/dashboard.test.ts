// The dashboard in a real browser: Debian's Chromium, headless, driven by playwright-core, against the
// demo server as `./dev demo` runs it (TLS, tokens). `.ci/run` installs chromium when it is missing.
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import * as http2 from "node:http2";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { BotStatus, botService } from "@streamcmd/demo-protocol";
import { mintToken } from "@streamcmd/transport-connect";
import { demoScope } from "./test-support/demo.js";

const executablePath = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].find((path) => existsSync(path));
const demos = demoScope();
let browser: BrowserContext;
const profile = mkdtempSync(join(tmpdir(), "streamcmd-chromium-"));
beforeAll(async () => {
  if (executablePath === undefined) throw new Error("the dashboard tests need Debian's chromium (apt-get install chromium); .ci/run installs it");
  // A fresh profile, and nothing that reaches for the network (it is closed; Chromium would stall on it).
  browser = await chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    ignoreHTTPSErrors: true, // the demo's own CA
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
    viewport: { width: 1280, height: 860 },
  });
}, 60_000);
afterAll(async () => {
  await browser?.close();
  rmSync(profile, { recursive: true, force: true });
});
afterEach(() => demos.closeAll());

async function signIn(url: string, token: string): Promise<Page> {
  const page = await browser.newPage();
  demos.defer(() => page.close());
  await page.goto(`${url}/dashboard`);
  await page.fill("#token", token);
  await page.click("#signin");
  return page;
}

/** `./dev botctl list --json` against the demo's database, as an operator would check. */
/** A request to the demo server over HTTPS, sent by the browser context (which accepts the demo's own CA). */
async function fetchWithCa(url: string, path: string, init: { method: string; body: string; headers: Record<string, string> }) {
  const response = await browser.request.fetch(`${url}${path}`, { method: init.method, data: init.body, headers: init.headers });
  return { status: response.status(), json: () => response.json() as Promise<unknown> };
}

function botctlList(url: string, dbPath: string): Promise<{ bot: string; status: string }[]> {
  const botctl = fileURLToPath(new URL("../dist/botctl.js", import.meta.url));
  return new Promise((resolve, reject) =>
    execFile(process.execPath, [botctl, "--url", url, "--db", dbPath, "--json", "list"], (error, stdout, stderr) =>
      error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve(JSON.parse(stdout) as { bot: string; status: string }[]),
    ),
  );
}

describe("the fleet dashboard in Chromium", () => {
  it("shows the bots; one that connects appears and one that leaves is marked, each within a second", async () => {
    const { server, token, fleet } = await demos.start(["bot-1", "bot-2"]);
    const page = await signIn(server.url, token);
    await page.waitForSelector('[data-client="bot-1"][data-connected="true"]');
    await page.waitForSelector('[data-client="bot-2"][data-connected="true"]');
    const late = fleet(["bot-9"]);
    await server.hub.waitForClient("bot-9", { timeoutMs: 10_000 });
    await page.waitForSelector('[data-client="bot-9"][data-connected="true"]', { timeout: 1_000 });
    const gone = new Promise<void>((resolve) => server.hub.onDisconnect(({ client }) => void (client.clientId === "bot-9" && resolve())));
    await late.close();
    await gone;
    await page.waitForSelector('[data-client="bot-9"][data-connected="false"]', { timeout: 1_000 });
  }, 30_000);

  it("start on a bot makes it RUNNING on the page and in botctl list; a failing command shows its typed error", async () => {
    const { server, dbPath, token } = await demos.start(["bot-1", "bot-2"], ["bot-2:start:margin_call"]);
    const page = await signIn(server.url, token);
    await page.click('[data-client="bot-1"]');
    await page.click("#start");
    await page.waitForSelector('[data-client="bot-1"][data-status="RUNNING"]', { timeout: 10_000 });
    await expect.poll(async () => (await botctlList(server.url, dbPath)).find((row) => row.bot === "bot-1")?.status, { timeout: 10_000 }).toBe("RUNNING");
    expect((await server.store.get("bot-1"))?.status).toBe(BotStatus.RUNNING);
    // The live feed names the caller: the token's subject.
    await page.waitForSelector('#feed >> text=/botctl-admin → bot-1: ok/', { timeout: 5_000 });
    // A config goes to the store (the source of truth, as with botctl) and to the bot.
    await page.fill("#config", '{"risk": {"max_position": 7}}');
    await page.click("#update-config");
    await page.waitForSelector("#outcome.ok", { timeout: 10_000 });
    await expect.poll(async () => (await server.store.get("bot-1"))?.config).toEqual({ risk: { max_position: 7 } });
    await page.fill("#config", "{not json");
    await page.click("#update-config");
    expect(await page.textContent("#outcome")).toMatch(/^invalid_argument: the config is not JSON/);
    await page.click("#restart");
    await page.waitForSelector('#outcome.ok:has-text("start")', { timeout: 20_000 });
    await page.waitForSelector('[data-client="bot-1"][data-status="RUNNING"]', { timeout: 10_000 });
    await page.click('[data-client="bot-2"]');
    await page.click("#start");
    await page.waitForSelector("#outcome.error", { timeout: 10_000 });
    expect(await page.textContent("#outcome")).toMatch(/^command_failed: .*margin_call/);
    await page.waitForSelector('#errors:has-text("command_failed: 1")', { timeout: 5_000 });
    // STREAMCMD_SCREENSHOT=path: the README's picture of the page, taken here.
    if (process.env.STREAMCMD_SCREENSHOT !== undefined) {
      for (let i = 0; i < 5; i++) await page.click("#ping");
      await page.waitForTimeout(2_500);
      await page.screenshot({ path: process.env.STREAMCMD_SCREENSHOT });
    }
  }, 30_000);

  it("refuses commands without a token, with a token that may only list, and garbage, changing nothing; a valid command works after", async () => {
    const { server, dir, token } = await demos.start(["bot-1"]);
    const post = (body: string, bearer?: string) =>
      fetchWithCa(server.url, "/dashboard/command", { method: "POST", body, headers: { "content-type": "application/json", ...(bearer ? { authorization: `Bearer ${bearer}` } : {}) } });
    const start = JSON.stringify({ clientId: "bot-1", action: "start" });
    expect((await post(start)).status).toBe(401);
    expect((await post(start, "forged.token.here")).status).toBe(401);
    const key = readFileSync(join(dir, "data/keys/token-signing.pem"), "utf8");
    const viewer = await mintToken({ key, subject: "viewer", audience: "streamcmd-router", scopes: [`list:${botService.name}`] });
    const refused = await post(start, viewer);
    expect(refused.status).toBe(403);
    expect(await refused.json()).toEqual({ error: `viewer may not execute on bot-1` });
    expect((await post("{garbage", token)).status).toBe(400);
    expect((await post(JSON.stringify({ clientId: "bot-1", action: "rm -rf" }), token)).status).toBe(400);
    expect((await post(JSON.stringify({ clientId: "bot-1", action: "config", config: "x".repeat(100_000) }), token)).status).toBe(400);
    expect((await server.store.get("bot-1"))?.status).not.toBe(BotStatus.RUNNING);
    const ok = await post(start, token);
    expect(await ok.json()).toMatchObject({ ok: true });
  }, 30_000);

  it("the event stream stays open past the server's handshake timeout (5 s), ticking", async () => {
    const { server, ca, token } = await demos.start(["bot-1"]);
    const session = http2.connect(server.url, { ca });
    demos.defer(async () => session.close());
    const stream = session.request({ ":path": "/dashboard/events", authorization: `Bearer ${token}` });
    stream.end();
    let ticks = 0;
    stream.setEncoding("utf8").on("data", (chunk: string) => (ticks += chunk.split("event: tick").length - 1));
    let closed = false;
    stream.on("close", () => (closed = true));
    await new Promise((resolve) => setTimeout(resolve, 6_500));
    expect(closed).toBe(false);
    expect(ticks).toBeGreaterThanOrEqual(5);
  }, 20_000);

  it("refuses a wrong token: the page says why and shows no bot", async () => {
    const { server } = await demos.start(["bot-1"]);
    const page = await signIn(server.url, "not-a-token");
    await page.waitForSelector("#refused");
    expect(await page.textContent("#refused")).toContain("Not authorised");
    expect(await page.locator("[data-client]").count()).toBe(0);
    const response = await page.request.get(`${server.url}/dashboard/events`);
    expect(response.status()).toBe(401);
  }, 30_000);
});
