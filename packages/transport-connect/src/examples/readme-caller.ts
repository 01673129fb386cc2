import { createCommandClient } from "@streamcmd/core";
import { installRemoteRouter } from "@streamcmd/transport-connect";
import { botCommands, CommandResultSchema, ConnectResponseSchema, type CommandResult, type ConnectResponse } from "@streamcmd/demo-protocol";

export async function startFromAnotherProcess(serverUrl: string, botId: string) {
  // Once per process: how to reach a server when the service is not in this process.
  const uninstall = installRemoteRouter({ schemas: [ConnectResponseSchema, CommandResultSchema] });
  try {
    const bot = createCommandClient<ConnectResponse, CommandResult>({
      clientId: botId,
      service: "bots",
      config: { remoteTarget: serverUrl, replyTimeoutMs: 2_000 }, // or STREAMCMD_URL
    });
    const result = await bot.send(botCommands.start("market open"));
    return { mode: bot.mode, status: result.status, outcome: result.outcome };
  } finally {
    await uninstall();
  }
}
