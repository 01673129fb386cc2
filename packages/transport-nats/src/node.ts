import { nuid, type Msg, type NatsConnection } from "@nats-io/transport-node";
import { InternalError, InvalidArgumentError, RouterUnavailableError, silentLogger, type ClientInfo, type Logger, type RegisteredService, type RemoteRouter, type ServiceKey } from "@streamcmd/core";
import { checkCount, checkDuration, restack } from "@streamcmd/core/internal";
import { ClusterCaller } from "./caller.js";
import { startHolder, type ListedClient } from "./holder.js";
import { subjectsOf } from "./subjects.js";
import { packCommand, schemasOf, unpackReply } from "./wire.js";
import { clusterBroadcast, type ClusterBroadcastOptions, type ClusterBroadcastOutcome } from "./broadcast.js";

/** Options of `createNatsNode`. */
export interface NatsNodeOptions {
  /**
   * A connected NATS client (`connect()` from `@nats-io/transport-node`, with whatever credentials
   * your NATS wants: user and password, token, nkey or creds). The node uses it, never closes it.
   */
  nats: NatsConnection;
  /** The hubs this node holds streams for: their clients become reachable from every node. None for a caller-only process. */
  services?: readonly RegisteredService[];
  /** Subjects prefix, so several clusters can share one NATS. Default "streamcmd". */
  namespace?: string;
  /** This node's id in errors and acknowledgements. Default: a random NUID. */
  nodeId?: string;
  /** Interval of this node's heartbeat, in ms. Default 1000. */
  heartbeatIntervalMs?: number;
  /**
   * A node silent this long (no heartbeat) is lost: calls on it fail with `NodeLostError`; a call no
   * node acknowledges within it fails with `RouterUnavailableError`. At least 100; default 3000 (three beats).
   */
  nodeLostAfterMs?: number;
  /** How much longer than the whole wait a caller waits for the holder's answer, in ms. Default 1000. */
  deadlineMarginMs?: number;
  /** Calls from this process waiting for a client to connect (`waitForConnectMs`) at once; one more fails with `QueueFullError`. Default 10,000. */
  maxConnectWaiters?: number;
  /** How long `close()` lets commands already taken finish, in ms. Default 5000. */
  drainGraceMs?: number;
  logger?: Logger;
}

/** A client as cluster presence lists it: with the node holding it. */
export interface ClusterClientInfo extends ClientInfo {
  nodeId: string;
}

