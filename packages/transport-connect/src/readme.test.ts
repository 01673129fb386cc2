import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { clearRegistry, unregisterStreamingService } from "@streamcmd/core";
import * as demoBot from "@streamcmd/demo-protocol";
import { runBot } from "./examples/readme-agent.js";
import { startFromAnotherProcess } from "./examples/readme-caller.js";
import { startBotServer } from "./examples/readme-server.js";

const readme = readFileSync(fileURLToPath(new URL("../../../README.md", import.meta.url)), "utf8");
const closers: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
  clearRegistry();
});

describe("README examples", () => {
  it.each(["readme-server.ts", "readme-agent.ts", "readme-caller.ts"])("README shows %s exactly as it is compiled here", (file) => {
    const source = readFileSync(fileURLToPath(new URL(`./examples/${file}`, import.meta.url)), "utf8").trimEnd();
    expect(readme).toContain(source);
  });

  it("the README's server, agent and caller work together", async () => {
    const { bots, server } = await startBotServer(0);
    closers.push(() => server.close({ graceMs: 0 }), () => bots.close());
    const agent = runBot(server.url, "bot-7");
    closers.push(() => agent.close());
    await bots.waitForClient("bot-7", { timeoutMs: 5_000 });
    // In the server's own process the service is registered: no network needed.
    unregisterStreamingService("bots");
    const result = await startFromAnotherProcess(server.url, "bot-7");
    expect(result).toMatchObject({ mode: "cross-process", status: demoBot.BotStatus.RUNNING, outcome: { case: "success", value: { detail: "bot-7 did start" } } });
  });
});
