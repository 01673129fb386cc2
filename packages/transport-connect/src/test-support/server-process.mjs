// Run by faults.test.ts as a separate OS process, against the built packages (dist/), so a test can
// kill -9 it: a bot server (no credentials, loopback) whose bot "bot-silent" never answers. Prints its
// URL on the first line.
import { createStreamingService } from "@streamcmd/core";
import { BotService, botService } from "@streamcmd/demo-protocol";
import { createHarness, demoBotProtocol, neverReply } from "@streamcmd/testing";
import { CommandRouterService, createCommandRouter, createStreamHandler, startServer } from "@streamcmd/transport-connect";

const hub = createStreamingService(botService, { maxPendingPerClient: 100_000, maxQueueSize: 100_000 });
const server = await startServer({
  routes(router) {
    router.service(BotService, { connect: createStreamHandler(hub, { allowUnauthenticated: true }) });
    router.service(CommandRouterService, createCommandRouter({ services: [hub], allowUnauthenticated: true }));
  },
});
await createHarness(demoBotProtocol, { service: hub }).connect("bot-silent", { behaviour: neverReply() });
console.log(server.url);
