import { create } from "@bufbuild/protobuf";
import { createCommandClient } from "@streamcmd/core";
import { installRemoteRouter } from "@streamcmd/transport-connect";
import { demoBot } from "@streamcmd/testing";

const { CommandResultSchema, ConnectResponseSchema } = demoBot;

export async function startFromAnotherProcess(serverUrl: string, botId: string) {
  // Once per process: how to reach a server when the service is not in this process.
  const uninstall = installRemoteRouter({ schemas: [ConnectResponseSchema, CommandResultSchema] });
  try {
    const bot = createCommandClient<demoBot.ConnectResponse, demoBot.CommandResult>({
      clientId: botId,
      service: "bots",
      config: { remoteTarget: serverUrl, replyTimeoutMs: 2_000 }, // or STREAMCMD_URL
    });
    const result = await bot.send(create(ConnectResponseSchema, { command: { case: "start", value: { reason: "market open" } } }));
    return { mode: bot.mode, status: result.status, outcome: result.outcome };
  } finally {
    await uninstall();
  }
}
