import { afterEach, describe, expect, it, vi } from "vitest";
import { HeartbeatMonitor } from "./heartbeat-monitor.js";

afterEach(() => {
  vi.useRealTimers();
});

function monitor(timeoutMs: number, connections: { id: string; lastSeenAt: number }[], silent: string[]) {
  return new HeartbeatMonitor({
    timeoutMs,
    now: Date.now,
    connections: () => connections,
    lastSeenAt: (c) => c.lastSeenAt,
    onSilent: (c) => silent.push(c.id),
  });
}

describe("HeartbeatMonitor", () => {
  it("reports connections silent for longer than the timeout, and only those", async () => {
    vi.useFakeTimers({ now: 10_000 });
    const silent: string[] = [];
    const connections = [
      { id: "quiet", lastSeenAt: 10_000 },
      { id: "chatty", lastSeenAt: 10_000 },
    ];
    const heartbeat = monitor(4_000, connections, silent);
    heartbeat.start();
    for (let i = 0; i < 5; i++) {
      await vi.advanceTimersByTimeAsync(1_000);
      connections[1]!.lastSeenAt = Date.now();
    }
    heartbeat.stop();
    expect(silent).toEqual(["quiet"]);
  });

  it("sweeps at a quarter of the timeout, at least every 10 ms and at most every second", () => {
    vi.useFakeTimers();
    const heartbeat = monitor(40, [], []);
    heartbeat.start();
    heartbeat.start(); // idempotent: one timer
    expect(vi.getTimerCount()).toBe(1);
    heartbeat.stop();
    expect([heartbeat.running, vi.getTimerCount()]).toEqual([false, 0]);
  });

  it("does nothing when the timeout is 0 (off)", () => {
    vi.useFakeTimers();
    const heartbeat = monitor(0, [], []);
    heartbeat.start();
    expect(vi.getTimerCount()).toBe(0);
  });
});
