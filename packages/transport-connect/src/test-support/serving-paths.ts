// Internal test support: the two ways startServer serves the library's bidi streams, for protocol
// tests that run every case on both (`describe.each(servingPaths)`) so the two cannot drift apart.
import { create } from "@bufbuild/protobuf";
import { anyPack, anyUnpack } from "@bufbuild/protobuf/wkt";
import type { Client } from "@connectrpc/connect";
import { expect } from "vitest";
import * as demoBot from "@streamcmd/demo-protocol";
import { botService } from "@streamcmd/demo-protocol";
import type { Agent, CommandRouterService } from "../index.js";
import type { BotServer, testScope } from "./bot-server.js";

/** The lean path (the library's own HTTP/2 stream serving) and connect-node's, as `startServer({ leanStreams })` picks. */
export const servingPaths = [
  { path: "lean", leanStreams: true },
  { path: "connect-node", leanStreams: false },
] as const;

/** The request paths of the two bidi methods the lean path serves. */
export const botStreamPath = "/demo.bot.v1.BotService/Connect";
export const executeStreamPath = "/streamcmd.v1.CommandRouterService/ExecuteStream";

/** A well-behaved agent next to whatever a test does: it must keep working. */
export async function bystander(scope: ReturnType<typeof testScope>, bots: BotServer): Promise<Agent> {
  const agent = scope.agent(bots.url, "bystander");
  await bots.hub.waitForClient("bystander", { timeoutMs: 5_000 });
  return agent;
}

/** Fails unless the bystander still answers a command. */
export async function bystanderStillWorks(bots: BotServer): Promise<void> {
  const reply = await bots.hub.send("bystander", demoBot.botCommands.start({ reason: "still here?" }), { timeoutMs: 5_000 });
  expect(reply.reply).toMatchObject({ case: "start", value: { detail: "bystander:start:still here?" } });
}

/** A bot's answer to `command`: a start reply carrying `detail`. */
export function startReply(command: demoBot.ConnectResponse, detail: string): demoBot.CommandResult {
  return create(demoBot.CommandResultSchema, { commandId: command.commandId, reply: { case: "start", value: { status: demoBot.BotStatus.RUNNING, detail } } });
}

/** One ExecuteStream call of a start command to `clientId`. */
export function executeCall(callId: bigint, clientId: string, reason: string, timeoutMs = 5_000) {
  const command = anyPack(demoBot.ConnectResponseSchema, demoBot.botCommands.start({ reason }));
  return { callId, kind: { case: "execute" as const, value: { service: botService.name, clientId, command, timeoutMs } } };
}

/**
 * Sends `calls` in one ExecuteStream message, ends the request side, and reads every answer: a
 * reply as its start detail, an error as `code: message`. Rejects if the stream itself fails.
 */
export async function executeStream(client: Client<typeof CommandRouterService>, calls: ReturnType<typeof executeCall>[]): Promise<Map<bigint, string>> {
  const answers = new Map<bigint, string>();
  const requests = (async function* () {
    yield { calls };
  })();
  for await (const response of client.executeStream(requests)) {
    for (const result of response.results) {
      if (result.outcome.case === "reply") {
        const reply = anyUnpack(result.outcome.value.reply!, demoBot.CommandResultSchema)?.reply;
        answers.set(result.callId, reply?.case === "start" ? reply.value.detail : `a ${reply?.case ?? "missing"} reply`);
      } else {
        answers.set(result.callId, `${result.outcome.value?.code ?? "no outcome"}: ${result.message}`);
      }
    }
  }
  return answers;
}
