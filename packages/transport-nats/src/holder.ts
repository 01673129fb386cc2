import { fromBinary, toBinary, type Message } from "@bufbuild/protobuf";
import { Empty, type Msg, type NatsConnection, type Subscription } from "@nats-io/transport-node";
import { ClientReplacedError, CommandTimeoutError, InvalidArgumentError, type ClientInfo, type Logger, type RegisteredService } from "@streamcmd/core";
import { errorMessage } from "@streamcmd/core/internal";
import type { Subjects } from "./subjects.js";
import { encodeError, header, headersOf, readRequest, schemasOf, type Schemas } from "./wire.js";

/** Internal: what the holding side of a node needs. */
export interface HolderOptions {
  nats: NatsConnection;
  subjects: Subjects;
  nodeId: string;
  services: readonly RegisteredService[];
  heartbeatIntervalMs: number;
  logger: Logger;
}

/** Internal: a node's holding side, running. */
export interface Holder {
  /** Stops taking commands, lets those in flight finish (up to `graceMs`), then says goodbye. */
  close(graceMs: number): Promise<void>;
}

/** Internal: one client's presence as a list answer carries it. */
export interface ListedClient extends Omit<ClientInfo, "connectedAt" | "lastSeenAt"> {
  connectedAt: number;
  lastSeenAt: number;
  nodeId: string;
}

/**
 * Internal: makes the clients of `services` reachable through NATS. Each connected client gets a
 * subscription on its own subject (queue group: one node answers even while two hold the id); a
 * request is acknowledged with this node's id at once, then answered with the reply or the typed
 * error. The node beats on its heartbeat subject, answers presence lists, honours cancels, and
 * closes a local connection when another node claims the same client id later (last one wins).
 */
