/** Internal: timing loops and summaries shared by every contender. */
import type { CpuCost } from "./machine-cpu.js";

export interface LatencySummary {
  n: number;
  p50: number;
  p99: number;
  mean: number;
}

export interface ThroughputSummary {
  commands: number;
  seconds: number;
  perSecond: number;
  p50: number;
  p99: number;
  /** What the whole machine spent meanwhile (Linux only). */
  cpu?: CpuCost;
}

export function summarize(samples: number[]): LatencySummary {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
  const mean = sorted.reduce((sum, x) => sum + x, 0) / Math.max(1, sorted.length);
  return { n: sorted.length, p50: at(0.5), p99: at(0.99), mean };
}

/** One command at a time, round-robin over `targets`; returns each round trip in ms. */
export async function latency(send: (target: string) => Promise<unknown>, targets: readonly string[], iterations: number): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < iterations; i++) {
    const target = targets[i % targets.length] as string;
    const started = performance.now();
    await send(target);
    samples.push(performance.now() - started);
  }
  return samples;
}

/** `inflight` commands outstanding at all times for `durationMs`, spread over `targets`. */
export async function throughput(
  send: (target: string) => Promise<unknown>,
  targets: readonly string[],
  inflight: number,
  durationMs: number,
): Promise<{ commands: number; elapsedMs: number; samples: number[] }> {
  const samples: number[] = [];
  const started = performance.now();
  const deadline = started + durationMs;
  let next = 0;
  const lane = async (): Promise<void> => {
    while (performance.now() < deadline) {
      const target = targets[next++ % targets.length] as string;
      const t0 = performance.now();
      await send(target);
      samples.push(performance.now() - t0);
    }
  };
  await Promise.all(Array.from({ length: inflight }, lane));
  return { commands: samples.length, elapsedMs: performance.now() - started, samples };
}

/** Windows of one contender as one: their rate, the worst of their percentiles, the machine's CPU over all of them. */
export function combineRuns(runs: readonly ThroughputSummary[]): ThroughputSummary {
  const commands = runs.reduce((sum, r) => sum + r.commands, 0);
  const seconds = runs.reduce((sum, r) => sum + r.seconds, 0);
  const combined: ThroughputSummary = { commands, seconds, perSecond: commands / seconds, p50: Math.max(...runs.map((r) => r.p50)), p99: Math.max(...runs.map((r) => r.p99)) };
  if (runs.length === 0 || runs.some((r) => r.cpu === undefined)) return combined;
  const coreSeconds = runs.reduce((sum, r) => sum + (r.cpu?.cores ?? 0) * r.seconds, 0);
  return { ...combined, cpu: { cores: coreSeconds / seconds, usPerCommand: (coreSeconds * 1e6) / commands } };
}
