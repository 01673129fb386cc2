// Rules of the whole workspace, checked on every test run (see STYLE.md and issue 8's acceptance):
// small source files, no `any` in what a package exports, no generic arguments or casts on
// streamcmd calls in the code users copy (README, examples, demo).
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const root = fileURLToPath(new URL("..", import.meta.url));
const workspaces = ["packages", "apps"].flatMap((dir) => readdirSync(join(root, dir)).map((name) => join(root, dir, name)));

function files(dir: string, keep: (path: string) => boolean): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return name === "gen" || name === "node_modules" ? [] : files(path, keep);
    return keep(path) ? [path] : [];
  });
}

const sources = workspaces.flatMap((ws) => files(join(ws, "src"), (p) => p.endsWith(".ts") && !p.endsWith(".test.ts") && !p.includes("test-support")));
const streamcmdCalls =
  /\b(createCommandClient|createStreamingService|defineStreamingService|getStreamingService|registerStreamingService|createStreamHandler|createCommandRouter|createRemoteRouter|installRemoteRouter|connectAgent|createHarness)\s*</;

describe("workspace rules", () => {
  it.each(sources.map((path) => [relative(root, path), path]))("%s is at most 350 lines", (_, path) => {
    expect(readFileSync(path, "utf8").split("\n").length).toBeLessThanOrEqual(350);
  });

  it("no declaration a package publishes has `any` in it", () => {
    const published = workspaces.filter((ws) => !JSON.parse(readFileSync(join(ws, "package.json"), "utf8")).private);
    const declarations = published.flatMap((ws) => files(join(ws, "dist"), (p) => p.endsWith(".d.ts")));
    expect(declarations.length, "build first (./dev pnpm build): the rule reads dist/*.d.ts").toBeGreaterThan(0);
    const offenders = declarations.flatMap((path) => {
      const code = readFileSync(path, "utf8").replace(/\/\*[\s\S]*?\*\//g, "").replace(/\/\/.*$/gm, "");
      return /\bany\b/.test(code) ? [relative(root, path)] : [];
    });
    expect(offenders).toEqual([]);
  });

  it("the code users copy (README, examples, the demo, the demo protocol) spells no generic arguments on streamcmd calls", () => {
    const readmeCode = [...readFileSync(join(root, "README.md"), "utf8").matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1] ?? "");
    const userSources = sources.filter((path) => /(packages\/(examples|demo-protocol)|apps\/bot-server|transport-connect\/src\/examples)\//.test(path));
    expect(userSources.length).toBeGreaterThan(10);
    const offenders = [...readmeCode.map((code, i) => [`README block ${i + 1}`, code] as const), ...userSources.map((path) => [relative(root, path), readFileSync(path, "utf8")] as const)]
      .filter(([, code]) => streamcmdCalls.test(code))
      .map(([where]) => where);
    expect(offenders).toEqual([]);
  });

  it("the README's examples need no casts", () => {
    const readmeCode = [...readFileSync(join(root, "README.md"), "utf8").matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1] ?? "");
    expect(readmeCode.filter((code) => /\bas (unknown|never|any|[A-Z]\w*)\b/.test(code))).toEqual([]);
  });
});
