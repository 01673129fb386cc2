import { fromBinary, toBinary, type Message } from "@bufbuild/protobuf";
import { Empty, type Msg, type MsgHdrs, type NatsConnection, type Subscription } from "@nats-io/transport-node";
import { ClientReplacedError, CommandTimeoutError, InternalError, InvalidArgumentError, type ClientInfo, type Logger, type RegisteredService } from "@streamcmd/core";
import { childSpan, errorMessage } from "@streamcmd/core/internal";
import type { Subjects } from "./subjects.js";
import { encodeError, errorBody, header, headersOf, readRequest, schemasOf, type ErrorBody, type Schemas } from "./wire.js";

/** Internal: what the holding side of a node needs. */
export interface HolderOptions {
  nats: NatsConnection;
  subjects: Subjects;
  /** The node's id, as users see it. */
  nodeId: string;
  /** This run of the node (its id plus a unique suffix): a restarted node with the same id is another instance. */
  instance: string;
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

/** Internal: one part of a node's answer to a broadcast (a node with many clients answers in several). */
export interface BroadcastPart {
  instance: string;
  nodeId: string;
  /** The node's last part. */
  last: boolean;
  outcomes: { clientId: string; reply?: string; error?: ErrorBody }[];
}

/** Outcomes per broadcast part: well under NATS's default 1 MB max_payload for small replies. */
const broadcastPartSize = 200;

/** Internal: a node's word that it admitted a client at `at`; the later (at, instance) wins everywhere. */
interface Claim {
  nodeId: string;
  instance: string;
  service: string;
  clientId: string;
  at: number;
}

/** A command not answered within this long is acknowledged (callers watch the node from then on); callers wait `nodeLostAfterMs`, at least 100 ms. */
const ackAfterMs = 20;

/** How long a command that reached this node during its client's admission waits for the hub to list the client. */
const admissionWaitMs = 2_000;

/**
 * Internal: makes the clients of `services` reachable through NATS. Each connected client gets a
 * subscription on its own subject (queue group: one node answers even while two hold the id); a
 * request is acknowledged with this node's instance at once, then answered with the reply or the
 * typed error. The node beats on its heartbeat subject, answers presence lists, honours cancels,
 * and settles duplicate ids with claims: the later connection wins on every node. Nothing a peer
 * sends, and no failure to publish, escapes a NATS callback.
 */
export async function startHolder(options: HolderOptions): Promise<Holder> {
  const { nats, subjects, nodeId, instance, logger } = options;
  const hubs = new Map<string, { hub: RegisteredService; schemas: Schemas }>();
  for (const hub of options.services) {
    if (hubs.has(hub.name)) throw new InvalidArgumentError(`two services named "${hub.name}" given to the node`, { service: hub.name });
    hubs.set(hub.name, { hub, schemas: schemasOf(hub) });
  }
  const clientSubs = new Map<string, Subscription>();
  const inFlight = new Map<string, AbortController>();
  /** Clients subscribed and in the hub's admission gate: commands for them wait until the hub lists them. */
  const admitting = new Set<string>();
  const others: Subscription[] = [];
  const unlisten: (() => void)[] = [];
  let closing = false;
  const key = (service: string, clientId: string) => `${service}\u0000${clientId}`;

  /** Publishes unless the connection is closed or draining; a failure is logged and reported, never thrown. */
  const publish = (subject: string, data: Uint8Array | string, headers?: MsgHdrs): boolean => {
    if (nats.isClosed() || nats.isDraining()) return false;
    try {
      nats.publish(subject, data, headers === undefined ? undefined : { headers });
      return true;
    } catch (err) {
      logger.warn({ err, subject }, "could not publish on NATS");
      return false;
    }
  };

  /** Answers a request; an answer NATS refuses (over its max_payload) becomes a short typed error. */
  const answer = (msg: Msg, outcome: string, data: Uint8Array = Empty, extra: Record<string, string> = {}): void => {
    if (msg.reply === undefined || publish(msg.reply, data, headersOf({ [header.outcome]: outcome, ...extra }))) return;
    const refused = new InternalError(`node ${nodeId} could not send the answer (${data.byteLength} bytes) over NATS: over its max_payload?`);
    publish(msg.reply, encodeError(refused, undefined), headersOf({ [header.outcome]: "error" }));
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
    // Not (or no longer) here — the client left or moved while NATS still routed to this node: the caller sends again.
    if (!hub.isConnected(clientId) && !admitting.has(key(service, clientId))) return answer(msg, "gone");
    if (request.kind === "probe") return answer(msg, "here");
    // A quick answer is its own acknowledgement; a slower one is acknowledged first, so the caller
    // knows which node to watch (and to cancel on) while it waits.
    const reply = msg.reply;
    const ack = setTimeout(() => publish(reply, Empty, headersOf({ [header.ack]: instance, [header.node]: nodeId })), ackAfterMs);
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
      const call = { queueTimeoutMs: request.queueTimeoutMs, signal: controller.signal, waitForConnectMs: admitting.has(key(service, clientId)) ? admissionWaitMs : 0 };
      if (request.kind === "post") {
        const commandId = await hub.post(clientId, command, call);
        return answer(msg, "posted", Empty, { [header.commandId]: commandId });
      }
      const idempotency = request.idempotencyKey === undefined ? {} : { idempotencyKey: request.idempotencyKey };
      // Under a span of the caller's trace: the hub's send, and the client's work, join it.
      const span = childSpan(request.trace, "streamcmd node execute", { "streamcmd.service": service, "streamcmd.client_id": clientId, "streamcmd.node": nodeId });
      let reply: unknown;
      try {
        reply = await span.run(() => hub.send(clientId, command, { ...call, ...idempotency, timeoutMs: Math.max(1, request.timeoutMs) }));
      } catch (error) {
        span.end(error);
        throw error;
      }
      span.end(undefined);
      answer(msg, "reply", toBinary(schemas.reply, reply as Message));
    } catch (error) {
      answer(msg, "error", encodeError(error, schemas));
    } finally {
      clearTimeout(ack);
      inFlight.delete(callKey);
    }
  }

