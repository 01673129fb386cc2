import { afterEach, describe, expect, it } from "vitest";
import { create } from "@bufbuild/protobuf";
import { CommandFailedError, ClientDisconnectedError, type DisconnectEvent } from "@streamcmd/core";
import { createConnectRouter } from "@connectrpc/connect";
import { createStreamingService } from "@streamcmd/core";
import { testService } from "@streamcmd/testing";
import * as demoBot from "@streamcmd/demo-protocol";
import { createStreamHandler } from "./index.js";
import { startCommand, testScope } from "./test-support/bot-server.js";

const scope = testScope();
afterEach(() => scope.closeAll());
const server = scope.server;
const agent = scope.agent;

describe("stream handler over real HTTP/2", () => {
  it("a same-process send reaches an agent through a real stream and resolves with its reply", async () => {
    const { hub, url } = await server();
    const connected = hub.waitForClient("bot-1", { timeoutMs: 5_000 });
    agent(url, "bot-1");
    const info = await connected;
    expect(info.metadata).toEqual({ version: "test" });
    const reply = await hub.send("bot-1", startCommand("open market"));
    expect(reply.reply).toEqual({ case: "start", value: expect.objectContaining({ detail: "bot-1:start:open market" }) });
  });

  it("a handler that throws answers with a failure, and the stream keeps working", async () => {
    const { hub, url } = await server();
    let calls = 0;
    agent(url, "bot-1", {
      onCommand: (command) => {
        calls++;
        if (command.command.case === "stop") throw Object.assign(new Error("positions still open"), { code: "not_flat" });
        if (command.command.case === "ping") throw new Error("plain failure");
        return create(demoBot.CommandResultSchema, { reply: { case: "start", value: {} } });
      },
    });
    await hub.waitForClient("bot-1", { timeoutMs: 5_000 });
    const stop = create(demoBot.ConnectResponseSchema, { command: { case: "stop", value: { graceful: true } } });
    const failure = (await hub.send("bot-1", stop).catch((e: unknown) => e)) as CommandFailedError;
    expect(failure).toBeInstanceOf(CommandFailedError);
    expect([failure.clientErrorCode, failure.clientErrorMessage]).toEqual(["not_flat", "positions still open"]);
    const ping = create(demoBot.ConnectResponseSchema, { command: { case: "ping", value: {} } });
    await expect(hub.send("bot-1", ping)).rejects.toMatchObject({ clientErrorCode: "handler_error" });
    expect((await hub.send("bot-1", startCommand("again"))).reply.case).toBe("start");
    expect(calls).toBe(3);
  });

  it("closing an agent ends its stream cleanly: the hub sees client_closed and rejects what was pending", async () => {
    const { hub, url } = await server();
    const disconnects: DisconnectEvent[] = [];
    hub.onDisconnect((event) => disconnects.push(event));
    let handed = false;
    const bot = agent(url, "bot-1", {
      onCommand: () => {
        handed = true;
        return new Promise(() => {});
      },
    });
    await bot.waitUntilConnected();
    const pending = hub.send("bot-1", startCommand("never answered")).catch((e: unknown) => e);
    await expect.poll(() => handed).toBe(true); // the bot has it and is working on it
    await bot.close();
    expect(bot.state).toBe("closed");
    expect(await pending).toBeInstanceOf(ClientDisconnectedError);
    await expect.poll(() => disconnects.map((d) => d.reason)).toEqual(["client_closed"]);
    expect(hub.stats().pendingCommands).toBe(0);
  });

  it("is typed by its hub: a hub of another protocol does not compile on a method (checked by tsc)", async () => {
    const { hub } = await server();
    const other = createStreamingService(testService);
    const router = createConnectRouter();
    router.service(demoBot.BotService, { connect: createStreamHandler(hub, { allowUnauthenticated: true }) });
    // @ts-expect-error — the test protocol's hub reads and writes other messages than BotService.Connect.
    router.service(demoBot.BotService, { connect: createStreamHandler(other, { allowUnauthenticated: true }) });
    await other.close();
  });

  it("refuses to be made without authentication, unless asked for explicitly", async () => {
    const { hub } = await server();
    expect(() => createStreamHandler(hub)).toThrow(/needs authenticate \(tokenAuthenticator\(verifier\) or certificateAuthenticator\(\)\), or allowUnauthenticated: true/);
  });
});
