// `./dev bench soak [--commands N]`: a long run that must leave nothing behind. One server (hub +
// CommandRouter over real HTTP/2), 20 agents and a cross-process caller (remote router, ExecuteStream)
// in this process; N commands (default 1,000,000), 64 in flight: 1% to absent clients, 1% cancelled,
// 1% timing out, and an agent reconnecting every 50,000 commands. Prints heap, RSS, timers and
// pending commands before and after, and exits 1 if any grew beyond noise.
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { createCommandClient, createStreamingService, isCommandError } from "@streamcmd/core";
import { createLimiter, delay } from "@streamcmd/core/internal";
import { botAgent, BotService, botService, botCommands, BotStatus } from "@streamcmd/demo-protocol";
import { CommandRouterService, connectAgent, createCommandRouter, createRemoteRouter, createStreamHandler, startServer, type Agent } from "@streamcmd/transport-connect";

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;
const argAt = process.argv.indexOf("--commands");
const total = argAt > 0 ? Number(process.argv[argAt + 1]) : 1_000_000;
const agentCount = 20;
const inFlight = 64;

const printed: string[] = [];
function log(line: string): void {
  printed.push(line);
  process.stderr.write(`${line}\n`);
}
const lines = () => printed.filter((line) => !line.startsWith("  …"));

/** Writes the run into RESULTS.md's "## Soak" section (a full `./dev bench` keeps it). */
function record(output: string[], problems: string[]): void {
  const file = join(dirname(fileURLToPath(import.meta.url)), "..", "RESULTS.md");
  const text = existsSync(file) ? readFileSync(file, "utf8") : "# Benchmark results\n";
  const head = text.includes("\n## Soak") ? text.slice(0, text.indexOf("\n## Soak")) : text.trimEnd();
  const verdict = problems.length === 0 ? "passed" : `FAILED (${problems.join("; ")})`;
  const section = `\n## Soak\n\nThe latest \`./dev bench soak\` (${new Date().toISOString()}, ${cpus()[0]?.model ?? "?"}, ${cpus().length} cores, Node ${process.version}): ${verdict}.\n\n\`\`\`\n${output.join("\n")}\n\`\`\`\n`;
  writeFileSync(file, `${head}\n${section}`);
}

interface Sample {
  heapMb: number;
  rssMb: number;
  timers: number;
  pending: number;
}

async function sample(pending: () => number): Promise<Sample> {
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const memory = process.memoryUsage();
  const timers = process.getActiveResourcesInfo().filter((kind) => kind === "Timeout").length;
  return { heapMb: memory.heapUsed / 2 ** 20, rssMb: memory.rss / 2 ** 20, timers, pending: pending() };
}

const reply = (detail: string) => ({ status: BotStatus.RUNNING, detail });
function agent(url: string, clientId: string): Agent {
  return connectAgent({
    baseUrl: url,
    clientId,
    heartbeatIntervalMs: 1_000,
    reconnect: { initialDelayMs: 10, maxDelayMs: 100 },
    ...botAgent({
      // "slow" answers after its caller timed out (a late reply, dropped); it must not hold a slot for ever.
      start: async ({ reason }) => (reason === "slow" ? (await delay(100), reply(reason)) : reply(reason)),
      stop: () => reply("stopped"),
      configUpdate: () => reply("configured"),
      ping: () => ({ status: BotStatus.RUNNING, version: "soak" }),
    }),
  });
}

