// The packages as a user gets them: packed with pnpm, installed with npm into a project outside the
// workspace, and used there. Runs on the built dist/ (the test command builds first).
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runReadmeQuickstart } from "./test-support/readme-quickstart.js";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const root = fileURLToPath(new URL("..", import.meta.url));
const publicPackages = readdirSync(join(root, "packages")).filter((name) => !JSON.parse(readFileSync(join(root, "packages", name, "package.json"), "utf8")).private);
const work = mkdtempSync(join(tmpdir(), "streamcmd-packages-"));
const tarballs: Record<string, string> = {};
afterAll(() => rmSync(work, { recursive: true, force: true }));

function tar(...args: string[]): string {
  return execFileSync("tar", args, { encoding: "utf8", maxBuffer: 16 * 1024 * 1024 });
}

beforeAll(() => {
  for (const name of publicPackages) {
    const out = execFileSync("pnpm", ["pack", "--pack-destination", work], { cwd: join(root, "packages", name), encoding: "utf8" });
    tarballs[name] = out.trim().split("\n").filter((line) => line.endsWith(".tgz")).at(-1) as string;
  }
}, 120_000);

describe("the published packages", () => {
  it("are the six libraries and the plugin, one version for all (the root's)", () => {
    const version = JSON.parse(readFileSync(join(root, "package.json"), "utf8")).version;
    expect(publicPackages.sort()).toEqual(["core", "demo-protocol", "examples", "protoc-gen-streamcmd", "testing", "transport-connect", "transport-nats"]);
    for (const name of publicPackages) expect(JSON.parse(readFileSync(join(root, "packages", name, "package.json"), "utf8")).version, name).toBe(version);
  });

  it.each(publicPackages)("%s packs with real versions, exports only files it contains, and its README and LICENSE", (name) => {
    const files = tar("-tzf", tarballs[name]!).split("\n").map((path) => path.replace(/^package\//, ""));
    const manifest = JSON.parse(tar("-xzOf", tarballs[name]!, "package/package.json"));
    const text = JSON.stringify(manifest);
    expect(text).not.toMatch(/workspace:|catalog:|@streamcmd\/source/);
    for (const target of Object.values(manifest.exports as Record<string, Record<string, string>>).flatMap((entry) => Object.values(entry))) {
      expect(files, `${name} exports ${target}`).toContain(target.replace(/^\.\//, ""));
    }
    for (const required of ["README.md", "LICENSE", "dist/index.js", "dist/index.d.ts"]) expect(files, name).toContain(required);
    for (const bin of Object.values((manifest.bin ?? {}) as Record<string, string>)) expect(files, `${name}'s bin`).toContain(bin.replace(/^\.\//, ""));
    expect(files.filter((path) => /\.test\.ts$|test-support/.test(path))).toEqual([]);
    // Source maps point at sources the package ships.
    const map = JSON.parse(tar("-xzOf", tarballs[name]!, "package/dist/index.js.map"));
    for (const source of map.sources as string[]) expect(files).toContain(join("dist", source));
  });

  it("install with npm into a project outside the workspace, where a server, an agent and callers work", () => {
    const project = join(work, "outside");
    execFileSync("mkdir", ["-p", project]);
    writeFileSync(join(project, "package.json"), JSON.stringify({ name: "outside", private: true, type: "module" }));
    const install = spawnSync("npm", ["install", "--no-audit", "--no-fund", "--loglevel=error", ...publicPackages.map((name) => tarballs[name]!)], { cwd: project, encoding: "utf8" });
    expect(install.status, install.stderr).toBe(0);
    writeFileSync(
      join(project, "check.mjs"),
      `
import { createCommandClient, createStreamingService } from "@streamcmd/core";
import { BotService, BotStatus, botAgent, botCommands, botService, createBotClient } from "@streamcmd/demo-protocol";
import { CommandRouterService, createCommandRouter, createRemoteRouter, createStreamHandler, connectAgent, startServer } from "@streamcmd/transport-connect";

const hub = createStreamingService(botService);
const server = await startServer({
  routes(router) {
    router.service(BotService, { connect: createStreamHandler(hub, { allowUnauthenticated: true }) });
    router.service(CommandRouterService, createCommandRouter({ services: [hub], allowUnauthenticated: true }));
  },
});
const reply = { status: BotStatus.RUNNING, detail: "from outside" };
const agent = connectAgent({
  baseUrl: server.url, clientId: "bot-1",
  ...botAgent({ start: () => reply, stop: () => reply, configUpdate: () => reply, ping: () => ({ status: BotStatus.RUNNING, version: "9" }) }),
});
await agent.waitUntilConnected();
const local = await createBotClient({ clientId: "bot-1", service: hub }).start();
const router = createRemoteRouter({ baseUrl: server.url });
const remote = createBotClient({ clientId: "bot-1", router });
const ping = await remote.ping();
const raw = await createCommandClient(botService, { clientId: "bot-1", router }).send(botCommands.stop({ graceful: true }));
const missing = await createBotClient({ clientId: "ghost", router }).ping().catch((error) => error.name);
console.log(JSON.stringify({ local: local.detail, remote: ping.version, raw: raw.reply.case, mode: remote.mode, missing }));
await agent.close(); await router.close(); await hub.close(); await server.close({ graceMs: 0 });
`,
    );
    const run = spawnSync(process.execPath, ["check.mjs"], { cwd: project, encoding: "utf8", timeout: 60_000 });
    expect(run.status, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual({ local: "from outside", remote: "9", raw: "stop", mode: "cross-process", missing: "ClientNotConnectedError" });
  }, 240_000);

  it("run the README's own-project quickstart verbatim outside the workspace: buf generation, tsc --strict, server, agent and worker", async () => {
    const output = await runReadmeQuickstart(readFileSync(join(root, "README.md"), "utf8"), work);
    expect(output.worker).toEqual(["reboot scheduled: true, temperature: 21.5", "failed: unknown_sensor", "not connected: gw-9"]);
    expect(output.server).toContain("gw-1 connected, temperature 21.5 °C");
    expect(output.agent).toContain("connected");
    // The app is typed end to end: no casts, no generic arguments, and a missing handler does not compile.
    for (const block of output.code) expect(block.body).not.toMatch(/\bas (?!const\b)|<[A-Z][\w, ]*>\(/);
    const agent = readFileSync(join(output.project, "src/agent.ts"), "utf8");
    writeFileSync(join(output.project, "src/agent.ts"), agent.replace(/    reboot: .*\n/, ""));
    const check = spawnSync("npx", ["tsc", "--noEmit"], { cwd: output.project, encoding: "utf8" });
    expect(check.status).not.toBe(0);
    expect(check.stdout).toMatch(/src\/agent\.ts.*Property 'reboot' is missing/s);
  }, 300_000);
});