/** A server node (or a caller-only process) of a cluster. */
export interface NatsNode {
  readonly nodeId: string;
  /**
   * Core's `RemoteRouter` over the cluster: `createCommandClient(definition, { clientId, router: node.router })`
   * reaches the client on whichever node holds it (this node's own clients in memory, without NATS).
   * Also what the CommandRouter of this node serves for clients held elsewhere.
   */
  readonly router: RemoteRouter;
  /** Whether the client is connected to any node now. */
  isConnected(service: ServiceKey<unknown, unknown>, clientId: string, options?: { signal?: AbortSignal }): Promise<boolean>;
  /** The clients of `service` on every live node, each with its node id. */
  listClients(service: ServiceKey<unknown, unknown>, options?: { signal?: AbortSignal }): Promise<ClusterClientInfo[]>;
  /**
   * Sends `command` to every client of `service` on every node: one NATS message per node, one
   * outcome per client (with its node). A node that does not answer in time leaves its clients with
   * `NodeLostError`. Resolves once every node answered (or the timeout plus the margin passed).
   */
  broadcast<TCommand, TReply>(service: ServiceKey<TCommand, TReply>, command: TCommand, options?: ClusterBroadcastOptions): Promise<ClusterBroadcastOutcome<TReply>[]>;
  /** The live nodes (heard within `nodeLostAfterMs`), with the services each holds. */
  nodes(): Map<string, readonly string[]>;
  /**
   * Leaves the cluster gracefully: takes no new commands, lets those taken finish (`drainGraceMs`),
   * says goodbye (calls still on it fail at once elsewhere), and fails this node's own calls in flight.
   * The NATS connection and the hubs stay open: they are yours.
   */
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** How long a presence list waits for the nodes that have not answered (then lists what came). */
const listWaitMs = 1_000;

/**
 * Joins a cluster on NATS: makes the clients of `services` reachable from every node, and gives
 * this process a router to every client of the cluster. Resolves once NATS has its subscriptions.
 */
export async function createNatsNode(options: NatsNodeOptions): Promise<NatsNode> {
  const { nats } = options;
  if (typeof nats?.subscribe !== "function") throw new InvalidArgumentError("createNatsNode needs { nats: a connected NatsConnection }");
  const subjects = subjectsOf(options.namespace ?? "streamcmd");
  const nodeId = options.nodeId ?? nuid.next();
  const logger = options.logger ?? silentLogger;
  const services = options.services ?? [];
  for (const hub of services) schemasOf(hub); // refused here, not on the first call
  const local = new Map(services.map((hub) => [hub.name, hub]));
  const deadlineMarginMs = checkDuration("deadlineMarginMs", options.deadlineMarginMs ?? 1_000);
  const caller = new ClusterCaller({
    nats,
    subjects,
    nodeId,
    nodeLostAfterMs: checkDuration("nodeLostAfterMs", options.nodeLostAfterMs ?? 3_000, 100),
    deadlineMarginMs,
    maxConnectWaiters: checkCount("maxConnectWaiters", options.maxConnectWaiters ?? 10_000, 1),
    logger,
  });
  await caller.ready();
  // This run of the node: a node restarted with the same id is a new instance, so its old calls are lost, not waited for.
  const instance = `${nodeId}~${nuid.next()}`;
  // A caller-only process (no services) holds nothing: it does not beat, so it is not counted as a node.
  const holder = services.length === 0 ? { close: async () => {} } : await startHolder({ nats, subjects, nodeId, instance, services, heartbeatIntervalMs: checkDuration("heartbeatIntervalMs", options.heartbeatIntervalMs ?? 1_000, 1), logger });
  const drainGraceMs = checkDuration("drainGraceMs", options.drainGraceMs ?? 5_000);
  let closed = false;

  /** This node's hub for `service` when it holds `clientId` now: the call stays in memory. */
  function holding(service: ServiceKey<unknown, unknown>, clientId: string): RegisteredService | undefined {
    const hub = local.get(service.name);
    return hub !== undefined && hub.isConnected(clientId) ? hub : undefined;
  }

  const router: RemoteRouter = {
    async execute(service, request, callOptions = {}) {
      const hub = holding(service, request.clientId);
      const signal = callOptions.signal;
      if (hub !== undefined) {
        const { timeoutMs, queueTimeoutMs, idempotencyKey } = request;
        return (await hub.send(request.clientId, request.command, { timeoutMs, queueTimeoutMs, ...(idempotencyKey ? { idempotencyKey } : {}), ...(signal ? { signal } : {}) })) as never;
      }
      const { schemas, body } = packCommand(service, request.command);
      const answer = await caller.call({ ...request, service: service.name, kind: "execute", schemas, body, idempotencyKey: request.idempotencyKey, signal }).catch((error: unknown) => {
        throw restack(error as Error, router.execute);
      });
      if (answer.outcome !== "reply") throw new InternalError(`the node holding the client answered an execute with "${answer.outcome}"`, { service: service.name, clientId: request.clientId });
      return unpackReply(schemas, answer.data, { service: service.name, clientId: request.clientId }) as never;
    },
    async post(service, request, callOptions = {}) {
      const hub = holding(service, request.clientId);
      const signal = callOptions.signal;
      if (hub !== undefined) return hub.post(request.clientId, request.command, { queueTimeoutMs: request.queueTimeoutMs, ...(signal ? { signal } : {}) });
      const { schemas, body } = packCommand(service, request.command);
      const answer = await caller.call({ ...request, timeoutMs: 0, service: service.name, kind: "post", schemas, body, idempotencyKey: undefined, signal }).catch((error: unknown) => {
        throw restack(error as Error, router.post);
      });
      return answer.outcome === "posted" ? answer.commandId : "";
    },
    listClients: (service, callOptions) => listClients(service, callOptions),
  };

  async function listClients(service: ServiceKey<unknown, unknown>, _options: { signal?: AbortSignal } = {}): Promise<ClusterClientInfo[]> {
    const expected = caller.liveNodes().filter((node) => node.services.includes(service.name)).length;
    const found: ClusterClientInfo[] = [];
    if (expected === 0) return found;
    let answers: AsyncIterable<Msg>;
    try {
      answers = await nats.requestMany(subjects.list(service.name), undefined, { strategy: "count", maxMessages: expected, maxWait: listWaitMs });
    } catch (cause) {
      throw new RouterUnavailableError(`cannot ask the cluster's nodes for their clients: ${String(cause)}`, { service: service.name, cause });
    }
    for await (const msg of answers) {
      try {
        const { clients } = msg.json<{ clients: ListedClient[] }>();
        for (const c of clients) found.push({ ...c, connectedAt: new Date(c.connectedAt), lastSeenAt: new Date(c.lastSeenAt) });
      } catch {
        // an answer that is not a list: skipped
      }
    }
    return found;
  }

  const node: NatsNode = {
    nodeId,
    router,
    async isConnected(service, clientId, callOptions = {}) {
      if (holding(service, clientId) !== undefined) return true;
      const schemas = schemasOf(service);
      const probe = { service: service.name, clientId, kind: "probe" as const, schemas, body: new Uint8Array(), timeoutMs: 0, queueTimeoutMs: 0, waitForConnectMs: 0 };
      const answer = await caller.call({ ...probe, idempotencyKey: undefined, signal: callOptions.signal }).catch((error: unknown) => {
        if ((error as { code?: unknown }).code === "client_not_connected") return { outcome: "gone" as const };
        throw error;
      });
      return answer.outcome === "here";
    },
    listClients,
    broadcast: (service, command, broadcastOptions) =>
      clusterBroadcast({ nats, subjects, caller, marginMs: deadlineMarginMs, listed: () => listClients(service) }, service, command, broadcastOptions),
    nodes: () => new Map(caller.liveNodes().map((live) => [live.nodeId, live.services])),
    async close() {
      if (closed) return;
      closed = true;
      await holder.close(drainGraceMs);
      caller.close();
    },
    [Symbol.asyncDispose]() {
      return node.close();
    },
  };
  return node;
}
