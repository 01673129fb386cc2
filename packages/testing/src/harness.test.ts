import { create } from "@bufbuild/protobuf";
import { afterEach, describe, expect, it } from "vitest";
import { ClientDisconnectedError, CommandFailedError, CommandTimeoutError, ProtocolError } from "@streamcmd/core";
import * as demoBot from "@streamcmd/demo-protocol";
import {
  createHarness,
  delayed,
  demoBotProtocol,
  disconnectOnCommand,
  failWith,
  neverReply,
  replyMalformed,
  replyWith,
  testProtocol,
} from "./index.js";

const closers: { close(): Promise<void> }[] = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((h) => h.close()));
});
function harness() {
  const h = createHarness(testProtocol);
  closers.push(h);
  return h;
}

describe("harness: scripted fake clients", () => {
  it("connects N clients that answer with the protocol's default reply", async () => {
    const h = harness();
    const clients = await h.connectMany(5, "bot-");
    expect(clients.map((c) => c.clientId)).toEqual(["bot-0", "bot-1", "bot-2", "bot-3", "bot-4"]);
    expect(h.service.clients()).toHaveLength(5);
    expect(await h.service.send("bot-3", { op: "x" })).toEqual({ echo: { op: "x" } });
  });

  it("replyWith answers with a computed value", async () => {
    const h = harness();
    await h.connect("a", { behaviour: replyWith((command) => command.op.toUpperCase()) });
    expect(await h.service.send("a", { op: "start" })).toBe("START");
  });

  it("failWith makes every command fail with the given code", async () => {
    const h = harness();
    await h.connect("a", { behaviour: failWith("nope", "not today") });
    await expect(h.service.send("a", { op: "x" })).rejects.toBeInstanceOf(CommandFailedError);
  });

  it("delayed answers later", async () => {
    const h = harness();
    await h.connect("a", { behaviour: delayed(40, replyWith(() => "late but fine")) });
    const started = performance.now();
    expect(await h.service.send("a", { op: "x" })).toBe("late but fine");
    expect(performance.now() - started).toBeGreaterThanOrEqual(35);
  });

  it("neverReply lets the command time out", async () => {
    const h = harness();
    await h.connect("a", { behaviour: neverReply() });
    await expect(h.service.send("a", { op: "x" }, { timeoutMs: 20 })).rejects.toBeInstanceOf(CommandTimeoutError);
  });

  it("disconnectOnCommand hangs up mid-command", async () => {
    const h = harness();
    const a = await h.connect("a", { behaviour: disconnectOnCommand() });
    await expect(h.service.send("a", { op: "x" })).rejects.toBeInstanceOf(ClientDisconnectedError);
    expect(await a.stream.ended).toEqual({});
  });

  it("replyMalformed gets the client dropped with a ProtocolError", async () => {
    const h = harness();
    const a = await h.connect("a", { behaviour: replyMalformed() });
    await expect(h.service.send("a", { op: "x" })).rejects.toBeInstanceOf(ClientDisconnectedError);
    expect((await a.stream.ended).error).toBeInstanceOf(ProtocolError);
  });

  it("behave() changes the script while connected", async () => {
    const h = harness();
    const a = await h.connect("a");
    expect(await h.service.send("a", { op: "1" })).toEqual({ echo: { op: "1" } });
    a.behave(replyWith(() => "changed"));
    expect(await h.service.send("a", { op: "2" })).toBe("changed");
    expect(a.received.map((c) => c.command.op)).toEqual(["1", "2"]);
  });

  it("connect rejects with the hub's refusal", async () => {
    const h = createHarness(testProtocol, { serviceOptions: { duplicatePolicy: "reject" } });
    closers.push(h);
    await h.connect("a");
    await expect(h.connect("a")).rejects.toThrow(/already connected/);
  });
});

describe("demo bot protocol fixture", () => {
  it("speaks demo.bot.v1 end to end through the hub", async () => {
    const h = createHarness(demoBotProtocol);
    closers.push(h);
    const bot = await h.connect("bot-7", { metadata: { version: "3.1.0" } });
    const command = create(demoBot.ConnectResponseSchema, { command: { case: "start", value: { reason: "test" } } });
    const reply = await h.service.send("bot-7", command);
    expect(reply.$typeName).toBe("demo.bot.v1.CommandResult");
    expect(reply.reply).toEqual({ case: "start", value: expect.objectContaining({ status: demoBot.BotStatus.RUNNING, detail: "done: start" }) });
    expect(bot.received[0]!.command.command.case).toBe("start");
    expect(h.service.client("bot-7")?.metadata).toEqual({ version: "3.1.0" });
  });

  it("turns a bot's failure result into CommandFailedError carrying the result", async () => {
    const h = createHarness(demoBotProtocol);
    closers.push(h);
    await h.connect("bot-7", { behaviour: failWith("already_running", "running since 09:00") });
    const command = create(demoBot.ConnectResponseSchema, { command: { case: "start", value: {} } });
    const error = (await h.service.send("bot-7", command).catch((e: unknown) => e)) as CommandFailedError;
    expect(error).toBeInstanceOf(CommandFailedError);
    expect(error.clientErrorCode).toBe("already_running");
    expect(error.reply).toMatchObject({ $typeName: "demo.bot.v1.CommandResult", reply: { case: "failure", value: { code: "already_running" } } });
  });

  it("refuses a command with nothing set, without touching the bot", async () => {
    const h = createHarness(demoBotProtocol);
    closers.push(h);
    const bot = await h.connect("bot-7");
    await expect(h.service.send("bot-7", create(demoBot.ConnectResponseSchema, {}))).rejects.toThrow(/must set one of start/);
    expect(bot.received).toHaveLength(0);
  });

  it("hands a message it cannot place (empty, or a member from a newer client) to onMessage and keeps the bot", async () => {
    const h = createHarness(demoBotProtocol);
    closers.push(h);
    const bot = await h.connect("bot-7");
    const seen: unknown[] = [];
    h.service.onMessage((clientId, message) => seen.push([clientId, message.message.case]));
    bot.send(create(demoBot.ConnectRequestSchema, {}));
    await expect.poll(() => seen).toEqual([["bot-7", undefined]]);
    expect(h.service.isConnected("bot-7")).toBe(true);
  });

  it("drops a bot whose result sets no reply", async () => {
    const h = createHarness(demoBotProtocol);
    closers.push(h);
    const bot = await h.connect("bot-7");
    bot.send(demoBot.botAgentBinding.success("c-1", create(demoBot.CommandResultSchema, {})));
    expect((await bot.stream.ended).error).toBeInstanceOf(ProtocolError);
  });
});
