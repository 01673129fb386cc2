// `./dev pack DIR`: packs every public package (built first) into DIR as npm tarballs, for
// `npm install DIR/streamcmd-core-0.1.0.tgz …` in a project outside this repository. pnpm pack
// replaces `workspace:` and `catalog:` with real versions and applies `publishConfig`.
import { execFileSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const target = process.argv[2];
if (target === undefined) {
  console.error("usage: ./dev pack DIR");
  process.exit(2);
}
const destination = resolve(process.env.INIT_CWD ?? process.cwd(), target);
mkdirSync(destination, { recursive: true });
execFileSync("pnpm", ["exec", "turbo", "run", "build", "--output-logs=errors-only"], { cwd: root, stdio: "inherit" });
for (const name of readdirSync(join(root, "packages")).sort()) {
  const manifest = JSON.parse(readFileSync(join(root, "packages", name, "package.json"), "utf8"));
  if (manifest.private) continue;
  const out = execFileSync("pnpm", ["pack", "--pack-destination", destination], { cwd: join(root, "packages", name), encoding: "utf8" });
  console.log(out.trim().split("\n").filter((line) => line.endsWith(".tgz")).at(-1));
}
