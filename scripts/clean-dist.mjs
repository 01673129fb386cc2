// Removes a package's dist/ before tsc builds it: tsc never deletes what it no longer emits, and a
// stale module would ship in the package.
import { rmSync } from "node:fs";
rmSync("dist", { recursive: true, force: true });
