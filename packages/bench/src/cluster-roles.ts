// Bench workers of the cluster scenario: a server node joined to a cluster on NATS, whose timing
// loops send through the node's router (its own bots in memory, the others' over NATS).
import { connect } from "@nats-io/transport-node";
import { createCommandClient, createStreamingService, type StreamingCommandClient } from "@streamcmd/core";
import { delay } from "@streamcmd/core/internal";
import { BotService, botService, type CommandResult, type ConnectResponse } from "@streamcmd/demo-protocol";
import { CommandRouterService, createCommandRouter, createStreamHandler, startServer } from "@streamcmd/transport-connect";
import { createNatsNode } from "@streamcmd/transport-nats";
import { serveWorker } from "./ipc.js";
import { benchCommand } from "./payload.js";
import { benchLimits, loops, type Send } from "./worker-kit.js";

/** The cluster roles, reading their arguments from `args`. */
export function clusterRoles(args: Record<string, unknown>): Record<string, () => Promise<void>> {
  return {
    async "cluster-node"() {
      const hub = createStreamingService(botService, { heartbeatTimeoutMs: 0, maxQueueSize: 1024 });
      const nats = await connect({ servers: String(args["natsUrl"]) });
      const node = await createNatsNode({ nats, services: [hub], nodeId: String(args["nodeId"]) });
      const server = await startServer({
        limits: benchLimits,
        routes(router) {
          router.service(BotService, { connect: createStreamHandler(hub, { allowUnauthenticated: true }) });
          router.service(CommandRouterService, createCommandRouter({ services: [hub], router: node.router, allowUnauthenticated: true }));
        },
      });
      const command = benchCommand();
      const clients = new Map<string, StreamingCommandClient<ConnectResponse, CommandResult>>();
      const send: Send = (target) => {
        let client = clients.get(target);
        if (client === undefined) {
          client = createCommandClient(botService, { clientId: target, router: node.router });
          clients.set(target, client);
        }
        return client.send(command);
      };
      serveWorker(
        { url: server.url },
        loops(send, {
          waitClients: async (a) => {
            while (hub.clients().length < Number(a["count"])) await delay(50);
            return hub.clients().length;
          },
          waitCluster: async (a) => {
            while ((await node.listClients(botService)).length < Number(a["count"])) await delay(100);
            return true;
          },
        }),
      );
    },
  };
}
