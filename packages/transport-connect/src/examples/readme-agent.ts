import { create } from "@bufbuild/protobuf";
import { connectAgent } from "@streamcmd/transport-connect";
import { BotService, BotStatus, CommandResultSchema, demoBotClientBinding } from "@streamcmd/demo-protocol";

export function runBot(options: { baseUrl: string; ca: string; botId: string; token: string }) {
  const { botId } = options;
  return connectAgent({
    baseUrl: options.baseUrl, // https://…
    tls: { ca: options.ca }, // the CA that issued the server's certificate
    token: options.token, // sub = botId, aud = "bots"; a function here can hand out a fresh one on each reconnect
    method: BotService.method.connect,
    clientId: botId,
    metadata: { version: "1.0.0" },
    binding: demoBotClientBinding, // the bot side of the protocol: hello, welcome, results, heartbeats
    onCommand: async (command) =>
      create(CommandResultSchema, { outcome: { case: "success", value: { detail: `${botId} did ${command.command.case}` } }, status: BotStatus.RUNNING }),
    heartbeatIntervalMs: 5_000,
    reconnect: { initialDelayMs: 200, maxDelayMs: 10_000, jitter: 0.2 },
  });
}
