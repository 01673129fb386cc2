import { createCommandClient, createStreamingService, registerStreamingService } from "@streamcmd/core";
import { botCommands, botService } from "@streamcmd/demo-protocol";

export function startHub() {
  const bots = createStreamingService(botService, { maxQueueSize: 256, heartbeatTimeoutMs: 45_000 });
  const unregister = registerStreamingService(bots);
  // A transport hands each client stream to the hub and writes out what it returns:
  //   const outgoing = bots.handleStream(incomingMessages, { signal });
  return { bots, unregister };
}

// Anywhere in the process (or, with a remote router, in any other process):
export async function startBot7() {
  const bot7 = createCommandClient(botService, { clientId: "bot-7", defaultTimeoutMs: 2_000 });
  const result = await bot7.send(botCommands.start("market open"), { signal: AbortSignal.timeout(10_000) }); // a CommandResult
  return { mode: bot7.mode, result };
}
