import { afterEach, describe, expect, it } from "vitest";
import { createHarness, failWith, neverReply, testProtocol, type TestCommand } from "@streamcmd/testing";
import type { CommandSettledEvent } from "./index.js";

const ping: TestCommand = { op: "ping" };
const harnesses: { close(): Promise<void> }[] = [];
afterEach(async () => void (await Promise.all(harnesses.splice(0).map((h) => h.close()))));

function harness() {
  const h = createHarness(testProtocol, {});
  harnesses.push(h);
  const events: CommandSettledEvent[] = [];
  h.service.onCommandSettled((event) => events.push(event));
  return { h, events };
}

describe("onCommandSettled: every sent command's outcome and round trip, for metrics", () => {
  it("a reply is ok, a client's failure command_failed, a timeout command_timeout, an absent client client_not_connected", async () => {
    const { h, events } = harness();
    await h.connect("good");
    await h.connect("bad", { behaviour: failWith("boom", "it broke") });
    await h.connect("mute", { behaviour: neverReply() });
    await h.service.send("good", ping, { caller: "ops" });
    await h.service.send("bad", ping).catch(() => {});
    await h.service.send("mute", ping, { timeoutMs: 20 }).catch(() => {});
    await h.service.send("absent", ping).catch(() => {});
    expect(events.map(({ clientId, outcome }) => [clientId, outcome])).toEqual([
      ["good", "ok"],
      ["bad", "command_failed"],
      ["mute", "command_timeout"],
      ["absent", "client_not_connected"],
    ]);
    expect(events.map((event) => event.caller)).toEqual(["ops", undefined, undefined, undefined]);
    expect(events[2]?.durationMs).toBeGreaterThanOrEqual(15);
    for (const event of events) expect(event.durationMs).toBeGreaterThanOrEqual(0);
  });

  it("a broadcast reports each client's command; a listener that throws breaks nothing", async () => {
    const { h, events } = harness();
    h.service.onCommandSettled(() => {
      throw new Error("a broken metrics exporter");
    });
    await h.connect("a");
    await h.connect("b");
    const outcomes = await h.service.broadcast(ping);
    expect(outcomes.map((outcome) => outcome.ok)).toEqual([true, true]);
    expect(events.map((event) => event.clientId).sort()).toEqual(["a", "b"]);
  });

  it("a removed listener hears nothing more", async () => {
    const { h } = harness();
    const heard: CommandSettledEvent[] = [];
    const stop = h.service.onCommandSettled((event) => heard.push(event));
    await h.connect("a");
    await h.service.send("a", ping);
    stop();
    await h.service.send("a", ping);
    expect(heard).toHaveLength(1);
  });
});
