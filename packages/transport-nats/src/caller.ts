import { createInbox, type Msg, type NatsConnection, type Subscription } from "@nats-io/transport-node";
import {
  ClientNotConnectedError,
  ClosedError,
  CommandCancelledError,
  CommandTimeoutError,
  InternalError,
  InvalidArgumentError,
  NodeLostError,
  QueueFullError,
  RouterUnavailableError,
  type CommandError,
  type Logger,
  type TraceContext,
} from "@streamcmd/core";
import { activeTraceContext, maxDurationMs, watchDeadline, type Deadline } from "@streamcmd/core/internal";
import type { Subjects } from "./subjects.js";
import { UpWatches } from "./up-watches.js";
import { decodeError, header, headersOf, type RequestKind, type Schemas } from "./wire.js";

/** Internal: what the calling side of a node needs. */
export interface CallerOptions {
  nats: NatsConnection;
  subjects: Subjects;
  nodeId: string;
  nodeLostAfterMs: number;
  deadlineMarginMs: number;
  /** Calls waiting for a client to connect (`waitForConnectMs`) at once; one more is refused with `QueueFullError`. */
  maxConnectWaiters: number;
  logger: Logger;
}

/** Internal: one call to a client on whichever node holds it. */
export interface CallRequest {
  service: string;
  clientId: string;
  kind: RequestKind;
  /** The service's schemas: a failure's reply is decoded with them. */
  schemas: Schemas;
  body: Uint8Array;
  timeoutMs: number;
  queueTimeoutMs: number;
  waitForConnectMs: number;
  idempotencyKey: string | undefined;
  signal: AbortSignal | undefined;
}

/** Internal: how a call was answered. */
export type CallAnswer = { outcome: "reply"; data: Uint8Array } | { outcome: "posted"; commandId: string } | { outcome: "here" | "gone" };

interface Call {
  readonly request: CallRequest;
  /** The caller's trace context when the call was made (it is sent later, maybe more than once). */
  readonly trace: TraceContext | undefined;
  readonly where: { service: string; clientId: string };
  /** The node instance that acknowledged it, once one has. */
  holder: string | undefined;
  /** Waiting for the client to connect somewhere: stops listening for its announcements. */
  up: (() => void) | undefined;
  /** A send is out and not yet refused with "no responders". */
  sendOut: boolean;
  /** Sends answered "gone" (a node that no longer holds the client): sent again, a few times. */
  misses: number;
  /** An announcement came while a send was out: a "no responders" for that send means send again. */
  upSeen: boolean;
  /** Wall-clock end of the wait for the client to connect. */
  connectBy: number;
  /** No acknowledgement within the node-loss window: nothing on the bus answered. */
  ackTimer: ReturnType<typeof setTimeout> | undefined;
  /** Ends the wait for the client to connect. */
  waitTimer: ReturnType<typeof setTimeout> | undefined;
  deadline: Deadline;
  resolve(answer: CallAnswer): void;
  reject(error: CommandError): void;
}

/** Sends again after "gone" at most this often: the client moved, and NATS has not caught up yet. */
const maxMisses = 5;

/**
 * Internal: the calling side of a node. A call is published on the client's subject with a reply
 * subject under this node's inbox; NATS answers "no responders" at once when no node holds the
 * client (`ClientNotConnectedError`, or a wait for its announcement with `waitForConnectMs`). The
 * holding node acknowledges with its id, then answers. A holder that stops beating for
 * `nodeLostAfterMs` (killed, hung, cut off) or says goodbye fails its calls with `NodeLostError`;
 * a call nobody acknowledges within that window (NATS unreachable) fails with `RouterUnavailableError`.
 */
export class ClusterCaller {
  private readonly calls = new Map<string, Call>();
  /** Per node instance (a node's run: a restarted node is a new one), when it last showed it was alive. */
  private readonly lastBeat = new Map<string, number>();
  /** Per instance, its node id and the services it holds (from its beats): who answers a presence list. */
  private readonly known = new Map<string, { nodeId: string; services: readonly string[] }>();
  private lastCheck = performance.now();
  private readonly inbox = createInbox();
  private readonly subs: Subscription[] = [];
  private readonly checker: ReturnType<typeof setInterval>;
  private nextCall = 0;
  private readonly upWatches: UpWatches;
  private closed = false;

