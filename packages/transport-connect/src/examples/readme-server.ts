import { createStreamingService, registerStreamingService } from "@streamcmd/core";
import { CommandRouterService, createCommandRouter, createStreamHandler, startServer } from "@streamcmd/transport-connect";
// The demo bot protocol (proto/demo/bot/v1) and its service definition; yours would be your own.
import { BotService, botService } from "@streamcmd/demo-protocol";

export async function startBotServer(port = 50051) {
  // The hub of connected bots, reachable from anywhere in this process.
  const bots = createStreamingService(botService, { heartbeatTimeoutMs: 30_000 });
  registerStreamingService(bots);

  const server = await startServer({
    port,
    routes(router) {
      router.service(BotService, { connect: createStreamHandler(bots) }); // bots connect here
      router.service(CommandRouterService, createCommandRouter({ services: [bots] })); // other processes call here
    },
  });
  return { bots, server };
}
