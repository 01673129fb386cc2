import { createCommandClient } from "@streamcmd/core";
import { installRemoteRouter } from "@streamcmd/transport-connect";
import { botCommands, botService } from "@streamcmd/demo-protocol";

export async function startFromAnotherProcess(options: { serverUrl: string; ca: string; token: string; botId: string }) {
  // Once per process: the router that reaches the server when the service is not in this process.
  const uninstall = installRemoteRouter({ baseUrl: options.serverUrl, tls: { ca: options.ca }, token: options.token });
  try {
    const bot = createCommandClient(botService, { clientId: options.botId, defaultTimeoutMs: 2_000 });
    const result = await bot.send(botCommands.start("market open")); // a CommandResult: the type comes from botService
    return { mode: bot.mode, status: result.status, outcome: result.outcome };
  } finally {
    await uninstall();
  }
}