  constructor(private readonly options: CallerOptions) {
    const { nats, subjects } = options;
    this.upWatches = new UpWatches(nats);
    this.subs.push(nats.subscribe(`${this.inbox}.*`, { callback: (_err, msg) => this.onAnswer(msg) }));
    this.subs.push(nats.subscribe(subjects.heartbeats, { callback: (_err, msg) => this.onBeat(msg) }));
    this.subs.push(nats.subscribe(subjects.byes, { callback: (_err, msg) => this.lose(msg.string(), "left the cluster") }));
    this.checker = setInterval(() => this.check(), Math.max(50, Math.floor(options.nodeLostAfterMs / 4)));
    this.checker.unref();
  }

  /** Resolves once NATS has this node's subscriptions. */
  ready(): Promise<void> {
    return this.options.nats.flush();
  }

  /** The node instances that beat within the node-loss window: their node ids and the services each holds. */
  liveNodes(): { instance: string; nodeId: string; services: readonly string[] }[] {
    const since = performance.now() - this.options.nodeLostAfterMs;
    const live: { instance: string; nodeId: string; services: readonly string[] }[] = [];
    for (const [instance, at] of this.lastBeat) {
      const node = this.known.get(instance);
      if (at >= since && node !== undefined) live.push({ instance, ...node });
    }
    return live;
  }