  /** Sends a broadcast's command to every client of `service` here; answers with their outcomes, in parts. */
  async function broadcast(service: string, msg: Msg): Promise<void> {
    const entry = hubs.get(service);
    if (entry === undefined || msg.reply === undefined) return;
    const { hub, schemas } = entry;
    const reply = msg.reply;
    const part = (outcomes: BroadcastPart["outcomes"], last: boolean) => publish(reply, JSON.stringify({ instance, nodeId, last, outcomes } satisfies BroadcastPart));
    let results;
    try {
      const request = readRequest(msg);
      results = await hub.broadcast(fromBinary(schemas.command, msg.data), { timeoutMs: Math.max(1, request.timeoutMs) });
    } catch (error) {
      // The command itself is refused here (unreadable, or the hub closed): every client of this node gets that.
      return void part(hub.clients().map((client) => ({ clientId: client.clientId, error: errorBody(error, schemas) })), true);
    }
    for (let start = 0; start === 0 || start < results.length; start += broadcastPartSize) {
      const outcomes = results.slice(start, start + broadcastPartSize).map((outcome) =>
        outcome.ok
          ? { clientId: outcome.clientId, reply: Buffer.from(toBinary(schemas.reply, outcome.reply as Message)).toString("base64") }
          : { clientId: outcome.clientId, error: errorBody(outcome.error, schemas) },
      );
      part(outcomes, start + broadcastPartSize >= results.length);
    }
  }

  /** Says, once NATS has the subscription, that this node holds the client (wakes waiting callers, settles duplicates). */
  function announce(service: string, client: ClientInfo): void {
    const claim: Claim = { nodeId, instance, service, clientId: client.clientId, at: client.connectedAt.getTime() };
    publish(subjects.claim(service, client.clientId), JSON.stringify(claim));
    publish(subjects.up(service, client.clientId), nodeId);
  }

  function hold(service: string, client: ClientInfo): void {
    const id = key(service, client.clientId);
    void clientSubs.get(id)?.drain().catch(() => {});
    const sub = nats.subscribe(subjects.client(service, client.clientId), {
      queue: subjects.queue,
      callback: (err, msg) => {
        if (err) return logger.warn({ err, service, clientId: client.clientId }, "client subscription failed");
        serve(service, client.clientId, msg).catch((error: unknown) => logger.error({ err: error, service, clientId: client.clientId }, "serving a cluster request failed"));
      },
    });
    clientSubs.set(id, sub);
  }

  /** Stops taking this client's commands; those NATS already routed here are still answered (drain). */
  function release(service: string, clientId: string): void {
    const id = key(service, clientId);
    admitting.delete(id);
    void clientSubs.get(id)?.drain().catch(() => {});
    clientSubs.delete(id);
  }

