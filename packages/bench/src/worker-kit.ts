// Internal: what every bench worker that sends commands shares.
import { createLimiter, delay } from "@streamcmd/core/internal";
import { latency, summarize, throughput } from "./measure.js";

/** Plaintext on loopback, no credentials, and room for the scale scenario's connections from one address. */
export const benchLimits = { maxConnections: 20_000, maxConnectionsPerAddress: 20_000, maxNewConnectionsPerSecond: 100_000 };

/** Sends one command to `target` and resolves with its reply. */
export type Send = (target: string) => Promise<unknown>;

/** Memory after a full collection (workers run with --expose-gc). */
export function gcMemory(): { rss: number; heapUsed: number } {
  for (let i = 0; i < 2; i++) (globalThis as { gc?: () => void }).gc?.();
  const usage = process.memoryUsage();
  return { rss: usage.rss, heapUsed: usage.heapUsed };
}

/** Connects `count` clients with at most `parallel` handshakes at once; resolves with the time it took. */
export async function connectAll(count: number, parallel: number, connectOne: (i: number) => Promise<void>): Promise<number> {
  const started = performance.now();
  const limit = createLimiter(parallel);
  await Promise.all(Array.from({ length: count }, (_, i) => limit.run(() => connectOne(i))));
  return performance.now() - started;
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

/**
 * The ops of a server in the scale scenario: `clients` and `waitClients` (how many it holds now;
 * wait for a count), and `broadcast`: `toAll()` sends one command to every client and says, per
 * client, whether its reply came back; the op times it.
 */
export function scaleOps(count: () => number, toAll: () => Promise<boolean[]>) {
  return {
    clients: async () => count(),
    waitClients: async (a: Record<string, unknown>) => {
      const deadline = Date.now() + Number(a["timeoutMs"] ?? 120_000);
      while (count() < Number(a["count"]) && Date.now() < deadline) await delay(50);
      return count();
    },
    broadcast: async () => {
      const started = performance.now();
      const outcomes = await toAll();
      return { ms: performance.now() - started, ok: outcomes.filter((ok) => ok).length, failed: outcomes.filter((ok) => !ok).length };
    },
  };
}
