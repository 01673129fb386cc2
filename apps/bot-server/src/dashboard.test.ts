// The dashboard in a real browser: Debian's Chromium, headless, driven by playwright-core, against the
// demo server as `./dev demo` runs it (TLS, tokens). `.ci/run` installs chromium when it is missing.
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { clearRegistry, silentLogger } from "@streamcmd/core";
import { BotStatus } from "@streamcmd/demo-protocol";
import { parseFailure, startFleet } from "./fleet.js";
import { startDemoServer } from "./server.js";

const executablePath = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].find((path) => existsSync(path));
const closers: (() => Promise<unknown>)[] = [];
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
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
  clearRegistry();
});

async function demo() {
  const dir = mkdtempSync(join(tmpdir(), "streamcmd-demo-"));
  closers.push(async () => rmSync(dir, { recursive: true, force: true }));
  const dbPath = join(dir, "data/bots.db");
  const server = await startDemoServer({ host: "127.0.0.1", port: 0, dbPath, logger: silentLogger });
  closers.push(() => server.close(0));
  const fleet = startFleet({ url: server.url, dataDir: join(dir, "data"), botIds: ["bot-1", "bot-2"], failures: [parseFailure("bot-2:start:margin_call")], logger: silentLogger });
  closers.push(() => fleet.close());
  await server.hub.waitForClient("bot-1", { timeoutMs: 10_000 });
  await server.hub.waitForClient("bot-2", { timeoutMs: 10_000 });
  const token = readFileSync(join(dir, "data/tokens/botctl-admin.jwt"), "utf8").trim();
  return { server, dir, dbPath, token };
}

async function signIn(url: string, token: string): Promise<Page> {
  const page = await browser.newPage();
  closers.push(() => page.close());
  await page.goto(`${url}/dashboard`);
  await page.fill("#token", token);
  await page.click("#signin");
  return page;
}

/** `./dev botctl list --json` against the demo's database, as an operator would check. */
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
    const { server, dir, token } = await demo();
    const page = await signIn(server.url, token);
    await page.waitForSelector('[data-client="bot-1"][data-connected="true"]');
    await page.waitForSelector('[data-client="bot-2"][data-connected="true"]');
    const late = startFleet({ url: server.url, dataDir: join(dir, "data"), botIds: ["bot-9"], failures: [], logger: silentLogger });
    closers.push(() => late.close());
    await server.hub.waitForClient("bot-9", { timeoutMs: 10_000 });
    await page.waitForSelector('[data-client="bot-9"][data-connected="true"]', { timeout: 1_000 });
    const gone = new Promise<void>((resolve) => server.hub.onDisconnect(({ client }) => void (client.clientId === "bot-9" && resolve())));
    await late.close();
    await gone;
    await page.waitForSelector('[data-client="bot-9"][data-connected="false"]', { timeout: 1_000 });
  }, 30_000);

  it("start on a bot makes it RUNNING on the page and in botctl list; a failing command shows its typed error", async () => {
    const { server, dbPath, token } = await demo();
    const page = await signIn(server.url, token);
    await page.click('[data-client="bot-1"]');
    await page.click("#start");
    await page.waitForSelector('[data-client="bot-1"][data-status="RUNNING"]', { timeout: 10_000 });
    await expect.poll(async () => (await botctlList(server.url, dbPath)).find((row) => row.bot === "bot-1")?.status, { timeout: 10_000 }).toBe("RUNNING");
    expect((await server.store.get("bot-1"))?.status).toBe(BotStatus.RUNNING);
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

  it("refuses a wrong token: the page says why and shows no bot", async () => {
    const { server } = await demo();
    const page = await signIn(server.url, "not-a-token");
    await page.waitForSelector("#refused");
    expect(await page.textContent("#refused")).toContain("Not authorised");
    expect(await page.locator("[data-client]").count()).toBe(0);
    const response = await page.request.get(`${server.url}/dashboard/events`);
    expect(response.status()).toBe(401);
  }, 30_000);
});
