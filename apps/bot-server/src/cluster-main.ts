#!/usr/bin/env node
// `./dev demo:cluster`: a NATS server, three bot-server nodes, a simulated fleet spread across them, and a
// tour: a command from node A to a bot on node C, presence across nodes, then node C killed and its bots
// commanded again on the nodes they moved to.
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { connect } from "@nats-io/transport-node";
import { Command, Option } from "commander";
import { botService, createBotClient } from "@streamcmd/demo-protocol";
import { createRemoteRouter } from "@streamcmd/transport-connect";
import { createNatsNode } from "@streamcmd/transport-nats";
import { logLevels, messageOf, onShutdownSignal, parseCount } from "./cli-options.js";
import { readCa, readToken } from "./credentials.js";
import { insecureWarning } from "./defaults.js";
import { startFleet } from "./fleet.js";
import { createLogger } from "./logger.js";
import { startNatsServer } from "@streamcmd/testing";
import { tourSteps } from "./tour.js";

const options = new Command("demo:cluster")
  .description("streamcmd cluster demo: a NATS server, three bot-server nodes, a fleet spread across them and a tour")
  .option("--bots <n>", "how many simulated bots", parseCount, 6)
  .option("--data <dir>", "data folder: the shared credentials and one SQLite file per node", "./data-cluster")
  .option("--insecure", "plaintext and no credentials (experiments on loopback only)")
  .option("--exit-after-tour", "exit after the tour: status 0 if every step succeeded, 1 otherwise")
  .addOption(new Option("--log-level <level>", "log level of the nodes and the fleet (JSON on stderr)").choices(logLevels).default("warn"))
  .parse()
  .opts<{ bots: number; data: string; insecure?: boolean; exitAfterTour?: boolean; logLevel: string }>();

if (options.insecure) process.stderr.write(`${insecureWarning}\n`);
mkdirSync(options.data, { recursive: true });
// A hung node's connection (and its subscriptions) is dropped after two unanswered pings, two seconds apart.
const nats = await startNatsServer({ config: 'ping_interval: "2s"\nping_max: 2\n' }).catch((error: unknown) => {
  process.stderr.write(`demo:cluster: ${messageOf(error)}; the single-node demo (./dev demo) needs no NATS\n`);
  process.exit(2);
});
const children: ChildProcess[] = [nats.process];

/** One node: the demo server in its own process, joined to the cluster. */
async function startNode(nodeId: string): Promise<{ nodeId: string; url: string; child: ChildProcess }> {
  const script = fileURLToPath(new URL("./server-main.js", import.meta.url));
  const args = ["--port", "0", "--db", join(options.data, `${nodeId}.db`), "--nats", nats.url, "--node-id", nodeId, "--log-level", options.logLevel];
  const child = spawn(process.execPath, [script, ...args, ...(options.insecure ? ["--insecure"] : [])], { stdio: ["ignore", "pipe", "inherit"] });
  children.push(child);
  const [line] = (await once(child.stdout!.setEncoding("utf8"), "data")) as [string];
  const url = /bot server on (\S+)/.exec(line)?.[1];
  if (url === undefined) throw new Error(`node ${nodeId} did not start: ${line}`);
  return { nodeId, url, child };
}

const logger = createLogger(options.logLevel, "demo:cluster");
// One at a time: the first creates the shared credentials (CA, signing key, tokens) the others use.
const nodes = [];
for (const nodeId of ["node-a", "node-b", "node-c"]) nodes.push(await startNode(nodeId));
const [a, , c] = nodes as [(typeof nodes)[0], (typeof nodes)[0], (typeof nodes)[0]];
const botIds = Array.from({ length: options.bots }, (_, i) => `bot-${i + 1}`);
// The fleet logs errors only at the default level: the tour itself shows the bots moving.
const fleetLogger = options.logLevel === "warn" ? createLogger("error", "fleet") : logger;
const fleet = startFleet({ url: nodes.map((node) => node.url), dataDir: options.data, botIds, logger: fleetLogger, timing: { startMs: 100 } });
// The tour looks at the cluster as any process on the bus can (presence with nodes) …
const bus = await connect({ servers: nats.url });
const observer = await createNatsNode({ nats: bus, nodeId: "tour" });
// … and commands bots as an operator's tool would: through node A's router, with a caller token.
const credentials = options.insecure ? {} : { tls: { ca: readCa(options.data) }, token: readToken(options.data, "botctl-admin") };
const router = createRemoteRouter({ baseUrl: a.url, ...credentials });

let exitCode = 130;
const shutdown = async (): Promise<void> => {
  await fleet.close();
  await router.close();
  await observer.close();
  await bus.close();
  for (const child of children.reverse()) child.kill("SIGTERM");
};
onShutdownSignal(shutdown, () => exitCode);

const print = (line: string) => console.log(line);
const { step, steps } = tourSteps(print);
const where = async () => new Map((await observer.listClients(botService)).map((client) => [client.clientId, client.nodeId]));
const until = async <T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> => {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = await probe().catch(() => undefined);
    if (found !== undefined) return found;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs / 1000} s`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
};

print(`streamcmd cluster tour — NATS on ${nats.url}, nodes ${nodes.map((node) => `${node.nodeId} ${node.url}`).join(", ")}, ${botIds.length} bots`);
await step("three nodes on the bus", async () => [...(await until("three nodes", async () => (observer.nodes().size >= 3 ? observer.nodes() : undefined))).keys()].sort().join(", "));
await step("every bot connected somewhere", async () => {
  const held = await until("all bots listed", async () => ((await where()).size === botIds.length ? where() : undefined));
  return botIds.map((id) => `${id}@${held.get(id)}`).join(", ");
});
const onC = [...(await where()).entries()].filter(([, nodeId]) => nodeId === "node-c").map(([id]) => id);
const target = onC[0] ?? botIds[0]!;
await step(`from node-a: start ${target} (on node-c)`, async () => {
  const reply = await createBotClient({ clientId: target, router, defaultTimeoutMs: 10_000 }).start({ reason: "cluster tour" });
  return reply.detail;
});
await step("presence from node-a's router", async () => `${(await router.listClients(botService)).length} bots listed across the cluster`);
await step("kill -9 node-c", async () => {
  c.child.kill("SIGKILL");
  await once(c.child, "exit");
  return `its bots: ${onC.join(", ") || "none"}`;
});
await step("node-c's bots reconnect to the others", async () => {
  const held = await until("bots moved", async () => {
    const now = await where();
    return now.size === botIds.length && [...now.values()].every((nodeId) => nodeId !== "node-c") ? now : undefined;
  });
  return onC.map((id) => `${id}@${held.get(id)}`).join(", ") || "none had to move";
});
await step(`from node-a: ping ${target} again`, async () => {
  const reply = await until("a reply", () => createBotClient({ clientId: target, router, defaultTimeoutMs: 5_000 }).ping({}));
  return `status ${reply.status}, version ${reply.version}`;
});
const failed = steps.filter((s) => !s.ok).length;
print(failed === 0 ? "cluster tour complete: every step succeeded" : `cluster tour complete: ${failed} step(s) failed`);
exitCode = failed === 0 ? 0 : 1;
if (options.exitAfterTour) {
  await shutdown();
  process.exit(exitCode);
}
console.log(`still serving; try: ./dev botctl --url ${a.url} --db ${join(options.data, "node-a.db")} list   (Ctrl-C stops the demo)`);
