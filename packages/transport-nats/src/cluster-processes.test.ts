// Whole server nodes in their own OS processes, killed -9 or stopped (SIGSTOP) with commands on them.
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { connect } from "@nats-io/transport-node";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { ClientNotConnectedError, NodeLostError, RouterUnavailableError } from "@streamcmd/core";
import { botAgent, botService, BotStatus, createBotClient } from "@streamcmd/demo-protocol";
import { connectAgent, type Agent } from "@streamcmd/transport-connect";
import { createNatsNode, type NatsNode } from "./index.js";
import { startNatsServer, type NatsServer } from "@streamcmd/testing";

let nats: NatsServer;
beforeAll(async () => {
  // A hung node's connection is dropped (and its subscriptions with it) after two unanswered pings.
  nats = await startNatsServer({ config: 'ping_interval: "1s"\nping_max: 2\n' });
});
afterAll(() => nats.stop());
const closers: (() => unknown)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

/** A server node in its own process; resolves with its URL once it serves. */
async function nodeProcess(nodeId: string): Promise<{ child: ChildProcess; url: string }> {
  const script = fileURLToPath(new URL("./test-support/node-process.mjs", import.meta.url));
  const child = spawn(process.execPath, [script, nats.url, nodeId], { stdio: ["ignore", "pipe", "inherit"] });
  closers.push(() => (child.kill("SIGCONT"), child.kill("SIGKILL")));
  const [line] = (await once(child.stdout!.setEncoding("utf8"), "data")) as [string];
  return { child, url: line.trim() };
}

/** A caller-only node in this process (it holds no bots). */
async function callerNode(): Promise<NatsNode> {
  const nc = await connect({ servers: nats.url });
  const node = await createNatsNode({ nats: nc, nodeId: "caller", nodeLostAfterMs: 1_000 });
  closers.push(async () => (await node.close(), await nc.close()));
  return node;
}

/** A bot that hangs on a start whose reason begins with "hang", and answers anything else. */
function bot(botId: string, urls: string[]): Agent {
  const agent = connectAgent({
    baseUrl: urls,
    clientId: botId,
    heartbeatIntervalMs: 300,
    reconnect: { initialDelayMs: 50, maxDelayMs: 300 },
    http2: { pingIntervalMs: 300, pingTimeoutMs: 500 }, // notices a hung server fast
    ...botAgent({
      start: ({ reason }) => (reason.startsWith("hang") ? new Promise(() => {}) : { status: BotStatus.RUNNING, detail: `${botId}: ${reason}` }),
      stop: () => ({ status: BotStatus.STOPPED, detail: "stopped" }),
      configUpdate: () => ({ status: BotStatus.RUNNING, detail: "configured" }),
      ping: () => ({ status: BotStatus.RUNNING, version: "1" }),
    }),
    maxConcurrentCommands: 64,
  });
  closers.push(() => agent.close());
  return agent;
}

describe.each(["SIGKILL", "SIGSTOP"] as const)("a node process stopped by %s with 64 commands on it", (signal) => {
  it("every command fails with NodeLostError within a few seconds; new calls fail fast until the bots move, then succeed", async () => {
    const [b, c] = [await nodeProcess("node-b"), await nodeProcess("node-c")];
    const caller = await callerNode();
    const bots = ["bot-1", "bot-2"].map((id) => bot(id, [b.url, c.url]));
    await Promise.all(bots.map((agent) => agent.waitUntilConnected()));
    await expect.poll(async () => (await caller.listClients(botService)).map((client) => client.nodeId)).toEqual(["node-b", "node-b"]);
    const clients = ["bot-1", "bot-2"].map((clientId) => createBotClient({ clientId, router: caller.router }));
    const calls = Array.from({ length: 64 }, (_, i) => clients[i % 2]!.start({ reason: `hang-${i}` }, { timeoutMs: 60_000 }).catch((e: unknown) => e));
    await new Promise((resolve) => setTimeout(resolve, 300)); // all acknowledged by node-b
    const stopped = performance.now();
    b.child.kill(signal);
    const errors = await Promise.all(calls);
    expect(performance.now() - stopped).toBeLessThan(5_000);
    for (const error of errors) expect(error).toBeInstanceOf(NodeLostError);
    // Until the bots are on node-c: typed refusals — nobody holds it, or (a hung node still subscribed) nobody acknowledged it.
    const during = await clients[0]!.start({ reason: "during" }).catch((e: unknown) => e);
    if (during instanceof Error) expect([ClientNotConnectedError, RouterUnavailableError].some((type) => during instanceof type)).toBe(true);
    else expect(during).toMatchObject({ detail: "bot-1: during" });
    await expect.poll(async () => (await clients[0]!.start({ reason: "after" }).catch((e: unknown) => e)) as unknown, { timeout: 15_000, interval: 200 }).toMatchObject({ detail: "bot-1: after" });
    await expect.poll(async () => (await clients[1]!.start({ reason: "after" }).catch((e: unknown) => e)) as unknown, { timeout: 15_000, interval: 200 }).toMatchObject({ detail: "bot-2: after" });
  }, 40_000);
});
