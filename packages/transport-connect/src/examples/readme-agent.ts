import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { connectAgent } from "@streamcmd/transport-connect";
import { demoBot } from "@streamcmd/testing";

const { BotService, BotStatus, CommandResultSchema, ConnectRequestSchema } = demoBot;
const send = (message: MessageInitShape<typeof ConnectRequestSchema>["message"]) => create(ConnectRequestSchema, { message });

export function runBot(baseUrl: string, botId: string) {
  return connectAgent({
    baseUrl,
    method: BotService.method.connect,
    hello: send({ case: "hello", value: { botId, version: "1.0.0" } }),
    binding: {
      readCommand: (message) => ({ commandId: message.commandId, command: message }),
      success: (commandId, result: demoBot.CommandResult) => send({ case: "result", value: { ...result, commandId } }),
      failure: (commandId, code, message) => send({ case: "result", value: { commandId, outcome: { case: "failure", value: { code, message } } } }),
      heartbeat: () => send({ case: "heartbeat", value: { status: BotStatus.RUNNING } }),
    },
    onCommand: async (command) =>
      create(CommandResultSchema, { outcome: { case: "success", value: { detail: `${botId} did ${command.command.case}` } }, status: BotStatus.RUNNING }),
    heartbeatIntervalMs: 5_000,
    reconnect: { initialDelayMs: 200, maxDelayMs: 10_000, jitter: 0.2 },
  });
}
