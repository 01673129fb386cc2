// `./dev bench by-clients`: the CPU one command costs (the whole machine: every process and the kernel)
// as the number of connected clients grows, for streamcmd (a), @grpc/grpc-js (e) and Socket.IO (f),
// one stack at a time: which part of section 2's gap comes with many connections.
import { delay } from "@streamcmd/core/internal";
import { startWorker } from "./ipc.js";
import { withCpu } from "./machine-cpu.js";
import type { ThroughputSummary } from "./measure.js";

const stacks = [
  ["a. streamcmd", "streamcmd-server", "streamcmd-bots"],
  ["e. @grpc/grpc-js", "grpcjs-server", "grpcjs-bots"],
  ["f. Socket.IO", "socketio-server", "socketio-bots"],
] as const;

/** Prints commands/s, cores busy and CPU per command for each stack at each client count. */
export async function runByClients(counts: readonly number[] = [200, 1_000, 3_000]): Promise<void> {
  console.log("CPU per command (all processes and the kernel) by connected clients, 64 in flight, one 4 s window each");
  console.log(`${"clients".padStart(7)}  ${"stack".padEnd(18)} ${"commands/s".padStart(10)} ${"cores".padStart(6)} ${"CPU/cmd".padStart(8)}`);
  for (const count of counts) {
    for (const [label, serverRole, botsRole] of stacks) {
      const server = await startWorker(serverRole, {});
      const bots = await startWorker(botsRole, { url: server.info["url"], count, prefix: "tp-" });
      try {
        while ((await server.worker.call<number>("clients")) < count) await delay(50);
        const targets = Array.from({ length: count }, (_, i) => `tp-${i}`);
        await server.worker.call("throughput", { targets, inflight: 64, durationMs: 1_000 });
        const run = await withCpu(() => server.worker.call<ThroughputSummary>("throughput", { targets, inflight: 64, durationMs: 4_000 }));
        const cpu = run.cpu === undefined ? `${"?".padStart(6)} ${"?".padStart(8)}` : `${run.cpu.cores.toFixed(2).padStart(6)} ${`${run.cpu.usPerCommand.toFixed(0)} µs`.padStart(8)}`;
        console.log(`${String(count).padStart(7)}  ${label.padEnd(18)} ${Math.round(run.perSecond).toString().padStart(10)} ${cpu}`);
      } finally {
        await bots.worker.stop();
        await server.worker.stop();
      }
    }
  }
}