  call(request: CallRequest): Promise<CallAnswer> {
    const where = { service: request.service, clientId: request.clientId };
    if (this.closed) return Promise.reject(new ClosedError("the cluster node is closed", where));
    if (request.signal?.aborted) return Promise.reject(new CommandCancelledError("the call was cancelled before it started", { ...where, cause: request.signal.reason }));
    const callId = (this.nextCall++).toString(36);
    const totalMs = request.waitForConnectMs + request.queueTimeoutMs + request.timeoutMs + this.options.deadlineMarginMs;
    return new Promise<CallAnswer>((resolve, reject) => {
      const call: Call = {
        request,
        trace: activeTraceContext(),
        where,
        holder: undefined,
        up: undefined,
        sendOut: false,
        misses: 0,
        upSeen: false,
        connectBy: Date.now() + request.waitForConnectMs,
        ackTimer: undefined,
        waitTimer: undefined,
        deadline: watchDeadline({ timeoutMs: totalMs <= maxDurationMs ? totalMs : undefined, signal: request.signal }, (cause) => {
          this.cancelOnHolder(callId, call);
          this.finish(callId)?.reject(
            cause === "timeout"
              ? new CommandTimeoutError(`no answer from client ${request.clientId} within ${totalMs} ms`, where)
              : new CommandCancelledError("the call was cancelled", { ...where, cause: request.signal?.reason }),
          );
        }),
        resolve,
        reject,
      };
      this.calls.set(callId, call);
      if (request.waitForConnectMs === 0) return this.send(callId, call);
      // Listen for the client's announcement before the first try, so a connect in between is not missed.
      if (this.upWatches.waiting >= this.options.maxConnectWaiters) {
        const full = `${this.upWatches.waiting} calls are waiting for clients to connect already (maxConnectWaiters); this one was not sent`;
        return void this.finish(callId)?.reject(new QueueFullError(full, where));
      }
      try {
        call.up = this.upWatches.watch(this.options.subjects.up(request.service, request.clientId), () => {
          if (call.holder !== undefined) return;
          if (call.sendOut) call.upSeen = true;
          else this.send(callId, call); // not sent yet, or waiting after a "no responders": (re)try now
        });
      } catch (cause) {
        return void this.finish(callId)?.reject(new RouterUnavailableError(`cannot subscribe on NATS: ${String(cause)}`, { ...where, cause }));
      }
      this.options.nats.flush().then(
        // The announcement may have sent it already.
        () => this.calls.get(callId) === call && !call.sendOut && call.holder === undefined && this.send(callId, call),
        (cause: unknown) => this.finish(callId)?.reject(new RouterUnavailableError("NATS is unreachable", { ...where, cause })),
      );
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.checker);
    for (const sub of this.subs) sub.unsubscribe();
    for (const callId of [...this.calls.keys()]) this.finish(callId)?.reject(new CommandCancelledError("the cluster node was closed", { cause: new ClosedError("the cluster node was closed") }));
  }

  private send(callId: string, call: Call): void {
    const { request } = call;
    call.sendOut = true;
    call.upSeen = false;
    const deadline = request.kind === "execute" ? Date.now() + request.queueTimeoutMs + request.timeoutMs : undefined;
    const headers = headersOf({
      [header.kind]: request.kind,
      [header.timeoutMs]: request.timeoutMs,
      [header.queueTimeoutMs]: request.queueTimeoutMs,
      [header.deadline]: deadline,
      [header.idempotencyKey]: request.idempotencyKey,
      [header.traceparent]: call.trace?.traceparent,
      [header.tracestate]: call.trace?.tracestate,
    });
    try {
      this.options.nats.publish(this.options.subjects.client(request.service, request.clientId), request.body, { reply: `${this.inbox}.${callId}`, headers });
    } catch (cause) {
      const tooBig = /max_payload|MAX_PAYLOAD/.test(String(cause));
      const error = tooBig
        ? new InvalidArgumentError(`the command (${request.body.byteLength} bytes) is over NATS's max_payload; it was not sent`, { ...call.where, cause })
        : new RouterUnavailableError(`cannot publish on NATS: ${String(cause)}`, { ...call.where, cause });
      return void this.finish(callId)?.reject(error);
    }
    clearTimeout(call.ackTimer);
    call.ackTimer = setTimeout(() => {
      if (call.holder !== undefined) return;
      const why = "NATS is unreachable, or the node NATS routed it to is hung (it keeps its subscriptions until NATS drops its connection)";
      this.finish(callId)?.reject(new RouterUnavailableError(`no node acknowledged the command within ${this.options.nodeLostAfterMs} ms: ${why}`, call.where));
    }, this.options.nodeLostAfterMs);
    call.ackTimer.unref();
  }

  private onAnswer(msg: Msg): void {
    const callId = msg.subject.slice(this.inbox.length + 1);
    const call = this.calls.get(callId);
    const headers = msg.headers;
    const holder = headers?.get(header.ack);
    if (call === undefined) {
      // Settled already (cancelled, timed out, given up) before the holder took it: tell it to drop it.
      if (holder) this.publishCancel(holder, msg.subject);
      return;
    }
    if (headers?.code === 503) return this.noResponders(callId, call);
    if (call.holder === undefined && headers?.get(header.outcome) === "gone" && call.misses++ < maxMisses) {
      // That node let the client go (it left, or moved to another node) as NATS routed this to it; nothing ran: again.
      clearTimeout(call.ackTimer);
      call.ackTimer = setTimeout(() => this.calls.get(callId) === call && this.send(callId, call), 5 * call.misses); // NATS catches up within a round trip
      return;
    }
    if (holder) {
      call.holder = holder;
      clearTimeout(call.ackTimer);
      if (!this.known.has(holder)) this.known.set(holder, { nodeId: headers?.get(header.node) || holder, services: [] });
      if (!this.lastBeat.has(holder)) this.lastBeat.set(holder, performance.now()); // the ack proves it alive
      return;
    }
    const outcome = headers?.get(header.outcome) ?? "";
    const settled = this.finish(callId);
    if (settled === undefined) return;
    if (outcome === "reply") settled.resolve({ outcome, data: msg.data });
    else if (outcome === "posted") settled.resolve({ outcome, commandId: headers?.get(header.commandId) ?? "" });
    else if (outcome === "gone" && settled.request.kind !== "probe") settled.reject(new ClientNotConnectedError(`client ${settled.request.clientId} is not connected to any node`, settled.where));
    else if (outcome === "here" || outcome === "gone") settled.resolve({ outcome });
    else if (outcome === "error") settled.reject(decodeError(msg.data, settled.request.schemas, settled.where));
    else settled.reject(new InternalError(`the node holding the client answered with an unknown outcome ${JSON.stringify(outcome)}`, settled.where));
  }

  /** No node holds the client (now): fail, or wait for its announcement while the wait lasts. */
  private noResponders(callId: string, call: Call): void {
    clearTimeout(call.ackTimer);
    call.sendOut = false;
    const left = call.connectBy - Date.now();
    if (left > 0 && call.upSeen) return this.send(callId, call);
    if (left > 0) {
      // The announcement wakes it (see `call`); this timer ends the wait.
      call.waitTimer ??= setTimeout(() => {
        if (call.sendOut) return; // a try is out: its own answer decides
        this.finish(callId)?.reject(new ClientNotConnectedError(`client ${call.request.clientId} did not connect to any node within ${call.request.waitForConnectMs} ms`, call.where));
      }, left);
      return;
    }
    const waited = call.request.waitForConnectMs > 0 ? ` within ${call.request.waitForConnectMs} ms` : "";
    this.finish(callId)?.reject(new ClientNotConnectedError(`client ${call.request.clientId} is not connected to any node${waited}`, call.where));
  }

  private onBeat(msg: Msg): void {
    try {
      const beat = msg.json<{ nodeId?: unknown; instance?: unknown; services?: unknown }>();
      if (typeof beat.nodeId !== "string" || typeof beat.instance !== "string") return;
      this.lastBeat.set(beat.instance, performance.now());
      const services = Array.isArray(beat.services) ? beat.services.filter((s): s is string => typeof s === "string") : [];
      this.known.set(beat.instance, { nodeId: beat.nodeId, services });
    } catch {
      // not a beat of ours
    }
  }

  /** Fails the calls on nodes that fell silent — unless this process itself was stalled, and their beats wait unread. */
  private check(): void {
    const now = performance.now();
    const stalled = now - this.lastCheck > this.options.nodeLostAfterMs / 2;
    this.lastCheck = now;
    if (stalled) return; // read what arrived first; the next round judges
    const silentSince = now - this.options.nodeLostAfterMs;
    for (const [instance, at] of this.lastBeat) if (at < silentSince) this.lose(instance, `was silent for ${this.options.nodeLostAfterMs} ms`);
  }

  private lose(instance: string, why: string): void {
    const nodeId = this.known.get(instance)?.nodeId ?? instance;
    this.lastBeat.delete(instance);
    this.known.delete(instance);
    for (const [callId, call] of this.calls) {
      if (call.holder !== instance) continue;
      this.finish(callId)?.reject(new NodeLostError(`node ${nodeId}, holding client ${call.request.clientId}, ${why}; the command may have run`, call.where));
    }
  }

  private cancelOnHolder(callId: string, call: Call): void {
    // The call's reply subject names it on the holder: unique across the cluster.
    if (call.holder !== undefined) this.publishCancel(call.holder, `${this.inbox}.${callId}`);
  }

  private publishCancel(instance: string, replySubject: string): void {
    const { nats } = this.options;
    if (nats.isClosed() || nats.isDraining()) return;
    try {
      nats.publish(this.options.subjects.cancel(instance), replySubject);
    } catch (err) {
      this.options.logger.warn({ err }, "could not send a cancel on NATS");
    }
  }

  /** Takes the call out of the table and stops its timers; undefined if it was settled already. */
  private finish(callId: string): Call | undefined {
    const call = this.calls.get(callId);
    if (call === undefined) return undefined;
    this.calls.delete(callId);
    call.deadline.dispose();
    clearTimeout(call.ackTimer);
    clearTimeout(call.waitTimer);
    call.up?.();
    return call;
  }
}
