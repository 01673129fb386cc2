// Issue 13's targets (and the cluster's), each judged PASS / MISS on numbers measured in the same run.
import type { ClusterResults } from "./cluster-bench.js";
import type { LatencySummary, ThroughputSummary } from "./measure.js";
import type { ScaleResult } from "./scale-bench.js";

/** One target and its verdict. */
export interface Verdict {
  /** The target, in words. */
  target: string;
  /** The ratio the target bounds, in words (e.g. `a / max(e, f)`), its value, and the bound. */
  ratioName: string;
  ratio: number;
  need: `${"≤" | "≥" | ">"} ${string}`;
  /** The numbers the ratio is made of. */
  measured: string;
  /** `n/a` where the run does not measure what the target is about (the quick run's 1,000 clients). */
  verdict: "PASS" | "MISS" | "n/a";
  /** For `n/a`: what the ratio was judged against instead, and what it would give. */
  note?: string;
}

/** The clients issue 13's scale targets are for. */
export const targetClients = 10_000;

/** What the targets are judged on: section 1's round trips, section 2's throughput, section 3's streamcmd scale. */
export interface TargetInputs {
  roundTrip: Record<string, LatencySummary>;
  throughput: Record<string, ThroughputSummary>;
  scale: ScaleResult;
  cluster: ClusterResults | { skipped: string };
}

const ms = (x: number | undefined) => `${(x ?? Number.NaN).toFixed(3)} ms`;
const perSecond = (x: number | undefined) => `${Math.round(x ?? Number.NaN)}/s`;

/** Internal: a verdict from a ratio and its bound. */
function judge(target: string, ratioName: string, ratio: number, op: "≤" | "≥" | ">", bound: number, measured: string): Verdict {
  const pass = op === "≤" ? ratio <= bound : op === "≥" ? ratio >= bound : ratio > bound;
  return { target, ratioName, ratio, need: `${op} ${bound.toFixed(2)}`, measured, verdict: pass ? "PASS" : "MISS" };
}

/** The smaller (or larger) of e's and f's value, and which one it was. */
function pick(values: Record<string, number | undefined>, keys: string[], best: "min" | "max"): [string, number] {
  const known = keys.map((k) => [k, values[k] ?? Number.NaN] as [string, number]);
  return known.reduce((x, y) => ((best === "min" ? y[1] < x[1] : y[1] > x[1]) ? y : x));
}

/** Every target with its verdict. */
export function judgeTargets(r: TargetInputs): Verdict[] {
  const rt = r.roundTrip;
  const tp = (c: string) => r.throughput[c]?.perSecond;
  const verdicts: Verdict[] = [];
  const [fastest, fastestRate] = pick({ e: tp("e"), f: tp("f") }, ["e", "f"], "max");
  verdicts.push(judge("a: throughput ≥ 1.2 × max(e, f)", `a / ${fastest}`, (tp("a") ?? Number.NaN) / fastestRate, "≥", 1.2, `a ${perSecond(tp("a"))}, ${fastest} ${perSecond(fastestRate)}`));
  for (const q of ["p50", "p99"] as const) {
    const [best, value] = pick({ e: rt["e"]?.[q], f: rt["f"]?.[q] }, ["e", "f"], "min");
    verdicts.push(judge(`a: round trip ${q} ≤ min(e, f) ${q}`, `a / ${best}`, (rt["a"]?.[q] ?? Number.NaN) / value, "≤", 1, `a ${ms(rt["a"]?.[q])}, ${best} ${ms(value)}`));
  }
  verdicts.push(judge("b: ≥ 20,000 commands/s with 64 in flight", "b / 20,000/s", (tp("b") ?? Number.NaN) / 20_000, "≥", 1, `b ${perSecond(tp("b"))}`));
  verdicts.push(judge("b: round trip p50 ≤ 2 × c p50", "b / c", (rt["b"]?.p50 ?? Number.NaN) / (rt["c"]?.p50 ?? Number.NaN), "≤", 2, `b ${ms(rt["b"]?.p50)}, c ${ms(rt["c"]?.p50)}`));
  verdicts.push(...scaleTargets(r.scale));
  verdicts.push(...clusterTargets(r));
  return verdicts;
}

/**
 * The scale targets are for 10,000 clients. A run with fewer (the quick run's 1,000) says n/a and
 * judges, for indication only, against a linear share of each time (3 s × 1,000 / 10,000) and the
 * same per-client memory bound (per-client memory is higher at fewer clients: fixed costs weigh more).
 */
function scaleTargets(s: ScaleResult): Verdict[] {
  const share = Math.min(1, s.clients / targetClients);
  const time = (limitMs: number) => (limitMs * share >= 1_000 ? `${(limitMs * share) / 1_000} s` : `${Math.round(limitMs * share)} ms`);
  const rows = [
    judge(`scale: ${targetClients.toLocaleString("en-US")} clients all connected ≤ 3 s`, `connect all / ${time(3_000)}`, s.connectAllMs / (3_000 * share), "≤", 1, `${Math.round(s.connectAllMs)} ms`),
    judge("scale: ≤ 30 KiB server RSS per client", "RSS per client / 30 KiB", s.serverRssPerClientBytes / (30 * 1024), "≤", 1, `${(s.serverRssPerClientBytes / 1024).toFixed(1)} KiB`),
    judge("scale: broadcast to all, every reply back ≤ 0.5 s", `broadcast / ${time(500)}`, s.broadcastMs / (500 * share), "≤", 1, `${Math.round(s.broadcastMs)} ms (${s.broadcastOk} ok, ${s.broadcastFailed} failed)`),
  ];
  if (share === 1) return rows;
  const at = `measured at ${s.clients.toLocaleString("en-US")} clients, the target is for ${targetClients.toLocaleString("en-US")}`;
  const how = ["against a linear share of the time", "with the same per-client bound", "against a linear share of the time"];
  return rows.map((row, i) => ({ ...row, verdict: "n/a", note: `n/a: ${at}; ${how[i]} it would ${row.verdict} (indicative only)` }));
}

/** The cluster's two targets (scenario 5), none where it was skipped. */
function clusterTargets(r: TargetInputs): Verdict[] {
  if ("skipped" in r.cluster) return [];
  const hopMs = r.cluster.roundTrip.p50 - (r.roundTrip["b"]?.p50 ?? Number.NaN);
  const one = r.throughput["a"]?.perSecond ?? Number.NaN;
  return [
    judge("cluster: the NATS hop adds ≤ 150 µs p50", "hop / 150 µs", hopMs / 0.15, "≤", 1, `cross-node p50 ${ms(r.cluster.roundTrip.p50)} − b p50 ${ms(r.roundTrip["b"]?.p50)} = ${(hopMs * 1000).toFixed(0)} µs`),
    judge("cluster: three nodes carry more than one (a)", "three nodes / a", r.cluster.threeNodesPerSecond / one, ">", 1, `three nodes ${perSecond(r.cluster.threeNodesPerSecond)}, a ${perSecond(one)}`),
  ];
}

/** Section 6 of the report: one line per target, verdict first. */
export function renderTargets(verdicts: Verdict[]): string[] {
  const lines = ["6. issue 13's targets (and the cluster's), judged on this run's numbers"];
  for (const v of verdicts) {
    lines.push(`   ${v.verdict.padEnd(4)}  ${v.target.padEnd(50)} ${v.ratioName} = ${v.ratio.toFixed(2)} (needs ${v.need}); ${v.measured}`);
    if (v.note !== undefined) lines.push(`         ${v.note}`);
  }
  return lines;
}
