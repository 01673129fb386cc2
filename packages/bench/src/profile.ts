// `./dev bench profile [a|b|c|e|i|j]`: one contender's throughput loop (64 in flight, 10 s) with a V8 CPU
// profile of each of its processes, then where each process spends its time: by library, and its
// hottest functions. The .cpuprofile files stay in packages/bench/profiles/ (open them in Chrome's
// DevTools, or speedscope) — issue 13's "measure first".
import { mkdirSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { delay } from "@streamcmd/core/internal";
import { startWorker, type Worker } from "./ipc.js";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}

/** Which part of the stack a frame belongs to. */
function partOf(url: string, name: string): string {
  if (url === "") return name.startsWith("(") ? name : "node (native)";
  if (url.includes("@connectrpc")) return "connect-es";
  if (url.includes("@bufbuild")) return "protobuf-es";
  if (url.includes("@grpc/grpc-js") || url.includes("@grpc+grpc-js")) return "grpc-js";
  if (url.includes("/packages/core/")) return "streamcmd core";
  if (url.includes("/packages/transport-connect/")) return "streamcmd transport-connect";
  if (url.includes("/packages/demo-protocol/") || url.includes("/packages/bench/")) return "bench + demo protocol";
  if (url.startsWith("node:")) return "node (lib)";
  return "other";
}

/** Self-time shares of one profile: by part, and the hottest functions. */
export function summarizeProfile(file: string, top = 8): string[] {
  const profile = JSON.parse(readFileSync(file, "utf8")) as { nodes: ProfileNode[] };
  const total = profile.nodes.reduce((sum, node) => sum + (node.hitCount ?? 0), 0) || 1;
  const byPart = new Map<string, number>();
  const byFunction = new Map<string, number>();
  for (const node of profile.nodes) {
    const hits = node.hitCount ?? 0;
    const { functionName, url, lineNumber } = node.callFrame;
    const part = partOf(url, functionName);
    byPart.set(part, (byPart.get(part) ?? 0) + hits);
    const where = url === "" ? "" : ` ${url.replace(/^.*node_modules\/(\.pnpm\/[^/]+\/node_modules\/)?/, "").replace(/^file:\/\/.*\/packages\//, "")}:${lineNumber + 1}`;
    const key = `${functionName || "(anonymous)"}${where}`;
    byFunction.set(key, (byFunction.get(key) ?? 0) + hits);
  }
  const pct = (n: number) => `${((100 * n) / total).toFixed(1).padStart(5)}%`;
  const sorted = (m: Map<string, number>) => [...m.entries()].sort((x, y) => y[1] - x[1]);
  return [
    ...sorted(byPart).map(([part, hits]) => `   ${pct(hits)}  ${part}`),
    "   hottest functions (self time):",
    ...sorted(byFunction).slice(0, top).map(([name, hits]) => `   ${pct(hits)}  ${name}`),
  ];
}

const setups: Record<string, { roles: [string, (urls: Record<string, string>) => Record<string, unknown>][]; initiator: string; target: string }> = {
  a: { roles: [["streamcmd-server", () => ({})], ["streamcmd-bots", (u) => ({ url: u["streamcmd-server"], count: 200, prefix: "tp-" })]], initiator: "streamcmd-server", target: "tp-" },
  b: {
    roles: [["streamcmd-server", () => ({})], ["streamcmd-bots", (u) => ({ url: u["streamcmd-server"], count: 200, prefix: "tp-" })], ["streamcmd-caller", (u) => ({ url: u["streamcmd-server"] })]],
    initiator: "streamcmd-caller",
    target: "tp-",
  },
  c: { roles: [["connect-server", () => ({})], ["connect-bots", (u) => ({ url: u["connect-server"], count: 200, prefix: "tp-" })]], initiator: "connect-server", target: "tp-" },
  e: { roles: [["grpcjs-server", () => ({})], ["grpcjs-bots", (u) => ({ url: u["grpcjs-server"], count: 200, prefix: "tp-" })]], initiator: "grpcjs-server", target: "tp-" },
  i: {
    roles: [["streamcmd-server", () => ({})], ["streamcmd-bots", (u) => ({ url: u["streamcmd-server"], count: 200, prefix: "tp-" })], ["streamcmd-caller", (u) => ({ url: u["streamcmd-server"], executeVia: "unary" })]],
    initiator: "streamcmd-caller",
    target: "tp-",
  },
  j: {
    roles: [["floor-server", () => ({})], ["floor-bots", (u) => ({ url: u["floor-server"], count: 200, prefix: "tp-" })], ["floor-caller", (u) => ({ url: u["floor-server"] })]],
    initiator: "floor-caller",
    target: "tp-",
  },
};

export async function runProfile(contender: string): Promise<boolean> {
  const setup = setups[contender];
  if (setup === undefined) {
    console.error(`bench profile: no contender "${contender}"; one of ${Object.keys(setups).join(", ")}`);
    return false;
  }
  const dir = join(dirname(fileURLToPath(import.meta.url)), "..", "profiles", `${contender}-${new Date().toISOString().replace(/[:.]/g, "-")}`);
  mkdirSync(dir, { recursive: true });
  const workers: Worker[] = [];
  const urls: Record<string, string> = {};
  try {
    for (const [role, args] of setup.roles) {
      const started = await startWorker(role, args(urls), ["--cpu-prof", `--cpu-prof-dir=${dir}`, `--cpu-prof-name=${role}.cpuprofile`]);
      workers.push(started.worker);
      if (typeof started.info["url"] === "string") urls[role] = started.info["url"];
    }
    const initiator = workers[setup.roles.findIndex(([role]) => role === setup.initiator)]!;
    await delay(2_000); // the bots connect
    const targets = Array.from({ length: 200 }, (_, i) => `${setup.target}${i}`);
    await initiator.call("throughput", { targets, inflight: 64, durationMs: 2_000 });
    const result = (await initiator.call("throughput", { targets, inflight: 64, durationMs: 10_000 })) as { perSecond: number };
    console.log(`bench profile ${contender}: ${Math.round(result.perSecond)} commands/s while profiled (profiling slows every process)`);
  } finally {
    for (const worker of workers) await worker.stop(); // each writes its profile as it exits
  }
  for (const file of readdirSync(dir).filter((name) => name.endsWith(".cpuprofile")).sort()) {
    console.log(`\n${file.replace(".cpuprofile", "")}`);
    for (const line of summarizeProfile(join(dir, file))) console.log(line);
  }
  console.log(`\nprofiles in ${dir}`);
  return true;
}
