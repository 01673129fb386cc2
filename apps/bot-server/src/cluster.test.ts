// `./dev demo:cluster` as a user runs it: a NATS server, three node processes, a fleet, the tour (built dist/).
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";

const dist = fileURLToPath(new URL("../dist/", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "streamcmd-cluster-demo-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("the cluster demo", () => {
  it("runs its tour: a command from node A to a bot on node C, presence across nodes, node C killed and its bots commanded on the others", async () => {
    const { stdout } = await promisify(execFile)(process.execPath, [join(dist, "cluster-main.js"), "--data", join(dir, "data"), "--bots", "4", "--exit-after-tour"], {
      cwd: dir,
      timeout: 90_000,
    });
    expect(stdout).toMatch(/✓ three nodes on the bus .* node-a, node-b, node-c/);
    expect(stdout).toMatch(/✓ from node-a: start bot-\d+ \(on node-c\)/);
    expect(stdout).toMatch(/✓ node-c's bots reconnect to the others .*@node-[ab]/);
    expect(stdout).toMatch(/✓ from node-a: ping bot-\d+ again/);
    expect(stdout).toContain("cluster tour complete: every step succeeded");
    expect(stdout).not.toContain("✗");
  }, 120_000);
});