async function soak(): Promise<boolean> {
  const hub = createStreamingService(botService, { maxPendingPerClient: 10_000 });
  const server = await startServer({
    routes(router) {
      router.service(BotService, { connect: createStreamHandler(hub, { allowUnauthenticated: true }) });
      router.service(CommandRouterService, createCommandRouter({ services: [hub], allowUnauthenticated: true }));
    },
  });
  const agents = Array.from({ length: agentCount }, (_, i) => agent(server.url, `soak-${i}`));
  await Promise.all(agents.map((a) => a.waitUntilConnected()));
  const router = createRemoteRouter({ baseUrl: server.url });
  const clients = agents.map((_, i) => createCommandClient(botService, { clientId: `soak-${i}`, router, defaultTimeoutMs: 10_000 }));
  const outcomes = new Map<string, number>();
  const count = (what: string) => outcomes.set(what, (outcomes.get(what) ?? 0) + 1);
  const slots = createLimiter(inFlight);

  async function one(i: number): Promise<void> {
    const kind = i % 100;
    try {
      if (kind === 0) await createCommandClient(botService, { clientId: `absent-${i}`, router }).send(botCommands.ping());
      else if (kind === 1) await clients[i % agentCount]!.send(botCommands.start({ reason: "cancelled" }), { signal: AbortSignal.timeout(0) });
      else if (kind === 2) await clients[i % agentCount]!.send(botCommands.start({ reason: "slow" }), { timeoutMs: 20 });
      else await clients[i % agentCount]!.send(botCommands.start({ reason: "ok" }));
      count("reply");
    } catch (error) {
      count(isCommandError(error) ? error.code : "untyped");
    }
  }

  async function run(from: number, to: number): Promise<void> {
    const running: Promise<void>[] = [];
    for (let i = from; i < to; i++) {
      if (i > from && i % 50_000 === 0) {
        // An agent reconnects: its commands in flight fail as disconnected, the next ones wait for it.
        const k = (i / 50_000) % agentCount;
        await agents[k]!.close();
        agents[k] = agent(server.url, `soak-${k}`);
        await agents[k]!.waitUntilConnected();
      }
      const release = await slots.acquire();
      running.push(one(i).finally(release));
      if (i % 100_000 === 0 && i > 0) log(`  … ${i} commands`);
      if (running.length >= 10_000) await Promise.all(running.splice(0));
    }
    await Promise.all(running);
  }

  const warmup = Math.min(20_000, Math.floor(total / 10));
  await run(0, warmup);
  const before = await sample(() => hub.stats().pendingCommands);
  const started = performance.now();
  await run(warmup, total);
  const seconds = (performance.now() - started) / 1_000;
  const after = await sample(() => hub.stats().pendingCommands);

  log(`soak: ${total} commands (${total - warmup} measured) in ${seconds.toFixed(1)} s, ${Math.round((total - warmup) / seconds)} commands/s, ${inFlight} in flight over ${agentCount} agents`);
  log(`  outcomes: ${JSON.stringify(Object.fromEntries([...outcomes].sort()))}`);
  log(`  before: heap ${before.heapMb.toFixed(1)} MB, RSS ${before.rssMb.toFixed(1)} MB, timers ${before.timers}, pending ${before.pending}`);
  log(`  after:  heap ${after.heapMb.toFixed(1)} MB, RSS ${after.rssMb.toFixed(1)} MB, timers ${after.timers}, pending ${after.pending}`);
  const problems = [
    after.pending > 0 ? `${after.pending} commands still pending` : undefined,
    after.timers > before.timers + 5 ? `timers grew from ${before.timers} to ${after.timers}` : undefined,
    after.heapMb > before.heapMb * 1.25 + 10 ? `heap grew from ${before.heapMb.toFixed(1)} to ${after.heapMb.toFixed(1)} MB` : undefined,
    outcomes.has("untyped") ? `${outcomes.get("untyped")} untyped errors` : undefined,
  ].filter((problem) => problem !== undefined);
  for (const problem of problems) log(`  FAIL: ${problem}`);
  if (problems.length === 0) log("  ok: nothing grew beyond noise");
  if (total >= 1_000_000) record(lines(), problems);

  await router.close();
  await Promise.all(agents.map((a) => a.close()));
  await hub.close();
  await server.close({ graceMs: 0 });
  return problems.length === 0;
}

/** Runs the soak; resolves with whether it passed. */
export function runSoak(): Promise<boolean> {
  return soak();
}
