import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { afterEach, describe, expect, it } from "vitest";
import { createCommandClient } from "@streamcmd/core";
import { botService, type ConnectResponse } from "@streamcmd/demo-protocol";
import { createRemoteRouter } from "./index.js";
import { resultFor, startCommand, testScope } from "./test-support/bot-server.js";

// A real collection, so what is still reachable can be told apart from what merely was not collected yet.
setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;
async function collect(): Promise<void> {
  for (let i = 0; i < 4; i++) {
    await new Promise((resolve) => setImmediate(resolve));
    gc();
  }
}

const scope = testScope();
afterEach(() => scope.closeAll());

/**
 * connect-es 2.3's client kept every message a long-lived stream received (each read raced against a
 * promise living as long as the call: connect-es #1524) — 300 MB of heap after a million commands.
 * The agent's stream and the remote router's ExecuteStream now run on their own HTTP/2 client.
 */
describe("long-lived streams keep nothing they have handled", () => {
  it("an agent's stream: the commands it has answered are garbage, while it stays connected", async () => {
    const bots = await scope.server();
    const seen: WeakRef<ConnectResponse>[] = [];
    scope.agent(bots.url, "bot-1", {
      onCommand: (command) => {
        seen.push(new WeakRef(command));
        return resultFor(command, "bot-1");
      },
    });
    await bots.hub.waitForClient("bot-1", { timeoutMs: 5_000 });
    for (let round = 0; round < 20; round++) {
      await Promise.all(Array.from({ length: 100 }, (_, i) => bots.hub.send("bot-1", startCommand(`${round}-${i}`))));
    }
    expect(seen).toHaveLength(2_000);
    await collect();
    const alive = seen.filter((ref) => ref.deref() !== undefined).length;
    expect(alive).toBeLessThan(20);
    expect(bots.hub.isConnected("bot-1")).toBe(true);
  });

  it("the remote router's ExecuteStream: the answers it has handed over are garbage, while the stream stays open", async () => {
    const bots = await scope.server();
    scope.agent(bots.url, "bot-1");
    await bots.hub.waitForClient("bot-1", { timeoutMs: 5_000 });
    const router = createRemoteRouter({ baseUrl: bots.url });
    scope.defer(() => router.close());
    const client = createCommandClient(botService, { clientId: "bot-1", router });
    const reason = "x".repeat(8 * 1024); // each answer carries it back: 8 KiB per answer
    const round = () => Promise.all(Array.from({ length: 100 }, () => client.send(startCommand(reason))));
    await round(); // the stream is open, the code warm
    await collect();
    const before = process.memoryUsage().heapUsed;
    for (let i = 0; i < 30; i++) await round(); // 3,000 answers: 24 MiB if they were kept
    await collect();
    const grownMiB = (process.memoryUsage().heapUsed - before) / 2 ** 20;
    expect(grownMiB).toBeLessThan(8);
    expect(bots.server.sessionsAccepted).toBe(2); // the agent's connection and the router's: one stream all along
  });
});
