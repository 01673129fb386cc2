#!/usr/bin/env node
// `node apps/bot-server/scripts/measure-dashboard.mjs [clients]` (after the build; needs Debian's
// chromium): the dashboard with 10,000 connected clients (in-memory, the hub the demo uses) and
// 1,000 commands a second, in headless Chromium. Prints how long the page takes to show them all,
// the server's cost per tick, and the page's main-thread time while it runs and while scrolling.
import { mkdtempSync, rmSync } from "node:fs";
import * as http from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { silentLogger } from "@streamcmd/core";
import { botCommands } from "@streamcmd/demo-protocol";
import { createMemoryBotStore } from "@streamcmd/examples";
import { createHarness, demoBotProtocol } from "@streamcmd/testing";
import { createDashboard } from "../dist/dashboard.js";

const clients = Number(process.argv[2] ?? 10_000);
const harness = createHarness(demoBotProtocol);
for (let i = 0; i < clients; i += 500) await harness.connectMany(Math.min(500, clients - i), `bot-${i}-`);
const dashboard = createDashboard({
  hub: harness.service,
  store: createMemoryBotStore(),
  verifier: undefined,
  nodeId: "local",
  logger: silentLogger,
  assetsDir: fileURLToPath(new URL("../dist/dashboard", import.meta.url)),
});
const server = http.createServer((request, response) => {
  if (!dashboard.handle(request, response)) response.writeHead(404).end();
});
await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
const url = `http://127.0.0.1:${server.address().port}`;

// 1,000 commands a second to clients across the list: the feed, the aggregates and the pending counts move.
const ids = harness.service.clients().map((client) => client.clientId);
let next = 0;
const load = setInterval(() => {
  for (let i = 0; i < 100; i++) void harness.service.send(ids[next++ % ids.length], botCommands.ping({})).catch(() => {});
}, 100);

const profile = mkdtempSync(join(tmpdir(), "streamcmd-chromium-"));
const browser = await chromium.launchPersistentContext(profile, {
  executablePath: "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
  viewport: { width: 1280, height: 860 },
});
const page = await browser.newPage();
await page.goto(`${url}/dashboard`);
await page.fill("#token", "none needed: the measurement serves without a verifier");
const started = performance.now();
await page.click("#signin");
await page.waitForSelector(`#connected:has-text("${clients} connected")`, { timeout: 60_000 });
const shown = performance.now() - started;

// Main-thread time in long tasks (> 50 ms) over 10 s of live updates, then while scrolling the list end to end.
const busy = (action) =>
  page.evaluate(async (action) => {
    let longTasks = 0;
    let longest = 0;
    const observer = new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) {
        longTasks += entry.duration;
        longest = Math.max(longest, entry.duration);
      }
    });
    observer.observe({ type: "longtask" });
    const frames = [];
    let last = performance.now();
    let done = false;
    const frame = (now) => {
      frames.push(now - last);
      last = now;
      if (!done) requestAnimationFrame(frame);
    };
    requestAnimationFrame(frame);
    const list = document.getElementById("clients");
    const t0 = performance.now();
    if (action === "scroll") {
      for (let top = 0; top < list.scrollHeight; top += 4_000) {
        list.scrollTop = top;
        await new Promise((resolve) => requestAnimationFrame(resolve));
      }
    } else await new Promise((resolve) => setTimeout(resolve, 10_000));
    done = true;
    observer.disconnect();
    const elapsed = performance.now() - t0;
    frames.sort((a, b) => a - b);
    return { elapsedMs: elapsed, longTaskMs: longTasks, longestTaskMs: longest, frameP50Ms: frames[Math.floor(frames.length / 2)], frameP99Ms: frames[Math.floor(frames.length * 0.99)] };
  }, action);
const live = await busy("live");
const scroll = await busy("scroll");
const tickStart = performance.now();
for (let i = 0; i < 20; i++) harness.service.clients();
const perTick = (performance.now() - tickStart) / 20;

console.log(`dashboard with ${clients} clients, 1,000 commands/s (node ${process.version}):`);
console.log(`  page shows all ${clients}: ${shown.toFixed(0)} ms after sign-in`);
console.log(`  live, 10 s: long tasks ${live.longTaskMs.toFixed(0)} ms in all (longest ${live.longestTaskMs.toFixed(0)} ms); frames p50 ${live.frameP50Ms.toFixed(1)} ms, p99 ${live.frameP99Ms.toFixed(1)} ms`);
console.log(`  scrolling the list end to end: ${scroll.elapsedMs.toFixed(0)} ms; frames p50 ${scroll.frameP50Ms.toFixed(1)} ms, p99 ${scroll.frameP99Ms.toFixed(1)} ms; long tasks ${scroll.longTaskMs.toFixed(0)} ms`);
console.log(`  server: listing the clients for a tick ${perTick.toFixed(1)} ms`);
clearInterval(load);
await browser.close();
rmSync(profile, { recursive: true, force: true });
dashboard.close();
server.close();
await harness.close();
process.exit(0);
