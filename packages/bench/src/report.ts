// The text report of `./dev bench`, printed and written into RESULTS.md (full runs).
import type { ClusterResults } from "./cluster-bench.js";
import type { CpuCost } from "./machine-cpu.js";
import type { LatencySummary, ThroughputSummary } from "./measure.js";
import type { ScaleResult, ScaleResults } from "./scale-bench.js";
import { renderTargets, type Verdict } from "./targets.js";

/** What the report is made of (the JSON results carry the same). */
export interface ReportInputs {
  mode: string;
  roundTrip: Record<string, { label: string } & LatencySummary>;
  throughput: Record<string, { label: string } & ThroughputSummary>;
  scale: ScaleResults;
  ratios: Record<string, number>;
  throughputRatios: Record<string, number>;
  informationalRatios: Record<string, number>;
  payloadBytes: { command: number; reply: number };
  cluster: ClusterResults | { skipped: string };
  targets: Verdict[];
}

const ms = (x: number) => x.toFixed(3).padStart(9);
const width = 52;

/** The whole report. */
export function render(r: ReportInputs): string {
  const lines: string[] = [];
  lines.push(`payload: command ${r.payloadBytes.command} B, reply ${r.payloadBytes.reply} B (protobuf); Socket.IO sends the same fields as JSON`);
  lines.push("");
  lines.push(`1. round trip, one client, one command at a time (ms)${r.mode === "quick" ? "; quick: d and i (informational) measure half as many" : ""}`);
  lines.push(`   ${"contender".padEnd(width)} ${"p50".padStart(9)} ${"p99".padStart(9)} ${"mean".padStart(9)} ${"n".padStart(7)}`);
  for (const [key, s] of Object.entries(r.roundTrip)) {
    lines.push(`${key}. ${s.label.padEnd(width)} ${ms(s.p50)} ${ms(s.p99)} ${ms(s.mean)} ${String(s.n).padStart(7)}`);
  }
  lines.push("");
  lines.push(`2. throughput, 64 commands in flight over the connected clients${r.mode === "quick" ? "; quick: d and i measure one window, the others two" : ""}`);
  lines.push("   (c: the bare-Connect floor under a; j: the bare relay floor under b; d: a naive relay, not a floor)");
  lines.push(`   ${"contender".padEnd(width)} ${"commands/s".padStart(11)} ${"p50 ms".padStart(9)} ${"p99 ms".padStart(9)} ${"cores".padStart(6)} ${"CPU/cmd".padStart(9)}`);
  for (const [key, t] of Object.entries(r.throughput)) {
    lines.push(`${key}. ${t.label.padEnd(width)} ${Math.round(t.perSecond).toString().padStart(11)} ${ms(t.p50)} ${ms(t.p99)} ${cpuColumns(t.cpu)}`);
  }
  lines.push("   cores: how many of the machine's cores were busy meanwhile (every process and the kernel);");
  lines.push("   CPU/cmd: that CPU time per command. Where cores are all busy, commands/s is bounded by CPU/cmd.");
  lines.push("");
  lines.push(...renderScale(r.scale));
  lines.push("");
  lines.push("4. ratios of p50 round trips (targets: a/c ≤ 1.15, b/c ≤ 2.5, a/e < 1, a/f < 1, b/f < 1; b/j: b over its floor)");
  for (const [name, value] of Object.entries(r.ratios)) lines.push(`   ${name.padEnd(6)} ${value.toFixed(2)}`);
  lines.push("   throughput ratios (commands/s):");
  for (const [name, value] of Object.entries(r.throughputRatios)) lines.push(`   ${name.padEnd(6)} ${value.toFixed(2)}`);
  lines.push("   informational, not targets (d: a naive relay written for the bench; i: streamcmd's own unary path):");
  for (const [name, value] of Object.entries(r.informationalRatios)) lines.push(`   ${name.padEnd(18)} ${value.toFixed(2)}`);
  lines.push("");
  lines.push(...renderCluster(r.cluster, r.roundTrip["b"], r.throughput["a"], r.targets.filter((v) => v.target.startsWith("cluster:"))));
  lines.push("");
  lines.push(...renderTargets(r.targets));
  return lines.join("\n");
}

