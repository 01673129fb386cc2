// The cluster's bus itself clustered: three nats-servers routed together, nodes on different ones.
import { createServer } from "node:net";
import { connect } from "@nats-io/transport-node";
import { afterEach, describe, expect, it } from "vitest";
import { createCommandClient, type StreamingService } from "@streamcmd/core";
import { BotStatus, botCommands, botService, CommandResultSchema } from "@streamcmd/demo-protocol";
import { createHarness, demoBotProtocol, replyWith, startNatsServer, type NatsServer } from "@streamcmd/testing";
import { create } from "@bufbuild/protobuf";
import { createNatsNode } from "./index.js";

const closers: (() => unknown)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

/** A port nobody listens on now (for the routes, which must be known before the servers start). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe("on a NATS cluster of three servers", () => {
  it("a caller on one NATS server reaches a bot whose node is on another; when a NATS server dies its nodes move to the others", async () => {
    const routePorts = [await freePort(), await freePort(), await freePort()];
    const routes = routePorts.map((port) => `nats-route://127.0.0.1:${port}`).join(", ");
    const servers: NatsServer[] = [];
    for (const port of routePorts) {
      servers.push(await startNatsServer({ config: `cluster { name: "streamcmd-test"\n listen: "127.0.0.1:${port}"\n routes: [${routes}] }\n` }));
    }
    closers.push(() => Promise.all(servers.map((server) => server.stop())));
    const urls = servers.map((server) => server.url);

    async function node(nodeId: string, first: number) {
      const hub = createHarness(demoBotProtocol);
      closers.push(() => hub.close());
      // Each node starts on its own NATS server and knows the others for failover.
      const nats = await connect({ servers: [...urls.slice(first), ...urls.slice(0, first)], noRandomize: true, reconnectTimeWait: 50, maxReconnectAttempts: -1 });
      closers.push(() => nats.close());
      const created = await createNatsNode({ nats, services: [hub.service as StreamingService<unknown, unknown, unknown, unknown>], nodeId, heartbeatIntervalMs: 100, nodeLostAfterMs: 1_000 });
      closers.push(() => created.close());
      return { node: created, hub, nats };
    }
    const a = await node("A", 0);
    const b = await node("B", 1);
    expect(a.nats.info?.port).not.toBe(b.nats.info?.port);
    const answer = replyWith(() => create(CommandResultSchema, { reply: { case: "start", value: { status: BotStatus.RUNNING, detail: "bot-b" } } }));
    await b.hub.connect("bot-b", { behaviour: answer });
    const client = createCommandClient(botService, { clientId: "bot-b", router: a.node.router });
    // Routes take a moment to form: the first calls may find no one yet.
    await expect.poll(async () => (await client.send(botCommands.start({ reason: "x" })).catch((e: unknown) => e)) as unknown, { timeout: 10_000, interval: 100 }).toMatchObject({ reply: { case: "start" } });

    // B's NATS server dies: B reconnects to another, resubscribes and announces again; calls from A work again.
    await servers[1]!.stop();
    await expect.poll(async () => (await client.send(botCommands.start({ reason: "after" })).catch((e: unknown) => e)) as unknown, { timeout: 15_000, interval: 200 }).toMatchObject({ reply: { case: "start", value: { detail: "bot-b" } } });
    expect(b.nats.info?.port).not.toBe(servers[1]!.port);
  }, 40_000);
});
