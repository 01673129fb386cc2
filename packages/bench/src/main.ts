#!/usr/bin/env node
// `pnpm bench` (full) / `pnpm bench --quick` (under a minute): streamcmd against raw Connect,
// (`pnpm bench soak` runs the leak check of soak.ts instead)
// @grpc/grpc-js and Socket.IO. Every contender's client and server run in separate processes.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { delay } from "@streamcmd/core/internal";
import { startWorker, type Worker } from "./ipc.js";
import { summarize, type LatencySummary, type ThroughputSummary } from "./measure.js";
import { payloadSizes } from "./payload.js";
import { clusterBench, type ClusterResults } from "./cluster-bench.js";

const quick = process.argv.includes("--quick");
const settings = quick
  ? { warmup: 300, iterations: 1_800, rounds: 6, throughputClients: 200, throughputMs: 3_000, scaleClients: 1_000 }
  : { warmup: 2_000, iterations: 12_000, rounds: 6, throughputClients: 1_000, throughputMs: 10_000, scaleClients: 10_000 };
const packageDir = join(dirname(fileURLToPath(import.meta.url)), "..");
const workers: Worker[] = [];

async function worker(role: string, args: Record<string, unknown> = {}): Promise<{ worker: Worker; info: Record<string, unknown> }> {
  const started = await startWorker(role, args);
  workers.push(started.worker);
  return started;
}

const labels = {
  a: "streamcmd same-process",
  b: "streamcmd cross-process",
  c: "raw Connect bidi ping-pong",
  d: "raw Connect unary + bidi",
  e: "@grpc/grpc-js bidi ping-pong",
  f: "Socket.IO emitWithAck",
  g: "Connect server × grpc-js bots",
  h: "grpc-js server × Connect bots",
} as const;
/** Crossed contenders (g, h) talk to their own bots, the other library's. */
const botPrefix = (c: Contender): string => (c === "g" ? "g" : c === "h" ? "h" : "");
type Contender = keyof typeof labels;

function log(line: string): void {
  process.stderr.write(`${line}\n`);
}

