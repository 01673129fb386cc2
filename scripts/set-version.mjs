#!/usr/bin/env node
// `node scripts/set-version.mjs 0.2.0`: one version for the whole workspace. Every package (and the
// root) gets it; the packages depend on each other with workspace:*, which pnpm pack turns into this
// exact version, so a user always installs a set that was tested together.
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const version = process.argv[2];
if (!/^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/.test(version ?? "")) {
  console.error("usage: node scripts/set-version.mjs <semver, e.g. 0.2.0>");
  process.exit(2);
}
const root = fileURLToPath(new URL("..", import.meta.url));
const manifests = [join(root, "package.json"), ...["packages", "apps"].flatMap((dir) => readdirSync(join(root, dir)).map((name) => join(root, dir, name, "package.json")))];
for (const path of manifests) {
  const manifest = JSON.parse(readFileSync(path, "utf8"));
  manifest.version = version;
  writeFileSync(path, `${JSON.stringify(manifest, null, 2)}\n`);
}
// The README's install lines name the tarballs `./dev pack` makes, which carry the version.
const readme = join(root, "README.md");
writeFileSync(readme, readFileSync(readme, "utf8").replace(/(streamcmd-[a-z-]+?-)\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+?)?\.tgz/g, `$1${version}.tgz`));
console.log(`${manifests.length} package.json files and the README at ${version}`);
