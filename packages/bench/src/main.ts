#!/usr/bin/env node
// `pnpm bench` (full) / `pnpm bench --quick` (under a minute): streamcmd against raw Connect,
// @grpc/grpc-js and Socket.IO, and against the floors under it (c under a, j under b), each
// judged on issue 13's targets. Every contender's client and server run in separate processes.
// (`pnpm bench soak` runs the leak check of soak.ts instead.)
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { delay } from "@streamcmd/core/internal";
import { startWorker, type Worker } from "./ipc.js";
import { combineRuns, summarize, type LatencySummary, type ThroughputSummary } from "./measure.js";
import { withCpu } from "./machine-cpu.js";
import { payloadSizes } from "./payload.js";
import { clusterBench } from "./cluster-bench.js";
import { render } from "./report.js";
import { scaleBench } from "./scale-bench.js";
import { judgeTargets } from "./targets.js";

const quick = process.argv.includes("--quick");
// Quick: two 1 s throughput windows per contender (one for d and i, see `light`): the whole run stays under a minute.
const settings = quick
  ? { warmup: 300, iterations: 1_800, rounds: 6, throughputClients: 200, throughputMs: 2_000, throughputWarmupMs: 300, scaleClients: 1_000 }
  : { warmup: 2_000, iterations: 12_000, rounds: 6, throughputClients: 1_000, throughputMs: 10_000, throughputWarmupMs: 500, scaleClients: 10_000 };
const packageDir = join(dirname(fileURLToPath(import.meta.url)), "..");
const workers: Worker[] = [];

async function worker(role: string, args: Record<string, unknown> = {}): Promise<{ worker: Worker; info: Record<string, unknown> }> {
  const started = await startWorker(role, args);
  workers.push(started.worker);
  return started;
}

async function stopAll(): Promise<void> {
  await Promise.all(workers.splice(0).map((w) => w.stop()));
}

const labels = {
  a: "streamcmd same-process",
  b: "streamcmd cross-process",
  c: "raw Connect bidi ping-pong",
  d: "naive Connect unary relay (bench-made, not a floor)",
  e: "@grpc/grpc-js bidi ping-pong",
  f: "Socket.IO emitWithAck",
  g: "Connect server × grpc-js bots",
  h: "grpc-js server × Connect bots",
  i: "streamcmd cross-process, executeVia unary",
  j: "bare HTTP/2 relay on one stream (floor under b)",
} as const;
/** Crossed contenders (g, h) talk to their own bots, the other library's. */
const botPrefix = (c: Contender): string => (c === "g" ? "g" : c === "h" ? "h" : "");
type Contender = keyof typeof labels;
const contenders = Object.keys(labels) as Contender[];
/**
 * The quick run measures the two unary designs lighter: half the round trips, one throughput window.
 * They are informational (no target names them) and the slowest (~1 ms a round trip).
 */
const light = (c: Contender): boolean => quick && (c === "d" || c === "i");

function log(line: string): void {
  process.stderr.write(`${line}\n`);
}

/** Resolves once the server in `w` holds `count` clients. */
async function waitClients(w: Worker, count: number): Promise<void> {
  while (((await w.call("clients")) as number) < count) await delay(20);
}

