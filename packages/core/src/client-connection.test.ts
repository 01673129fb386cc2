import { afterEach, describe, expect, it, vi } from "vitest";
import { ClientConnection } from "./client-connection.js";
import { ProtocolError } from "./errors.js";

afterEach(() => {
  vi.useRealTimers();
});

describe("ClientConnection", () => {
  it("goes handshake → open with its identity, a copy of its metadata and the admission time", () => {
    const connection = new ClientConnection<string>(4, 1_000, undefined);
    expect(connection.state).toBe("handshake");
    const metadata = { version: "1" };
    connection.open({ clientId: "bot-1", metadata }, 2_000);
    metadata.version = "changed";
    expect(connection.state).toBe("open");
    connection.pendingIds.add("c1");
    expect(connection.info()).toMatchObject({ clientId: "bot-1", metadata: { version: "1" }, pendingCommands: 1, connectedAt: new Date(2_000) });
  });

  it("fires the hello timer unless opened in time, and opening stops it", async () => {
    vi.useFakeTimers();
    const late = new ClientConnection<string>(4, 0, undefined);
    const expired: string[] = [];
    late.startHelloTimer(100, () => expired.push("late"));
    const prompt = new ClientConnection<string>(4, 0, undefined);
    prompt.startHelloTimer(100, () => expired.push("prompt"));
    prompt.open({ clientId: "p" }, 50);
    await vi.advanceTimersByTimeAsync(100);
    expect(expired).toEqual(["late"]);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("closes once: ends its queue with the stream error, stops reading, remembers why", async () => {
    const connection = new ClientConnection<string>(4, 0, undefined);
    connection.queue.tryPush("discarded");
    const error = new ProtocolError("bad");
    expect(connection.close({ reason: "protocol_error", error }, error)).toBe(true);
    expect(connection.close({ reason: "client_closed", error: undefined }, undefined)).toBe(false);
    expect([connection.closed, connection.stopReading.signal.aborted, connection.ended?.reason]).toEqual([true, true, "protocol_error"]);
    await expect(connection.queue.next()).rejects.toBe(error);
  });

  it("a clean close ends the outbound stream without an error", async () => {
    const connection = new ClientConnection<string>(4, 0, undefined);
    connection.close({ reason: "client_closed", error: undefined }, undefined);
    expect(await connection.queue.next()).toEqual({ value: undefined, done: true });
  });
});