  /** Another instance claims a client this node holds: the later (at, instance) keeps it, on both sides. */
  function onClaim(msg: Msg): void {
    let claim: Partial<Claim>;
    try {
      claim = msg.json();
    } catch {
      return;
    }
    const { service, clientId, at } = claim;
    if (claim.instance === instance || typeof service !== "string" || typeof clientId !== "string" || typeof at !== "number" || typeof claim.instance !== "string") return;
    const hub = hubs.get(service)?.hub;
    const local = hub?.client(clientId);
    if (hub === undefined || local === undefined) return;
    const ours = local.connectedAt.getTime();
    if (at < ours || (at === ours && claim.instance < instance)) {
      announce(service, local); // ours is the later one: tell the other node, which closes its own
      return;
    }
    logger.info({ service, clientId, node: claim.nodeId }, "client connected on another node; closing this connection");
    hub.disconnect(clientId, new ClientReplacedError(`client ${clientId} connected again on node ${String(claim.nodeId)}, this connection was replaced`, { service, clientId }));
  }

  /** After NATS comes back (nats.js resubscribes by itself): claims and announcements again, which may have been lost. */
  async function reannounceOnReconnect(): Promise<void> {
    for await (const status of nats.status()) {
      if (closing) return;
      if (status.type !== "reconnect") continue;
      for (const [service, { hub }] of hubs) for (const client of hub.clients()) announce(service, client);
    }
  }

  const safely = (what: string, handle: (msg: Msg) => void) => (_err: unknown, msg: Msg) => {
    try {
      handle(msg);
    } catch (err) {
      logger.warn({ err }, `handling a cluster ${what} failed`);
    }
  };
  for (const [service, { hub }] of hubs) {
    // A new client becomes routable before it is welcomed: subscribed, and NATS has the subscription.
    unlisten.push(
      hub.addAdmissionGate(async (client) => {
        if (closing) return;
        admitting.add(key(service, client.clientId));
        hold(service, client);
        await nats.flush();
      }),
    );
    unlisten.push(hub.onConnect((client) => (admitting.delete(key(service, client.clientId)), !closing && announce(service, client))));
    unlisten.push(hub.onDisconnect((event) => release(service, event.client.clientId)));
    for (const client of hub.clients()) hold(service, client);
    const list = safely("presence list", (msg) => {
      const clients: ListedClient[] = hub.clients().map((c) => ({ ...c, connectedAt: c.connectedAt.getTime(), lastSeenAt: c.lastSeenAt.getTime(), nodeId }));
      if (msg.reply !== undefined) publish(msg.reply, JSON.stringify({ nodeId, clients }));
    });
    others.push(nats.subscribe(subjects.list(service), { callback: list }));
    others.push(nats.subscribe(subjects.broadcast(service), { callback: safely("broadcast", (msg) => void broadcast(service, msg)) }));
  }
  others.push(nats.subscribe(subjects.claims, { callback: safely("claim", onClaim) }));
  others.push(nats.subscribe(subjects.cancel(instance), { callback: safely("cancel", (msg) => inFlight.get(msg.string())?.abort(new Error("the caller cancelled the call"))) }));
  void reannounceOnReconnect().catch((err: unknown) => logger.warn({ err }, "watching the NATS connection failed"));
  const beatBody = JSON.stringify({ nodeId, instance, services: [...hubs.keys()] });
  const beat = () => publish(subjects.heartbeat(instance), beatBody);
  beat();
  const heartbeat = setInterval(beat, options.heartbeatIntervalMs);
  heartbeat.unref();
  await nats.flush();
  for (const [service, { hub }] of hubs) for (const client of hub.clients()) announce(service, client);

  return {
    async close(graceMs) {
      if (closing) return;
      closing = true;
      for (const stop of unlisten) stop();
      // No new commands; those NATS already routed here are still taken up and answered.
      await Promise.all([...clientSubs.values()].map((sub) => sub.drain().catch(() => {})));
      clientSubs.clear();
      const until = performance.now() + (nats.isClosed() ? 0 : graceMs);
      while (inFlight.size > 0 && performance.now() < until) await new Promise((resolve) => setTimeout(resolve, 10));
      clearInterval(heartbeat);
      for (const sub of others) sub.unsubscribe();
      if (publish(subjects.bye(instance), instance)) await nats.flush().catch(() => {});
    },
  };
}