export async function startHolder(options: HolderOptions): Promise<Holder> {
  const { nats, subjects, nodeId, logger } = options;
  const hubs = new Map<string, { hub: RegisteredService; schemas: Schemas }>();
  for (const hub of options.services) {
    if (hubs.has(hub.name)) throw new InvalidArgumentError(`two services named "${hub.name}" given to the node`, { service: hub.name });
    hubs.set(hub.name, { hub, schemas: schemasOf(hub) });
  }
  const clientSubs = new Map<string, Subscription>();
  const inFlight = new Map<string, AbortController>();
  const others: Subscription[] = [];
  const unlisten: (() => void)[] = [];
  let closing = false;
  const key = (service: string, clientId: string) => `${service}\u0000${clientId}`;

  const answer = (msg: Msg, outcome: string, data: Uint8Array = Empty, extra: Record<string, string> = {}): void => {
    if (msg.reply === undefined || nats.isClosed()) return;
    nats.publish(msg.reply, data, { headers: headersOf({ [header.outcome]: outcome, ...extra }) });
  };

  async function serve(service: string, clientId: string, msg: Msg): Promise<void> {
    const entry = hubs.get(service);
    if (entry === undefined || msg.reply === undefined) return;
    const { hub, schemas } = entry;
    let request;
    try {
      request = readRequest(msg);
    } catch (error) {
      return answer(msg, "error", encodeError(error, undefined));
    }
    if (request.kind === "probe") return answer(msg, hub.isConnected(clientId) ? "here" : "gone");
    nats.publish(msg.reply, Empty, { headers: headersOf({ [header.ack]: nodeId }) });
    const controller = new AbortController();
    const callKey = msg.reply; // unique across the cluster: the caller's inbox and its call
    inFlight.set(callKey, controller);
    try {
      if (request.deadline !== undefined && Date.now() >= request.deadline) {
        throw new CommandTimeoutError(`the command reached node ${nodeId} after its deadline; it was not sent to the client`, { service, clientId });
      }
      let command: Message;
      try {
        command = fromBinary(schemas.command, msg.data);
      } catch (cause) {
        throw new InvalidArgumentError(`the command is not a ${schemas.command.typeName}: ${errorMessage(cause)}`, { service, clientId, cause });
      }
      const call = { queueTimeoutMs: request.queueTimeoutMs, signal: controller.signal };
      if (request.kind === "post") {
        const commandId = await hub.post(clientId, command, call);
        return answer(msg, "posted", Empty, { [header.commandId]: commandId });
      }
      const idempotency = request.idempotencyKey === undefined ? {} : { idempotencyKey: request.idempotencyKey };
      const reply = await hub.send(clientId, command, { ...call, ...idempotency, timeoutMs: Math.max(1, request.timeoutMs) });
      answer(msg, "reply", toBinary(schemas.reply, reply as Message));
    } catch (error) {
      answer(msg, "error", encodeError(error, schemas));
    } finally {
      inFlight.delete(callKey);
    }
  }

  function hold(service: string, client: ClientInfo): void {
    const id = key(service, client.clientId);
    clientSubs.get(id)?.unsubscribe();
    const sub = nats.subscribe(subjects.client(service, client.clientId), {
      queue: subjects.queue,
      callback: (err, msg) => (err ? logger.warn({ err, service, clientId: client.clientId }, "client subscription failed") : void serve(service, client.clientId, msg)),
    });
    clientSubs.set(id, sub);
    const claim = { nodeId, service, clientId: client.clientId, at: client.connectedAt.getTime() };
    // Announced once NATS has the subscription, so a caller woken by it finds the client.
    nats.flush().then(
      () => {
        if (clientSubs.get(id) !== sub || nats.isClosed()) return;
        nats.publish(subjects.claim(service, client.clientId), JSON.stringify(claim));
        nats.publish(subjects.up(service, client.clientId), nodeId);
      },
      (err: unknown) => logger.warn({ err, service, clientId: client.clientId }, "could not announce a client on NATS"),
    );
  }

  function release(service: string, clientId: string): void {
    const id = key(service, clientId);
    clientSubs.get(id)?.unsubscribe();
    clientSubs.delete(id);
  }

  /** Another node admitted a client this node holds: the later connection wins, this one is closed as replaced. */
  function onClaim(msg: Msg): void {
    let claim: { nodeId?: unknown; service?: unknown; clientId?: unknown; at?: unknown };
    try {
      claim = msg.json();
    } catch {
      return;
    }
    if (claim.nodeId === nodeId || typeof claim.service !== "string" || typeof claim.clientId !== "string" || typeof claim.at !== "number") return;
    const hub = hubs.get(claim.service)?.hub;
    const local = hub?.client(claim.clientId);
    if (hub === undefined || local === undefined) return;
    const ours = local.connectedAt.getTime();
    if (claim.at < ours || (claim.at === ours && String(claim.nodeId) < nodeId)) return;
    logger.info({ service: claim.service, clientId: claim.clientId, node: claim.nodeId }, "client connected on another node; closing this connection");
    hub.disconnect(claim.clientId, new ClientReplacedError(`client ${claim.clientId} connected again on node ${String(claim.nodeId)}, this connection was replaced`, { service: claim.service, clientId: claim.clientId }));
  }

  for (const [service, { hub }] of hubs) {
    unlisten.push(hub.onConnect((client) => !closing && hold(service, client)));
    unlisten.push(hub.onDisconnect((event) => release(service, event.client.clientId)));
    for (const client of hub.clients()) hold(service, client);
    others.push(
      nats.subscribe(subjects.list(service), {
        callback: (_err, msg) => {
          const clients: ListedClient[] = hub.clients().map((c) => ({ ...c, connectedAt: c.connectedAt.getTime(), lastSeenAt: c.lastSeenAt.getTime(), nodeId }));
          msg.respond(JSON.stringify({ nodeId, clients }));
        },
      }),
    );
  }
  others.push(nats.subscribe(subjects.claims, { callback: (_err, msg) => onClaim(msg) }));
  others.push(nats.subscribe(subjects.cancel(nodeId), { callback: (_err, msg) => inFlight.get(msg.string())?.abort(new Error("the caller cancelled the call")) }));
  const beatBody = JSON.stringify({ nodeId, services: [...hubs.keys()] });
  const beat = () => !nats.isClosed() && nats.publish(subjects.heartbeat(nodeId), beatBody);
  beat();
  const heartbeat = setInterval(beat, options.heartbeatIntervalMs);
  heartbeat.unref();
  await nats.flush();

  return {
    async close(graceMs) {
      if (closing) return;
      closing = true;
      for (const stop of unlisten) stop();
      for (const sub of clientSubs.values()) sub.unsubscribe();
      clientSubs.clear();
      // The calls already taken finish (their callers are acknowledged and waiting) before goodbye.
      const until = performance.now() + (nats.isClosed() ? 0 : graceMs);
      while (inFlight.size > 0 && performance.now() < until) await new Promise((resolve) => setTimeout(resolve, 10));
      clearInterval(heartbeat);
      for (const sub of others) sub.unsubscribe();
      if (!nats.isClosed()) {
        nats.publish(subjects.bye(nodeId), nodeId);
        await nats.flush().catch(() => {});
      }
    },
  };
}
