// Scenario 5 of `./dev bench`: three server nodes on NATS. Cross-node round trip and throughput
// (caller on node A, bots on node B), and what three nodes carry together.
import { connect } from "@nats-io/transport-node";
import { startNatsServer } from "@streamcmd/testing";
import { summarize, type LatencySummary, type ThroughputSummary } from "./measure.js";
import type { Worker } from "./ipc.js";
import { withCpu, type CpuCost } from "./machine-cpu.js";

export interface ClusterResults {
  /** The floor: a bare NATS request-reply echo between two connections, same payload size. */
  natsEcho: LatencySummary;
  roundTrip: LatencySummary;
  throughput: ThroughputSummary;
  /** Commands/s of all three nodes at once, each sending to bots all over the cluster. */
  threeNodesPerSecond: number;
  /** What the whole machine spent while the three nodes ran (Linux only). */
  threeNodesCpu?: CpuCost;
  bots: number;
}

type StartWorker = (role: string, args?: Record<string, unknown>) => Promise<{ worker: Worker; info: Record<string, unknown> }>;

export async function clusterBench(
  settings: { warmup: number; iterations: number; throughputClients: number; throughputMs: number },
  worker: StartWorker,
  log: (line: string) => void,
): Promise<ClusterResults | { skipped: string }> {
  let nats;
  try {
    nats = await startNatsServer();
  } catch (error) {
    return { skipped: error instanceof Error ? error.message : String(error) };
  }
  try {
    const nodes = [];
    for (const nodeId of ["node-a", "node-b", "node-c"]) nodes.push(await worker("cluster-node", { natsUrl: nats.url, nodeId }));
    const [a, b, c] = nodes as [(typeof nodes)[0], (typeof nodes)[0], (typeof nodes)[0]];
    // One bot on node B for the round trip, then bots on B for cross-node throughput.
    await worker("streamcmd-bots", { url: b.info["url"], count: 1, prefix: "xl-" });
    const perNode = Math.max(1, Math.floor(settings.throughputClients / 3));
    for (const [i, node] of nodes.entries()) await worker("streamcmd-bots", { url: node.info["url"], count: perNode, prefix: `x${i}-` });
    await a.worker.call("waitCluster", { count: 1 + perNode * 3 });

    log("5. cluster: round trip, caller on node A, bot on node B");
    await a.worker.call("latency", { targets: ["xl-0"], iterations: settings.warmup });
    const samples = (await a.worker.call("latency", { targets: ["xl-0"], iterations: settings.iterations / 2 })) as number[];
    const onB = Array.from({ length: perNode }, (_, i) => `x1-${i}`);
    log("5. cluster: throughput, caller on node A, bots on node B, 64 in flight");
    await a.worker.call("throughput", { targets: onB, inflight: 64, durationMs: 500 });
    const throughput = await withCpu(() => a.worker.call<ThroughputSummary>("throughput", { targets: onB, inflight: 64, durationMs: settings.throughputMs / 2 }));
    log("5. cluster: three nodes at once, each sending to bots on every node, 64 in flight each");
    const everywhere = [0, 1, 2].flatMap((n) => Array.from({ length: perNode }, (_, i) => `x${n}-${i}`));
    const three = await withCpu(async () => {
      const runs = await Promise.all([a, b, c].map((node) => node.worker.call<ThroughputSummary>("throughput", { targets: everywhere, inflight: 64, durationMs: settings.throughputMs / 2 })));
      return { commands: runs.reduce((sum, run) => sum + run.commands, 0), seconds: Math.max(...runs.map((run) => run.seconds)), perSecond: runs.reduce((sum, run) => sum + run.perSecond, 0) };
    });
    const threeNodes = { threeNodesPerSecond: three.perSecond, ...(three.cpu === undefined ? {} : { threeNodesCpu: three.cpu }) };
    return { natsEcho: await natsEcho(nats.url, settings.iterations / 2), roundTrip: summarize(samples), throughput, ...threeNodes, bots: perNode * 3 };
  } finally {
    await nats.stop();
  }
}

/** Round trips of a bare NATS request-reply echo (what any design over NATS pays per call). */
async function natsEcho(url: string, iterations: number): Promise<LatencySummary> {
  const [caller, responder] = [await connect({ servers: url }), await connect({ servers: url })];
  try {
    responder.subscribe("bench.echo", { callback: (_err, msg) => void msg.respond(msg.data) });
    await responder.flush();
    const payload = new Uint8Array(110);
    const samples: number[] = [];
    for (let i = 0; i < iterations + 300; i++) {
      const started = performance.now();
      await caller.request("bench.echo", payload, { timeout: 5_000 });
      if (i >= 300) samples.push(performance.now() - started);
    }
    return summarize(samples);
  } finally {
    await caller.close();
    await responder.close();
  }
}
