// The packages as a user gets them: packed with pnpm, installed with npm into a project outside the
// workspace, and used there. Runs on the built dist/ (the test command builds first).
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
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
  it("are the five libraries, one version for all (the root's)", () => {
    const version = JSON.parse(readFileSync(join(root, "package.json"), "utf8")).version;
    expect(publicPackages.sort()).toEqual(["core", "demo-protocol", "examples", "testing", "transport-connect"]);
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
import { create } from "@bufbuild/protobuf";
import { createCommandClient, createStreamingService } from "@streamcmd/core";
import { BotService, BotStatus, botCommands, botService, CommandResultSchema, demoBotClientBinding } from "@streamcmd/demo-protocol";
import { CommandRouterService, connectAgent, createCommandRouter, createRemoteRouter, createStreamHandler, startServer } from "@streamcmd/transport-connect";

const hub = createStreamingService(botService);
const server = await startServer({
  routes(router) {
    router.service(BotService, { connect: createStreamHandler(hub, { allowUnauthenticated: true }) });
    router.service(CommandRouterService, createCommandRouter({ services: [hub], allowUnauthenticated: true }));
  },
});
const agent = connectAgent({
  baseUrl: server.url, method: BotService.method.connect, clientId: "bot-1", binding: demoBotClientBinding,
  onCommand: () => create(CommandResultSchema, { outcome: { case: "success", value: { detail: "from outside" } }, status: BotStatus.RUNNING }),
});
await agent.waitUntilConnected();
const local = await createCommandClient(hub, { clientId: "bot-1" }).send(botCommands.ping());
const router = createRemoteRouter({ baseUrl: server.url });
const remote = createCommandClient(botService, { clientId: "bot-1", router });
const reply = await remote.send(botCommands.ping());
const missing = await createCommandClient(botService, { clientId: "ghost", router }).send(botCommands.ping()).catch((error) => error.name);
console.log(JSON.stringify({ local: local.outcome.value.detail, remote: reply.outcome.value.detail, mode: remote.mode, missing }));
await agent.close(); await router.close(); await hub.close(); await server.close({ graceMs: 0 });
`,
    );
    const run = spawnSync(process.execPath, ["check.mjs"], { cwd: project, encoding: "utf8", timeout: 60_000 });
    expect(run.status, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual({ local: "from outside", remote: "from outside", mode: "cross-process", missing: "ClientNotConnectedError" });
  }, 240_000);
});
