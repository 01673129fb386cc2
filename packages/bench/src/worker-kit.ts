// Internal: what every bench worker that sends commands shares.
import { latency, summarize, throughput } from "./measure.js";

/** Sends one command to `target` and resolves with its reply. */
export type Send = (target: string) => Promise<unknown>;

/** Memory after a full collection (workers run with --expose-gc). */
export function gcMemory(): { rss: number; heapUsed: number } {
  for (let i = 0; i < 2; i++) (globalThis as { gc?: () => void }).gc?.();
  const usage = process.memoryUsage();
  return { rss: usage.rss, heapUsed: usage.heapUsed };
}

/** The ops every process that sends commands answers. */
export function loops(send: Send, extra: Record<string, (a: Record<string, unknown>) => Promise<unknown>> = {}) {
  return {
    latency: async (a: Record<string, unknown>) => latency(send, a["targets"] as string[], Number(a["iterations"])),
    throughput: async (a: Record<string, unknown>) => {
      const result = await throughput(send, a["targets"] as string[], Number(a["inflight"]), Number(a["durationMs"]));
      const s = summarize(result.samples);
      return { commands: result.commands, seconds: result.elapsedMs / 1000, perSecond: result.commands / (result.elapsedMs / 1000), p50: s.p50, p99: s.p99 };
    },
    memory: async () => gcMemory(),
    ...extra,
  };
}

