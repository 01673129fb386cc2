import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Agent } from "./index.js";
import { startAgent, startBotServer, startCommand, type BotServer } from "./test-support/bot-server.js";

let bots: BotServer;
const agents: Agent[] = [];

beforeAll(async () => {
  bots = await startBotServer({ serviceOptions: { maxQueueSize: 256 } });
  // Every agent on its own HTTP/2 connection, as real bots would be.
  for (let i = 0; i < 100; i++) agents.push(startAgent(bots.url, `bot-${i}`, { maxConcurrentCommands: 100 }));
  await Promise.all(agents.map((_, i) => bots.hub.waitForClient(`bot-${i}`, { timeoutMs: 30_000 })));
}, 60_000);

afterAll(async () => {
  await Promise.all(agents.map((agent) => agent.close()));
  await bots.close();
});

describe("load over real HTTP/2", () => {
  it("100 agents × 100 concurrent commands each: every command settles once with its own reply", async () => {
    let settled = 0;
    const outcomes = await Promise.all(
      agents.flatMap((_, a) =>
        Array.from({ length: 100 }, async (__, c) => {
          const reply = await bots.hub.send(`bot-${a}`, startCommand(`${a}/${c}`), { timeoutMs: 30_000 });
          settled++;
          return reply.reply.case === "start" ? reply.reply.value.detail : "failed";
        }),
      ),
    );
    expect(settled).toBe(10_000);
    const expected = agents.flatMap((_, a) => Array.from({ length: 100 }, (__, c) => `bot-${a}:start:${a}/${c}`));
    expect(outcomes).toEqual(expected);
    expect(bots.hub.stats()).toMatchObject({ pendingCommands: 0, repliesOk: 10_000, unknownReplies: 0, lateReplies: 0 });
    expect(bots.server.sessionsAccepted).toBe(100);
  }, 60_000);
});
