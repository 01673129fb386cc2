import { connect } from "@nats-io/transport-node";
import { createStreamingService } from "@streamcmd/core";
import {
  CommandRouterService,
  createCommandRouter,
  createStreamHandler,
  createTokenVerifier,
  startServer,
  streamRouteOptions,
  tokenAuthenticator,
  tokenCallerAuthenticator,
  type ServerTlsOptions,
} from "@streamcmd/transport-connect";
import { createNatsNode } from "@streamcmd/transport-nats";
import { BotService, botService, createBotClient } from "@streamcmd/demo-protocol";

// On every server node: its hub, its HTTP/2 server, and its place in the cluster.
export async function startClusterNode(options: { nodeId: string; natsUrl: string; natsPassword: string; port: number; tls: ServerTlsOptions; tokenPublicKey: string }) {
  const tokens = createTokenVerifier({ publicKey: options.tokenPublicKey });
  const bots = createStreamingService(botService, { heartbeatTimeoutMs: 30_000 });
  // The cluster bus: a NATS user that only server nodes have (see Security).
  const nats = await connect({ servers: options.natsUrl, user: "node", pass: options.natsPassword });
  const node = await createNatsNode({ nats, services: [bots], nodeId: options.nodeId });
  const server = await startServer({
    port: options.port,
    tls: options.tls,
    routes(router) {
      router.service(BotService, { connect: createStreamHandler(bots, { authenticate: tokenAuthenticator(tokens) }) }, streamRouteOptions());
      // `router: node.router`: a caller pointed at any node reaches every bot of the cluster.
      router.service(CommandRouterService, createCommandRouter({ services: [bots], router: node.router, authenticate: tokenCallerAuthenticator(tokens) }));
    },
  });
  return {
    bots,
    node,
    server,
    async close() {
      await node.close(); // stops taking commands, answers those it took, says goodbye
      await server.close();
      await bots.close();
      await nats.close();
    },
  };
}

// Anywhere with access to the bus (a worker): a node that holds no bots, only calls them.
export async function startBotAnywhere(options: { natsUrl: string; natsPassword: string; botId: string }) {
  const nats = await connect({ servers: options.natsUrl, user: "node", pass: options.natsPassword });
  const node = await createNatsNode({ nats });
  try {
    const bot = createBotClient({ clientId: options.botId, router: node.router });
    const reply = await bot.start({ reason: "market open" }); // on whichever node holds the bot
    return reply.detail;
  } finally {
    await node.close();
    await nats.close();
  }
}
