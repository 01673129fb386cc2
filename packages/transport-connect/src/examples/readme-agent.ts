import { create } from "@bufbuild/protobuf";
import { connectAgent } from "@streamcmd/transport-connect";
import { BotService, BotStatus, CommandResultSchema, ConnectRequestSchema, type CommandResult } from "@streamcmd/demo-protocol";

export function runBot(baseUrl: string, botId: string) {
  return connectAgent({
    baseUrl,
    method: BotService.method.connect,
    hello: create(ConnectRequestSchema, { message: { case: "hello", value: { botId, version: "1.0.0" } } }),
    binding: {
      readCommand: (message) => ({ commandId: message.commandId, command: message }),
      success: (commandId, result: CommandResult) =>
        create(ConnectRequestSchema, { message: { case: "result", value: { ...result, commandId } } }),
      failure: (commandId, code, message) =>
        create(ConnectRequestSchema, { message: { case: "result", value: { commandId, outcome: { case: "failure", value: { code, message } } } } }),
      heartbeat: () => create(ConnectRequestSchema, { message: { case: "heartbeat", value: { status: BotStatus.RUNNING } } }),
    },
    onCommand: async (command) =>
      create(CommandResultSchema, { outcome: { case: "success", value: { detail: `${botId} did ${command.command.case}` } }, status: BotStatus.RUNNING }),
    heartbeatIntervalMs: 5_000,
    reconnect: { initialDelayMs: 200, maxDelayMs: 10_000, jitter: 0.2 },
  });
}
