import { createCommandClient, createStreamingService, registerStreamingService } from "@streamcmd/core";
import { botCommands, botService, createBotClient } from "@streamcmd/demo-protocol";

export function startHub() {
  const bots = createStreamingService(botService, { maxQueueSize: 256, heartbeatTimeoutMs: 45_000 });
  const unregister = registerStreamingService(bots);
  // A transport hands each client stream to the hub and writes out what it returns:
  //   const outgoing = bots.handleStream(incomingMessages, { signal });
  return { bots, unregister };
}

// Anywhere in the process (or, with a remote router, in any other process):
export async function startBot7() {
  // The generated client: one method per command, each resolving with its own reply.
  const bot7 = createBotClient({ clientId: "bot-7", defaultTimeoutMs: 2_000 });
  const reply = await bot7.start({ reason: "market open" }, { signal: AbortSignal.timeout(10_000) }); // a StartReply
  // The core's client underneath: whole server messages in, whole results out.
  const result = await createCommandClient(botService, { clientId: "bot-7" }).send(botCommands.ping()); // a CommandResult
  return { mode: bot7.mode, reply, result };
}