async function main(): Promise<void> {
  const startedAt = new Date();
  log(`streamcmd bench (${quick ? "quick" : "full"}): ${JSON.stringify(settings)}`);

  // Servers, and one bot each for the latency scenario.
  const streamcmd = await worker("streamcmd-server");
  const connect = await worker("connect-server");
  const grpcjs = await worker("grpcjs-server");
  const socketio = await worker("socketio-server");
  await worker("streamcmd-bots", { url: streamcmd.info["url"], count: 1, prefix: "lat-" });
  await worker("connect-bots", { url: connect.info["url"], count: 1, prefix: "lat-" });
  await worker("grpcjs-bots", { url: grpcjs.info["url"], count: 1, prefix: "lat-" });
  await worker("socketio-bots", { url: socketio.info["url"], count: 1, prefix: "lat-" });
  // Crossed: which side of a bidi stream costs what (issue 13's "measure first").
  const bare = (url: unknown) => String(url).replace(/^https?:\/\//, "");
  await worker("grpcjs-bots", { url: bare(connect.info["url"]), count: 1, prefix: "glat-" });
  await worker("connect-bots", { url: `http://${bare(grpcjs.info["url"])}`, count: 1, prefix: "hlat-" });
  const streamcmdCaller = await worker("streamcmd-caller", { url: streamcmd.info["url"] });
  const connectCaller = await worker("connect-caller", { url: connect.info["url"] });
  await streamcmd.worker.call("waitClients", { count: 1 });
  for (const [w, count] of [[connect, 2], [grpcjs, 2], [socketio, 1]] as const) {
    while (((await w.worker.call("clients")) as number) < count) await delay(20);
  }

  const initiators: Record<Contender, Worker> = {
    a: streamcmd.worker,
    b: streamcmdCaller.worker,
    c: connect.worker,
    d: connectCaller.worker,
    e: grpcjs.worker,
    f: socketio.worker,
    g: connect.worker,
    h: grpcjs.worker,
  };

  // 1. Round trip, one client, one command at a time; contenders interleaved round by round.
  log("1. round trip: warm-up");
  for (const contender of Object.keys(labels) as Contender[]) {
    await initiators[contender].call("latency", { targets: [`${botPrefix(contender)}lat-0`], iterations: settings.warmup });
  }
  const samples = Object.fromEntries(Object.keys(labels).map((c) => [c, [] as number[]])) as Record<Contender, number[]>;
  const order = Object.keys(labels) as Contender[];
  for (let round = 0; round < settings.rounds; round++) {
    log(`1. round trip: round ${round + 1}/${settings.rounds}`);
    // Each round starts with a different contender, and each slice re-warms its processes (the
    // first round trips after idling are slow) before it is measured, so no one pays for going first.
    for (let k = 0; k < order.length; k++) {
      const contender = order[(round + k) % order.length] as Contender;
      const target = [`${botPrefix(contender)}lat-0`];
      await initiators[contender].call("latency", { targets: target, iterations: 200 });
      const slice = (await initiators[contender].call("latency", { targets: target, iterations: settings.iterations / settings.rounds })) as number[];
      samples[contender].push(...slice);
    }
  }
  const roundTrip = Object.fromEntries((Object.keys(labels) as Contender[]).map((c) => [c, summarize(samples[c])])) as Record<Contender, LatencySummary>;

  // 2. Throughput: many connected clients, 64 commands in flight.
  log(`2. throughput: connecting ${settings.throughputClients} clients per contender`);
  const clientsArgs = (info: Record<string, unknown>) => ({ url: info["url"], count: settings.throughputClients, prefix: "tp-" });
  await worker("streamcmd-bots", clientsArgs(streamcmd.info));
  await worker("connect-bots", clientsArgs(connect.info));
  await worker("grpcjs-bots", clientsArgs(grpcjs.info));
  await worker("socketio-bots", clientsArgs(socketio.info));
  await worker("grpcjs-bots", { ...clientsArgs(connect.info), url: bare(connect.info["url"]), prefix: "gtp-" });
  await worker("connect-bots", { ...clientsArgs(grpcjs.info), url: `http://${bare(grpcjs.info["url"])}`, prefix: "htp-" });
  await streamcmd.worker.call("waitClients", { count: settings.throughputClients + 1 });
  for (const [w, count] of [[connect, 2], [grpcjs, 2], [socketio, 1]] as const) {
    while (((await w.worker.call("clients")) as number) < count * (settings.throughputClients + 1)) await delay(50);
  }
  const targetsOf = (c: Contender) => Array.from({ length: settings.throughputClients }, (_, i) => `${botPrefix(c)}tp-${i}`);
  // c and d are the floors under a and b: the same traffic on bare Connect.
  const throughputContenders: Contender[] = ["a", "b", "c", "d", "e", "f", "g", "h"];
  const tpRuns: Record<string, ThroughputSummary[]> = {};
  for (const contender of throughputContenders) {
    await initiators[contender].call("throughput", { targets: targetsOf(contender), inflight: 64, durationMs: 500 }); // warm-up
  }
  for (let round = 0; round < 2; round++) {
    for (const contender of throughputContenders) {
      log(`2. throughput: ${labels[contender]} (round ${round + 1}/2)`);
      const result = (await initiators[contender].call("throughput", { targets: targetsOf(contender), inflight: 64, durationMs: settings.throughputMs / 2 })) as ThroughputSummary;
      (tpRuns[contender] ??= []).push(result);
    }
  }
  const throughput = Object.fromEntries(
    throughputContenders.map((c) => {
      const runs = tpRuns[c] ?? [];
      const commands = runs.reduce((sum, r) => sum + r.commands, 0);
      const seconds = runs.reduce((sum, r) => sum + r.seconds, 0);
      return [c, { commands, seconds, perSecond: commands / seconds, p50: Math.max(...runs.map((r) => r.p50)), p99: Math.max(...runs.map((r) => r.p99)) }];
    }),
  ) as Record<string, ThroughputSummary>;
  for (const w of workers.splice(0)) await w.stop();

  // 3. Scale: N clients on one server, each on its own connection.
  log(`3. scale: ${settings.scaleClients} streamcmd clients, each on its own HTTP/2 connection`);
  const scaleServer = await worker("streamcmd-server");
  const before = (await scaleServer.worker.call("memory")) as { rss: number; heapUsed: number };
  const bots = await worker("streamcmd-bots", { url: scaleServer.info["url"], count: settings.scaleClients, prefix: "s-" });
  await scaleServer.worker.call("waitClients", { count: settings.scaleClients, timeoutMs: 300_000 });
  const after = (await scaleServer.worker.call("memory")) as { rss: number; heapUsed: number };
  const broadcast = (await scaleServer.worker.call("broadcast")) as { ms: number; ok: number; failed: number };
  for (const w of workers.splice(0)) await w.stop();
  const hubOnly = await worker("hub-memory", { count: settings.scaleClients });
  for (const w of workers.splice(0)) await w.stop();
  const scale = {
    clients: settings.scaleClients,
    connectAllMs: Number(bots.info["connectMs"]),
    serverRssPerClientBytes: (after.rss - before.rss) / settings.scaleClients,
    serverHeapPerClientBytes: (after.heapUsed - before.heapUsed) / settings.scaleClients,
    libraryHeapPerClientBytes: Number(hubOnly.info["heapPerClient"]),
    broadcastMs: broadcast.ms,
    broadcastOk: broadcast.ok,
    broadcastFailed: broadcast.failed,
  };

  // 5. A cluster of three nodes on NATS (skipped, saying why, where no nats-server can be found).
  const cluster = await clusterBench(settings, worker, log);
  for (const w of workers.splice(0)) await w.stop();

  const p50 = (c: Contender) => roundTrip[c].p50;
  const ratios = {
    "a / c": p50("a") / p50("c"),
    "b / d": p50("b") / p50("d"),
    "a / e": p50("a") / p50("e"),
    "a / f": p50("a") / p50("f"),
    "b / f": p50("b") / p50("f"),
    "b / c": p50("b") / p50("c"),
  };
  const perSecond = (c: Contender) => throughput[c]?.perSecond ?? Number.NaN;
  const throughputRatios = { "a / c": perSecond("a") / perSecond("c"), "b / d": perSecond("b") / perSecond("d"), "b / a": perSecond("b") / perSecond("a") };
  const results = {
    mode: quick ? "quick" : "full",
    date: startedAt.toISOString(),
    machine: { cpu: cpus()[0]?.model ?? "?", cores: cpus().length, memoryGiB: Math.round(totalmem() / 2 ** 30) },
    node: process.version,
    settings,
    payloadBytes: payloadSizes(),
    roundTrip: Object.fromEntries((Object.keys(labels) as Contender[]).map((c) => [c, { label: labels[c], ...roundTrip[c] }])),
    throughput: Object.fromEntries(Object.entries(throughput).map(([c, t]) => [c, { label: labels[c as Contender], ...t }])),
    scale,
    ratios,
    throughputRatios,
    cluster,
  };
  const report = render(results);
  console.log(report);
  mkdirSync(join(packageDir, "results"), { recursive: true });
  writeFileSync(join(packageDir, "results", "latest.json"), `${JSON.stringify(results, null, 2)}\n`);
  if (!quick) {
    const file = join(packageDir, "RESULTS.md");
    // The soak's section (written by `./dev bench soak`) stays.
    const previous = existsSync(file) ? readFileSync(file, "utf8") : "";
    const soak = previous.includes("\n## Soak") ? previous.slice(previous.indexOf("\n## Soak")) : "";
    writeFileSync(
      file,
      `# Benchmark results\n\nThe latest full run of \`./dev bench\` (${results.date}), on ${results.machine.cpu}, ${results.machine.cores} cores, ${results.machine.memoryGiB} GiB, Node ${results.node}. Written by the bench itself; the raw numbers are in \`results/latest.json\`.\n\n\`\`\`\n${report}\n\`\`\`\n${soak}`,
    );
  }
}

const ms = (x: number) => x.toFixed(3).padStart(9);

function render(r: {
  roundTrip: Record<string, { label: string } & LatencySummary>;
  throughput: Record<string, { label: string } & ThroughputSummary>;
  scale: Record<string, number>;
  ratios: Record<string, number>;
  throughputRatios: Record<string, number>;
  payloadBytes: { command: number; reply: number };
  cluster: ClusterResults | { skipped: string };
}): string {
  const lines: string[] = [];
  lines.push(`payload: command ${r.payloadBytes.command} B, reply ${r.payloadBytes.reply} B (protobuf); Socket.IO sends the same fields as JSON`);
  lines.push("");
  lines.push("1. round trip, one client, one command at a time (ms)");
  lines.push(`   ${"contender".padEnd(34)} ${"p50".padStart(9)} ${"p99".padStart(9)} ${"mean".padStart(9)} ${"n".padStart(7)}`);
  for (const [key, s] of Object.entries(r.roundTrip)) {
    lines.push(`${key}. ${s.label.padEnd(34)} ${ms(s.p50)} ${ms(s.p99)} ${ms(s.mean)} ${String(s.n).padStart(7)}`);
  }
  lines.push("");
  lines.push("2. throughput, 64 commands in flight over the connected clients (c, d: the bare-Connect floors under a, b)");
  lines.push(`   ${"contender".padEnd(34)} ${"commands/s".padStart(11)} ${"p50 ms".padStart(9)} ${"p99 ms".padStart(9)}`);
  for (const [key, t] of Object.entries(r.throughput)) {
    lines.push(`${key}. ${t.label.padEnd(34)} ${Math.round(t.perSecond).toString().padStart(11)} ${ms(t.p50)} ${ms(t.p99)}`);
  }
  lines.push("");
  const s = r.scale;
  lines.push(`3. scale: ${s["clients"]} streamcmd clients on one server, each on its own HTTP/2 connection`);
  lines.push(`   connect all: ${Math.round(s["connectAllMs"] ?? 0)} ms`);
  lines.push(`   server memory per client: ${fmtBytes(s["serverRssPerClientBytes"])} RSS, ${fmtBytes(s["serverHeapPerClientBytes"])} JS heap (HTTP/2 session + Connect + hub)`);
  lines.push(`   library (hub) memory per client: ${fmtBytes(s["libraryHeapPerClientBytes"])} JS heap (hub with in-memory streams, no sockets)`);
  lines.push(`   one broadcast to all: ${Math.round(s["broadcastMs"] ?? 0)} ms (${s["broadcastOk"]} ok, ${s["broadcastFailed"]} failed)`);
  lines.push("");
  lines.push("4. ratios of p50 round trips (targets: a/c ≤ 1.15, b/c ≤ 2.5, a/e < 1, a/f < 1, b/f < 1)");
  for (const [name, value] of Object.entries(r.ratios)) lines.push(`   ${name.padEnd(6)} ${value.toFixed(2)}`);
  lines.push("   throughput ratios (commands/s):");
  for (const [name, value] of Object.entries(r.throughputRatios)) lines.push(`   ${name.padEnd(6)} ${value.toFixed(2)}`);
  lines.push("");
  lines.push(...renderCluster(r.cluster, r.roundTrip["b"], r.throughput["a"]));
  return lines.join("\n");
}

/** Section 5, beside the single-node numbers it is judged against. */
function renderCluster(cluster: ClusterResults | { skipped: string }, b: LatencySummary | undefined, a: ThroughputSummary | undefined): string[] {
  if ("skipped" in cluster) return [`5. cluster on NATS: skipped (${cluster.skipped})`];
  const verdict = (pass: boolean) => (pass ? "PASS" : "MISS");
  const hopMs = cluster.roundTrip.p50 - (b?.p50 ?? Number.NaN);
  const one = a?.perSecond ?? Number.NaN;
  return [
    `5. cluster on NATS, three nodes (${cluster.bots} bots spread across them)`,
    `   cross-node round trip (caller on A, bot on B): p50 ${ms(cluster.roundTrip.p50)} ms, p99 ${ms(cluster.roundTrip.p99)} ms`,
    `   same-node cross-process (b):                    p50 ${ms(b?.p50 ?? Number.NaN)} ms, p99 ${ms(b?.p99 ?? Number.NaN)} ms`,
    `   bare NATS request-reply echo (the floor):     p50 ${ms(cluster.natsEcho.p50)} ms, p99 ${ms(cluster.natsEcho.p99)} ms`,
    `   the NATS hop adds ${(hopMs * 1000).toFixed(0)} µs p50 (target ≤ 150 µs): ${verdict(hopMs <= 0.15)}`,
    `   cross-node, 64 in flight: ${cluster.throughput.perSecond.toFixed(0)} commands/s (p50 ${ms(cluster.throughput.p50)} ms, p99 ${ms(cluster.throughput.p99)} ms)`,
    `   three nodes at once, bots anywhere: ${cluster.threeNodesPerSecond.toFixed(0)} commands/s vs one node (a) ${one.toFixed(0)}: ${verdict(cluster.threeNodesPerSecond > one)}`,
  ];
}

function fmtBytes(bytes: number | undefined): string {
  return bytes === undefined ? "?" : `${(bytes / 1024).toFixed(1)} KiB`;
}

// `./dev bench soak`: the long leak check instead of the comparison; `./dev bench profile X`: CPU profiles of contender X.
const profiled = process.argv.indexOf("profile");
const run = process.argv.includes("soak")
  ? import("./soak.js").then(async ({ runSoak }) => {
      if (!(await runSoak())) process.exitCode = 1;
    })
  : profiled >= 0
    ? import("./profile.js").then(async ({ runProfile }) => {
        if (!(await runProfile(process.argv[profiled + 1] ?? "a"))) process.exitCode = 1;
      })
    : main();
run
  .catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  })
  .finally(async () => {
    for (const w of workers) await w.stop();
  });