async function main(): Promise<void> {
  const startedAt = new Date();
  log(`streamcmd bench (${quick ? "quick" : "full"}): ${JSON.stringify(settings)}`);

  // Servers, then one bot each for the latency scenario, then the cross-process callers; side by side.
  const [streamcmd, connect, grpcjs, socketio, floor] = await Promise.all([
    worker("streamcmd-server"),
    worker("connect-server"),
    worker("grpcjs-server"),
    worker("socketio-server"),
    worker("floor-server"),
  ]);
  const bare = (url: unknown) => String(url).replace(/^https?:\/\//, "");
  /** Every server's bots; g, h: crossed, which side of a bidi stream costs what (issue 13's "measure first"). */
  const fleets = (count: number, prefix: string): [string, Record<string, unknown>][] => [
    ["streamcmd-bots", { url: streamcmd.info["url"], count, prefix }],
    ["connect-bots", { url: connect.info["url"], count, prefix }],
    ["grpcjs-bots", { url: grpcjs.info["url"], count, prefix }],
    ["socketio-bots", { url: socketio.info["url"], count, prefix }],
    ["floor-bots", { url: floor.info["url"], count, prefix }],
    ["grpcjs-bots", { url: bare(connect.info["url"]), count, prefix: `g${prefix}` }],
    ["connect-bots", { url: `http://${bare(grpcjs.info["url"])}`, count, prefix: `h${prefix}` }],
  ];
  /** Each server and how many fleets connect to it. */
  const fleetsOn: [Worker, number][] = [[streamcmd.worker, 1], [connect.worker, 2], [grpcjs.worker, 2], [socketio.worker, 1], [floor.worker, 1]];
  await Promise.all(fleets(1, "lat-").map(([role, args]) => worker(role, args)));
  const [streamcmdCaller, unaryCaller, connectCaller, floorCaller] = await Promise.all([
    worker("streamcmd-caller", { url: streamcmd.info["url"] }),
    worker("streamcmd-caller", { url: streamcmd.info["url"], executeVia: "unary" }),
    worker("connect-caller", { url: connect.info["url"] }),
    worker("floor-caller", { url: floor.info["url"] }),
  ]);
  await Promise.all(fleetsOn.map(([w, n]) => waitClients(w, n)));

  const initiators: Record<Contender, Worker> = {
    a: streamcmd.worker,
    b: streamcmdCaller.worker,
    c: connect.worker,
    d: connectCaller.worker,
    e: grpcjs.worker,
    f: socketio.worker,
    g: connect.worker,
    h: grpcjs.worker,
    i: unaryCaller.worker,
    j: floorCaller.worker,
  };

  // 1. Round trip, one client, one command at a time; contenders interleaved round by round.
  log("1. round trip: warm-up");
  for (const contender of contenders) {
    await initiators[contender].call("latency", { targets: [`${botPrefix(contender)}lat-0`], iterations: settings.warmup });
  }
  const samples = Object.fromEntries(contenders.map((c) => [c, [] as number[]])) as Record<Contender, number[]>;
  for (let round = 0; round < settings.rounds; round++) {
    log(`1. round trip: round ${round + 1}/${settings.rounds}`);
    // Each round starts with a different contender, and each slice re-warms its processes (the
    // first round trips after idling are slow) before it is measured, so no one pays for going first.
    for (let k = 0; k < contenders.length; k++) {
      const contender = contenders[(round + k) % contenders.length] as Contender;
      const target = [`${botPrefix(contender)}lat-0`];
      const share = light(contender) ? 0.5 : 1;
      await initiators[contender].call("latency", { targets: target, iterations: 200 * share });
      const slice = (await initiators[contender].call("latency", { targets: target, iterations: (settings.iterations / settings.rounds) * share })) as number[];
      samples[contender].push(...slice);
    }
  }
  const roundTrip = Object.fromEntries(contenders.map((c) => [c, summarize(samples[c])])) as Record<Contender, LatencySummary>;

  // 2. Throughput: many connected clients, 64 commands in flight.
  log(`2. throughput: connecting ${settings.throughputClients} clients per contender`);
  await Promise.all(fleets(settings.throughputClients, "tp-").map(([role, args]) => worker(role, args)));
  await Promise.all(fleetsOn.map(([w, n]) => waitClients(w, n * (settings.throughputClients + 1))));
  const targetsOf = (c: Contender) => Array.from({ length: settings.throughputClients }, (_, i) => `${botPrefix(c)}tp-${i}`);
  const tpRuns: Record<string, ThroughputSummary[]> = {};
  for (const contender of contenders) {
    await initiators[contender].call("throughput", { targets: targetsOf(contender), inflight: 64, durationMs: settings.throughputWarmupMs });
  }
  for (let round = 0; round < 2; round++) {
    for (const contender of contenders.filter((c) => round === 0 || !light(c))) {
      log(`2. throughput: ${labels[contender]} (round ${round + 1}/2)`);
      const window = () => initiators[contender].call<ThroughputSummary>("throughput", { targets: targetsOf(contender), inflight: 64, durationMs: settings.throughputMs / 2 });
      (tpRuns[contender] ??= []).push(await withCpu(window));
    }
  }
  const throughput = Object.fromEntries(contenders.map((c) => [c, combineRuns(tpRuns[c] ?? [])])) as Record<Contender, ThroughputSummary>;
  await stopAll();

  // 3. Scale: N clients on one server, each on its own connection; streamcmd, grpc-js, Socket.IO.
  const scale = await scaleBench(settings.scaleClients, worker, stopAll, log);

  // 5. A cluster of three nodes on NATS (skipped, saying why, where no nats-server can be found).
  const cluster = await clusterBench(settings, worker, log);
  await stopAll();

  const p50 = (c: Contender) => roundTrip[c].p50;
  const ratios = { "a / c": p50("a") / p50("c"), "a / e": p50("a") / p50("e"), "a / f": p50("a") / p50("f"), "b / f": p50("b") / p50("f"), "b / c": p50("b") / p50("c"), "b / j": p50("b") / p50("j") };
  const perSecond = (c: Contender) => throughput[c].perSecond;
  const throughputRatios = { "a / c": perSecond("a") / perSecond("c"), "b / j": perSecond("b") / perSecond("j"), "b / a": perSecond("b") / perSecond("a") };
  const informationalRatios = { "p50 b / d": p50("b") / p50("d"), "p50 b / i": p50("b") / p50("i"), "commands/s b / d": perSecond("b") / perSecond("d"), "commands/s b / i": perSecond("b") / perSecond("i") };
  const results = {
    mode: quick ? "quick" : "full",
    date: startedAt.toISOString(),
    machine: { cpu: cpus()[0]?.model ?? "?", cores: cpus().length, memoryGiB: Math.round(totalmem() / 2 ** 30) },
    node: process.version,
    settings,
    payloadBytes: payloadSizes(),
    roundTrip: Object.fromEntries(contenders.map((c) => [c, { label: labels[c], ...roundTrip[c] }])),
    throughput: Object.fromEntries(contenders.map((c) => [c, { label: labels[c], ...throughput[c] }])),
    scale,
    ratios,
    throughputRatios,
    informationalRatios,
    cluster,
    targets: judgeTargets({ roundTrip, throughput, scale, cluster }),
  };
  const report = render(results);
  console.log(report);
  mkdirSync(join(packageDir, "results"), { recursive: true });
  writeFileSync(join(packageDir, "results", "latest.json"), `${JSON.stringify(results, null, 2)}\n`);
  if (!quick) {
    const file = join(packageDir, "RESULTS.md");
    // The sections after the numbers (the analysis, written by hand; the soak's, by `./dev bench soak`) stay.
    const previous = existsSync(file) ? readFileSync(file, "utf8") : "";
    const soak = previous.includes("\n## ") ? previous.slice(previous.indexOf("\n## ")) : "";
    writeFileSync(
      file,
      `# Benchmark results\n\nThe latest full run of \`./dev bench\` (${results.date}), on ${results.machine.cpu}, ${results.machine.cores} cores, ${results.machine.memoryGiB} GiB, Node ${results.node}. Written by the bench itself; the raw numbers are in \`results/latest.json\`.\n\n\`\`\`\n${report}\n\`\`\`\n${soak}`,
    );
  }
}

/** `./dev bench MODE` runs one of these instead of the comparison. */
const modes: Record<string, () => Promise<void>> = {
  /** The long leak check. */
  soak: () =>
    import("./soak.js").then(async ({ runSoak }) => {
      if (!(await runSoak())) process.exitCode = 1;
    }),
  /** `profile X`: CPU profiles of contender X's processes. */
  profile: () =>
    import("./profile.js").then(async ({ runProfile }) => {
      if (!(await runProfile(process.argv[process.argv.indexOf("profile") + 1] ?? "a"))) process.exitCode = 1;
    }),
  /** CPU per command of a, e and f as the connected clients grow. */
  "by-clients": () => import("./by-clients.js").then(({ runByClients }) => runByClients()),
  /** The server's heap per connected client, by kind of object. */
  heap: () => import("./heap.js").then(({ runHeap }) => runHeap()),
};
const mode = Object.keys(modes).find((name) => process.argv.includes(name));
const run = mode === undefined ? main() : (modes[mode] as () => Promise<void>)();
run
  .catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  })
  .finally(async () => {
    for (const w of workers) await w.stop();
  });
