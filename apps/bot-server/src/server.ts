import { createStreamingService, registerStreamingService, type Logger, type StreamingServiceOf } from "@streamcmd/core";
import { botCommands, BotService, botService, BotStatus, statusName } from "@streamcmd/demo-protocol";
import { createSqliteBotStore, type BotStore } from "@streamcmd/examples";
import {
  CommandRouterService,
  createCommandRouter,
  createStreamHandler,
  createTokenVerifier,
  schemaRegistry,
  startServer,
  streamRouteOptions,
  tokenAuthenticator,
  tokenCallerAuthenticator,
  type RunningServer,
} from "@streamcmd/transport-connect";
import { connect } from "@nats-io/transport-node";
import { createNatsNode, type NatsNode } from "@streamcmd/transport-nats";
import { dirname } from "node:path";
import { ensureServerCredentials } from "./credentials.js";
import { createDemoMetrics, type DemoMetrics } from "./metrics.js";
import { createDashboard } from "./dashboard.js";
import { fileURLToPath } from "node:url";

export type BotHub = StreamingServiceOf<typeof botService>;

export interface DemoServer {
  hub: BotHub;
  store: BotStore;
  server: RunningServer;
  url: string;
  /** Its place in the cluster, when started with `cluster`. */
  node: NatsNode | undefined;
  /** Its Prometheus metrics, served at GET /metrics. */
  metrics: DemoMetrics;
  /** Drains (waits up to `drainMs` for commands in flight), closes the hub, the server and the database. */
  close(drainMs?: number): Promise<void>;
}

/**
 * The demo server: the bots' bidi method and the CommandRouter on one port, the hub registered as
 * `botService.name` ("demo.bot.v1.BotService"), and the SQLite store kept in step with what bots report about themselves.
 */
export async function startDemoServer(options: {
  host: string;
  port: number;
  dbPath: string;
  logger: Logger;
  insecure?: boolean;
  audit?: Logger;
  /** A node of a cluster on NATS: its bots are reachable from every node, and its router reaches every bot. */
  cluster?: { natsUrl: string; nodeId: string };
}): Promise<DemoServer> {
  const { logger } = options;
  const insecure = options.insecure === true;
  // Secure by default: TLS and tokens, from credentials made on first run beside the database.
  const credentials = insecure ? undefined : await ensureServerCredentials(dirname(options.dbPath));
  if (credentials?.created) logger.info({ dataDir: dirname(options.dbPath) }, "created the demo's CA, server certificate, signing key and tokens");
  const store = createSqliteBotStore(options.dbPath);
  const hub = createStreamingService(botService, { heartbeatTimeoutMs: 15_000, maxMessagesPerSecond: 200, logger });
  const unregister = registerStreamingService(hub);
  const tokens = credentials === undefined ? undefined : createTokenVerifier({ publicKey: credentials.verifyKey });
  const assetsDir = fileURLToPath(new URL("../dist/dashboard", import.meta.url));
  const dashboard = createDashboard({ hub, store, verifier: tokens, nodeId: options.cluster?.nodeId ?? "local", logger, assetsDir });

  hub.onConnect((client) => {
    // The database is the source of truth for config: a bot that (re)connects gets it back.
    void (async () => {
      const record = await store.ensure(client.clientId);
      if (Object.keys(record.config).length > 0) await hub.send(client.clientId, botCommands.configUpdate({ config: record.config }));
    })().catch((err: unknown) => logger.warn({ err, clientId: client.clientId }, "could not restore the bot's config"));
  });
  // The store follows what each bot says of itself: status reports, and the status in every heartbeat
  // (written only when it changed), so a bot that changed state on its own is never shown stale.
  const lastHeard = new Map<string, BotStatus>();
  const record = (clientId: string, status: BotStatus, detail: string): void => {
    lastHeard.set(clientId, status);
    dashboard.statusChanged(clientId, status, detail);
    void store.setStatus(clientId, status, detail).catch((err: unknown) => logger.error({ err, clientId }, "could not store status"));
  };
  hub.onMessage((clientId, message) => {
    if (message.message.case === "statusReport") {
      const { status, detail } = message.message.value;
      logger.info({ clientId, status: statusName(status), detail }, "bot reported its status");
      record(clientId, status, detail);
    } else if (message.message.case === "heartbeat") {
      const { status } = message.message.value;
      if (status !== BotStatus.UNSPECIFIED && lastHeard.get(clientId) !== status) record(clientId, status, "from its heartbeat");
    }
  });
  hub.onDisconnect(({ client, reason }) => {
    // Its last status stays (what it was doing when it left); the reason says it is gone and why.
    lastHeard.delete(client.clientId);
    void (async () => {
      const stored = await store.get(client.clientId);
      if (stored !== undefined) await store.setStatus(client.clientId, stored.status, `disconnected (${reason})`);
    })().catch((err: unknown) => logger.error({ err, clientId: client.clientId }, "could not record the disconnect"));
  });

  const nats = options.cluster === undefined ? undefined : await connect({ servers: options.cluster.natsUrl, name: options.cluster.nodeId, maxReconnectAttempts: -1 });
  const node = nats === undefined ? undefined : await createNatsNode({ nats, services: [hub], nodeId: options.cluster?.nodeId, logger });
  const metrics = createDemoMetrics(hub, node);
  const server = await startServer({
    host: options.host,
    port: options.port,
    ...(credentials === undefined ? { insecure: true } : { tls: { cert: credentials.cert, key: credentials.key } }),
    // So the router's JSON form (curl) can read and write the Any-packed command and reply.
    // GET /dashboard (the live fleet page) and GET /metrics (Prometheus text), beside the RPCs on the same port.
    adapter: { jsonOptions: { registry: schemaRegistry(botService) }, fallback: (request, response) => void (dashboard.handle(request, response) || metrics.handle(request, response)) },
    // grpcurl and buf curl --reflect work without the .proto files (health checking is on by default).
    reflection: true,
    routes(router) {
      const streams = tokens === undefined ? { allowUnauthenticated: true } : { authenticate: tokenAuthenticator(tokens) };
      router.service(BotService, { connect: createStreamHandler(hub, streams) }, streamRouteOptions());
      const callers = tokens === undefined ? { allowUnauthenticated: true } : { authenticate: tokenCallerAuthenticator(tokens) };
      const cluster = node === undefined ? {} : { router: node.router };
      router.service(CommandRouterService, createCommandRouter({ services: [hub], ...cluster, ...callers, audit: options.audit ?? logger, onCall: metrics.onRouterCall }));
    },
  });
  logger.info({ url: server.url, dashboard: `${server.url}/dashboard`, metrics: `${server.url}/metrics`, db: options.dbPath }, "bot server listening");

  let closing: Promise<void> | undefined;
  return {
    hub,
    store,
    server,
    url: server.url,
    node,
    metrics,
    close(drainMs = 2_000) {
      closing ??= (async () => {
        server.health?.drain(); // probes see NOT_SERVING from the start of the drain
        await node?.close(); // leaves the cluster first: no new commands, those taken are answered
        const deadline = Date.now() + drainMs;
        while (hub.stats().pendingCommands > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
        unregister();
        metrics.close();
        dashboard.close();
        await hub.close();
        await server.close({ graceMs: 1_000 });
        await store.close();
        await nats?.close();
        logger.info({}, "bot server stopped");
      })();
      return closing;
    },
  };
}
