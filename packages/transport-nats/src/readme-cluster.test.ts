import { generateKeyPairSync } from "node:crypto";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { botAgent, botService, BotStatus, createBotClient } from "@streamcmd/demo-protocol";
import { createCertificateAuthority } from "@streamcmd/testing";
import { connectAgent, createRemoteRouter, mintToken } from "@streamcmd/transport-connect";
import { startBotAnywhere, startClusterNode } from "./examples/readme-cluster.js";
import { startNatsServer } from "@streamcmd/testing";

const closers: (() => unknown)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

describe("the README's cluster", () => {
  it("is shown in the README exactly as it is compiled here", () => {
    const readme = readFileSync(fileURLToPath(new URL("../../../README.md", import.meta.url)), "utf8");
    expect(readme).toContain(readFileSync(fileURLToPath(new URL("./examples/readme-cluster.ts", import.meta.url)), "utf8").trimEnd());
  });

  it("three nodes over TLS with tokens: a caller at any node and a worker on the bus reach a bot on another node; a node that leaves hands its bots on", async () => {
    const natsPassword = "s3cret-for-nodes";
    const nats = await startNatsServer({ auth: { user: "node", pass: natsPassword } });
    closers.push(() => nats.stop());
    const ca = await createCertificateAuthority();
    const tls = await ca.issue({ commonName: "localhost", dnsNames: ["localhost"], ipAddresses: ["127.0.0.1"] });
    const signing = generateKeyPairSync("ec", { namedCurve: "P-256", publicKeyEncoding: { type: "spki", format: "pem" }, privateKeyEncoding: { type: "pkcs8", format: "pem" } });
    const nodes = await Promise.all(
      ["node-a", "node-b", "node-c"].map((nodeId) => startClusterNode({ nodeId, natsUrl: nats.url, natsPassword, port: 0, tls, tokenPublicKey: signing.publicKey })),
    );
    for (const node of nodes) closers.push(() => node.close());
    const [a, , c] = nodes as [(typeof nodes)[0], (typeof nodes)[0], (typeof nodes)[0]];

    // bot-7 connects to node C first, node A if C is gone.
    const bot = connectAgent({
      baseUrl: [c.server.url, a.server.url],
      tls: { ca: ca.cert },
      token: await mintToken({ key: signing.privateKey, subject: "bot-7", audience: botService.name }),
      clientId: "bot-7",
      heartbeatIntervalMs: 0,
      reconnect: { initialDelayMs: 50, maxDelayMs: 200 },
      ...botAgent({
        start: ({ reason }) => ({ status: BotStatus.RUNNING, detail: `bot-7 started: ${reason}` }),
        stop: () => ({ status: BotStatus.STOPPED, detail: "stopped" }),
        configUpdate: () => ({ status: BotStatus.RUNNING, detail: "configured" }),
        ping: () => ({ status: BotStatus.RUNNING, version: "1" }),
      }),
    });
    closers.push(() => bot.close());
    await bot.waitUntilConnected();
    expect(c.bots.isConnected("bot-7")).toBe(true);

    // An operator's tool pointed at node A (as botctl --url would be), with a caller token.
    const callerToken = await mintToken({ key: signing.privateKey, subject: "ops", audience: "streamcmd-router", scopes: [`execute:${botService.name}`, "list:*"] });
    const router = createRemoteRouter({ baseUrl: a.server.url, tls: { ca: ca.cert }, token: callerToken });
    closers.push(() => router.close());
    const viaA = createBotClient({ clientId: "bot-7", router });
    expect(await viaA.start({ reason: "via node A" })).toMatchObject({ status: BotStatus.RUNNING, detail: "bot-7 started: via node A" });
    expect((await router.listClients(botService)).map((client) => client.clientId)).toEqual(["bot-7"]);
    // A worker on the bus.
    expect(await startBotAnywhere({ natsUrl: nats.url, natsPassword, botId: "bot-7" })).toBe("bot-7 started: market open");

    // Node C leaves: bot-7 moves to node A, and the same caller reaches it there.
    await c.close();
    await a.bots.waitForClient("bot-7", { timeoutMs: 10_000 });
    expect(await viaA.start({ reason: "after C left" })).toMatchObject({ detail: "bot-7 started: after C left" });
  });
});
