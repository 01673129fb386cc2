import { createStreamingService, registerStreamingService } from "@streamcmd/core";
import { CommandRouterService, createCommandRouter, createStreamHandler, startServer } from "@streamcmd/transport-connect";
// The demo bot protocol (proto/demo/bot/v1) and its binding; yours would be your own.
import { BotService, demoBotBinding } from "@streamcmd/demo-protocol";

export async function startBotServer(port = 50051) {
  // The hub of connected bots, reachable by name from anywhere in this process.
  const bots = createStreamingService(demoBotBinding, { name: "bots", heartbeatTimeoutMs: 30_000 });
  registerStreamingService("bots", bots);

  const server = await startServer({
    port,
    routes(router) {
      router.service(BotService, { connect: createStreamHandler(bots) }); // bots connect here
      router.service(CommandRouterService, createCommandRouter({ services: { bots } })); // other processes call here
    },
  });
  return { bots, server };
}