/** Section 3: streamcmd's server with N clients, and the comparators' servers measured the same way. */
function renderScale(s: ScaleResults): string[] {
  const row = (label: string, x: ScaleResult) =>
    `   ${label.padEnd(24)} ${`${Math.round(x.connectAllMs)} ms`.padStart(11)} ${fmtBytes(x.serverRssPerClientBytes).padStart(11)} ${fmtBytes(x.serverHeapPerClientBytes).padStart(11)} ${`${Math.round(x.broadcastMs)} ms`.padStart(11)}  ${x.broadcastOk} ok, ${x.broadcastFailed} failed`;
  return [
    `3. scale: ${s.clients} clients on one server, each on its own connection with one open stream (or socket)`,
    `   ${"server".padEnd(24)} ${"connect all".padStart(11)} ${"RSS/client".padStart(11)} ${"heap/client".padStart(11)} ${"broadcast".padStart(11)}  (one command to all, every reply back)`,
    row("streamcmd", s),
    row(s.comparators.grpcjs.label, s.comparators.grpcjs),
    row(s.comparators.socketio.label, s.comparators.socketio),
    `   streamcmd's library (hub) alone: ${fmtBytes(s.libraryHeapPerClientBytes)} JS heap per client (in-memory streams, no sockets)`,
    "   connect all: client side, 100 handshakes at once, until the server welcomed each (streamcmd: its welcome;",
    "   grpc-js: response headers, sent on the bot's hello; Socket.IO: connect); memory: the server's after a full GC, less before",
  ];
}

/** Section 5, beside the single-node numbers it is judged against. */
function renderCluster(cluster: ClusterResults | { skipped: string }, b: LatencySummary | undefined, a: ThroughputSummary | undefined, verdicts: Verdict[]): string[] {
  if ("skipped" in cluster) return [`5. cluster on NATS: skipped (${cluster.skipped})`];
  const [hop, three] = verdicts;
  const hopMs = cluster.roundTrip.p50 - (b?.p50 ?? Number.NaN);
  const one = a?.perSecond ?? Number.NaN;
  return [
    `5. cluster on NATS, three nodes (${cluster.bots} bots spread across them)`,
    `   cross-node round trip (caller on A, bot on B): p50 ${ms(cluster.roundTrip.p50)} ms, p99 ${ms(cluster.roundTrip.p99)} ms`,
    `   same-node cross-process (b):                    p50 ${ms(b?.p50 ?? Number.NaN)} ms, p99 ${ms(b?.p99 ?? Number.NaN)} ms`,
    `   bare NATS request-reply echo (the floor):     p50 ${ms(cluster.natsEcho.p50)} ms, p99 ${ms(cluster.natsEcho.p99)} ms`,
    `   the NATS hop adds ${(hopMs * 1000).toFixed(0)} µs p50 (target ≤ 150 µs): ${hop?.verdict ?? "?"}`,
    `   cross-node, 64 in flight: ${cluster.throughput.perSecond.toFixed(0)} commands/s (p50 ${ms(cluster.throughput.p50)} ms, p99 ${ms(cluster.throughput.p99)} ms)${cpuWords(cluster.throughput.cpu)}`,
    `   three nodes at once, bots anywhere: ${cluster.threeNodesPerSecond.toFixed(0)} commands/s${cpuWords(cluster.threeNodesCpu)}`,
    `   vs one node (a) ${one.toFixed(0)} commands/s${cpuWords(a?.cpu)}: ${three?.verdict ?? "?"}`,
  ];
}

/** The throughput table's two CPU columns ("?" where the machine's counters could not be read). */
function cpuColumns(cpu: CpuCost | undefined): string {
  return cpu === undefined ? `${"?".padStart(6)} ${"?".padStart(9)}` : `${cpu.cores.toFixed(2).padStart(6)} ${`${cpu.usPerCommand.toFixed(0)} µs`.padStart(9)}`;
}

/** The CPU of a window in words, for the cluster's lines. */
function cpuWords(cpu: CpuCost | undefined): string {
  return cpu === undefined ? "" : `, ${cpu.cores.toFixed(2)} cores busy, ${cpu.usPerCommand.toFixed(0)} µs CPU per command`;
}

function fmtBytes(bytes: number | undefined): string {
  return bytes === undefined ? "?" : `${(bytes / 1024).toFixed(1)} KiB`;
}
