import { installRemoteRouter } from "@streamcmd/transport-connect";
import { createBotClient } from "@streamcmd/demo-protocol";

export async function startFromAnotherProcess(options: { serverUrl: string; ca: string; token: string; botId: string }) {
  // Once per process: the router that reaches the server when the service is not in this process.
  const uninstall = installRemoteRouter({ baseUrl: options.serverUrl, tls: { ca: options.ca }, token: options.token });
  try {
    const bot = createBotClient({ clientId: options.botId, defaultTimeoutMs: 2_000 });
    const reply = await bot.start({ reason: "market open" }); // a StartReply, as in the server's process
    return { mode: bot.mode, status: reply.status, detail: reply.detail };
  } finally {
    await uninstall();
  }
}
