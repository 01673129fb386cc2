// `./dev bench heap`: what one connected client costs the server's heap, by kind of object — a heap
// snapshot of a streamcmd server before and after N bots (real agents, in another process) connect.
// Native memory V8 is told about (nghttp2's, Node's wrappers) shows up as "native:…".
import { readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeHeapSnapshot } from "node:v8";
import { createStreamingService } from "@streamcmd/core";
import { delay } from "@streamcmd/core/internal";
import { BotService, botService } from "@streamcmd/demo-protocol";
import { createStreamHandler, startServer } from "@streamcmd/transport-connect";
import { startWorker } from "./ipc.js";
import { benchLimits } from "./worker-kit.js";

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
}

/** Count and bytes per kind of heap object in a snapshot file. */
function byKind(file: string): Map<string, { count: number; bytes: number }> {
  const snap = JSON.parse(readFileSync(file, "utf8")) as Snapshot;
  const fields = snap.snapshot.meta.node_fields;
  const types = snap.snapshot.meta.node_types[0];
  const [typeAt, nameAt, sizeAt] = [fields.indexOf("type"), fields.indexOf("name"), fields.indexOf("self_size")];
  const kinds = new Map<string, { count: number; bytes: number }>();
  for (let i = 0; i < snap.nodes.length; i += fields.length) {
    const type = types[snap.nodes[i + typeAt] ?? 0] ?? "?";
    const named = type === "object" || type === "closure" || type === "native";
    const kind = named ? `${type}: ${snap.strings[snap.nodes[i + nameAt] ?? 0] ?? "?"}` : type.endsWith("string") ? "string" : type;
    const entry = kinds.get(kind) ?? { count: 0, bytes: 0 };
    entry.count++;
    entry.bytes += snap.nodes[i + sizeAt] ?? 0;
    kinds.set(kind, entry);
  }
  return kinds;
}

/** Takes a snapshot after a full collection; returns its counts by kind and deletes the file. */
function snapshot(name: string): Map<string, { count: number; bytes: number }> {
  for (let i = 0; i < 2; i++) (globalThis as { gc?: () => void }).gc?.();
  const file = writeHeapSnapshot(join(tmpdir(), `streamcmd-bench-${process.pid}-${name}.heapsnapshot`));
  try {
    return byKind(file);
  } finally {
    rmSync(file, { force: true });
  }
}

/** Prints the server's heap per client by kind, largest first (a heap snapshot collects garbage before it is taken). */
export async function runHeap(clients = 2_000, top = 30): Promise<void> {
  const hub = createStreamingService(botService, { heartbeatTimeoutMs: 0 });
  const server = await startServer({
    limits: benchLimits,
    routes(router) {
      router.service(BotService, { connect: createStreamHandler(hub, { allowUnauthenticated: true }) });
    },
  });
  try {
    const before = snapshot("before");
    const bots = await startWorker("streamcmd-bots", { url: server.url, count: clients, prefix: "h-" });
    try {
      while (hub.clients().length < clients) await delay(50);
      await delay(500);
      const after = snapshot("after");
      const rows = [...after].map(([kind, a]) => ({ kind, count: a.count - (before.get(kind)?.count ?? 0), bytes: a.bytes - (before.get(kind)?.bytes ?? 0) }));
      const total = rows.reduce((sum, row) => sum + row.bytes, 0);
      console.log(`server heap per client with ${clients} streamcmd bots connected: ${(total / clients).toFixed(0)} B (snapshot after, less before)`);
      for (const row of rows.sort((x, y) => y.bytes - x.bytes).slice(0, top)) {
        console.log(`${(row.bytes / clients).toFixed(0).padStart(7)} B ${(row.count / clients).toFixed(2).padStart(6)} per client  ${row.kind}`);
      }
    } finally {
      await bots.worker.stop();
    }
  } finally {
    await hub.close();
    await server.close();
  }
}
