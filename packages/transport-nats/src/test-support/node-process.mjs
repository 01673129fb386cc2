// Run by cluster-processes.test.ts as a separate OS process, against the built packages (dist/), so a
// test can kill -9 or SIGSTOP a whole server node: a hub for the demo bot service, its HTTP/2 server
// (plaintext on loopback, no credentials: these tests are about the cluster) and its cluster node.
// Arguments: the NATS URL and the node id. Prints the server's URL once it serves.
import { connect } from "@nats-io/transport-node";
import { createStreamingService } from "@streamcmd/core";
import { botService, BotService } from "@streamcmd/demo-protocol";
import { CommandRouterService, createCommandRouter, createStreamHandler, startServer } from "@streamcmd/transport-connect";
import { createNatsNode } from "@streamcmd/transport-nats";

const [natsUrl, nodeId] = process.argv.slice(2);
const bots = createStreamingService(botService, { heartbeatTimeoutMs: 2_000 });
const nats = await connect({ servers: natsUrl });
const node = await createNatsNode({ nats, services: [bots], nodeId, heartbeatIntervalMs: 200, nodeLostAfterMs: 1_000 });
const server = await startServer({
  routes(router) {
    router.service(BotService, { connect: createStreamHandler(bots, { allowUnauthenticated: true }) });
    router.service(CommandRouterService, createCommandRouter({ services: [bots], router: node.router, allowUnauthenticated: true }));
  },
});
console.log(server.url);
