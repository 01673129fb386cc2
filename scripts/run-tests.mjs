// The test command (`./dev test`, `pnpm test`, `.ci/run`): lints the proto schema, typechecks and
// builds every package, runs every package's vitest suite, and ends with one plain line "N passed, N failed"
// derived from vitest's JSON report. Exits non-zero if any step or test failed.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const report = join(root, "test-results", "vitest.json");
const extraArgs = process.argv.slice(2);

function run(title, command, args) {
  console.log(`\n=== ${title}: ${command} ${args.join(" ")}`);
  const result = spawnSync(command, args, { cwd: root, stdio: "inherit" });
  if (result.error) console.error(result.error.message);
  return result.status === 0;
}

const failedSteps = [];
if (!run("proto lint", "pnpm", ["exec", "buf", "lint"])) failedSteps.push("buf lint");
if (!run("typecheck", "pnpm", ["exec", "turbo", "run", "typecheck", "--output-logs=errors-only"])) failedSteps.push("typecheck");
// The cross-process tests run a separate Node process on the built packages.
if (!run("build", "pnpm", ["exec", "turbo", "run", "build", "--output-logs=errors-only"])) failedSteps.push("build");

mkdirSync(dirname(report), { recursive: true });
rmSync(report, { force: true });
const vitestOk = run("tests", "pnpm", [
  "exec", "vitest", "run", "--reporter=default", "--reporter=json", `--outputFile.json=${report}`, ...extraArgs,
]);

let passed = 0;
let failed = 0;
let skipped = 0;
if (existsSync(report)) {
  const results = JSON.parse(readFileSync(report, "utf8"));
  passed = results.numPassedTests;
  failed = results.numFailedTests;
  skipped = results.numPendingTests + results.numTodoTests;
  // A suite that failed to load has no tests to count; count it as a failure.
  failed += results.testResults.filter((file) => file.status === "failed" && file.assertionResults.length === 0).length;
} else {
  failedSteps.push("vitest (no report written)");
}
if (!vitestOk && failed === 0) failedSteps.push("vitest");

failed += failedSteps.length;
console.log("");
if (failedSteps.length > 0) console.log(`failed steps: ${failedSteps.join(", ")}`);
if (skipped > 0) console.log(`${skipped} skipped`);
// CI reads this last line as it is: nothing may follow it.
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 && passed > 0 ? 0 : 1);
