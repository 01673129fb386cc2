import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { clearRegistry, unregisterStreamingService } from "@streamcmd/core";
import * as demoBot from "@streamcmd/demo-protocol";
import { generateKeyPairSync } from "node:crypto";
import { createCertificateAuthority, createHarness, demoBotProtocol } from "@streamcmd/testing";
import { mintToken } from "./index.js";
import { runBot } from "./examples/readme-agent.js";
import { startBot7, startHub } from "./examples/readme-core.js";
import { startFromAnotherProcess } from "./examples/readme-caller.js";
import { startBotServer } from "./examples/readme-server.js";

const readme = readFileSync(fileURLToPath(new URL("../../../README.md", import.meta.url)), "utf8");
const closers: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
  clearRegistry();
});

describe("README examples", () => {
  it.each([
    "./examples/readme-core.ts",
    "./examples/readme-server.ts",
    "./examples/readme-agent.ts",
    "./examples/readme-caller.ts",
  ])("README shows %s exactly as it is compiled here", (file) => {
    const source = readFileSync(fileURLToPath(new URL(file, import.meta.url)), "utf8").trimEnd();
    expect(readme).toContain(source);
  });

  it("the README's core example: a registered hub, and a command client that finds it by its definition", async () => {
    const { bots, unregister } = startHub();
    closers.push(async () => unregister(), () => bots.close());
    const fakes = createHarness(demoBotProtocol, { service: bots });
    await fakes.connect("bot-7");
    const { mode, reply, result } = await startBot7();
    expect(mode).toBe("same-process");
    expect(reply).toMatchObject({ $typeName: "demo.bot.v1.StartReply", status: demoBot.BotStatus.RUNNING, detail: "done: start" });
    expect(result.reply).toMatchObject({ case: "ping", value: { status: demoBot.BotStatus.RUNNING } });
  });

  it("the README's server, agent and caller work together over TLS with tokens", async () => {
    const ca = await createCertificateAuthority();
    const tls = await ca.issue({ commonName: "localhost", dnsNames: ["localhost"], ipAddresses: ["127.0.0.1"] });
    const signing = generateKeyPairSync("ec", { namedCurve: "P-256", publicKeyEncoding: { type: "spki", format: "pem" }, privateKeyEncoding: { type: "pkcs8", format: "pem" } });
    const { bots, server } = await startBotServer({ port: 0, tls, tokenPublicKey: signing.publicKey });
    closers.push(() => server.close({ graceMs: 0 }), () => bots.close());
    expect(server.url).toMatch(/^https:/);
    const botToken = await mintToken({ key: signing.privateKey, subject: "bot-7", audience: demoBot.botService.name });
    const agent = runBot({ baseUrl: server.url, ca: ca.cert, botId: "bot-7", token: botToken });
    closers.push(() => agent.close());
    await agent.waitUntilConnected();
    // The welcome means the hub has it: no polling needed.
    expect(bots.isConnected("bot-7")).toBe(true);
    // In the server's own process the service is registered: no network needed. Unregister it to go across.
    unregisterStreamingService(bots);
    const callerToken = await mintToken({ key: signing.privateKey, subject: "ops", audience: "streamcmd-router", scopes: [`execute:${demoBot.botService.name}`] });
    const result = await startFromAnotherProcess({ serverUrl: server.url, ca: ca.cert, token: callerToken, botId: "bot-7" });
    expect(result).toEqual({ mode: "cross-process", status: demoBot.BotStatus.RUNNING, detail: "bot-7 started: market open" });
  });

});
