// Bundles the dashboard page (dashboard/app.tsx, Preact and uPlot) into dist/dashboard with esbuild:
// one script, one stylesheet and the HTML, served by the demo server — nothing from a CDN.
import { copyFileSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const app = join(dirname(fileURLToPath(import.meta.url)), "..");
const out = join(app, "dist", "dashboard");
mkdirSync(out, { recursive: true });
await build({
  entryPoints: { app: join(app, "dashboard", "app.tsx") },
  bundle: true,
  format: "esm",
  target: "es2022",
  minify: true,
  sourcemap: true,
  jsx: "automatic",
  jsxImportSource: "preact",
  outdir: out,
  logLevel: "warning",
});
copyFileSync(join(app, "dashboard", "index.html"), join(out, "index.html"));
