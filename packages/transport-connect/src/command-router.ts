import { isMessage, type DescMessage, type MessageInitShape } from "@bufbuild/protobuf";
import { anyIs, anyUnpack, timestampFromDate, type Any } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import {
  CommandCancelledError,
  InvalidArgumentError,
  isCommandError,
  QueueFullError,
  ServiceNotFoundError,
  UnauthenticatedError,
  type CommandError,
  type RegisteredService,
  type RemoteRouter,
} from "@streamcmd/core";
import { checkCount, childSpan, errorMessage, maxDurationMs, PushQueue } from "@streamcmd/core/internal";
import { deadlineAsTimeout, replyTimeout } from "./router-deadlines.js";
import { packReply, toConnectError, toErrorDetail } from "./error-mapping.js";
import {
  CommandRouterService,
  type ExecuteRequest,
  type ExecuteStreamCall,
  type ExecuteStreamResultSchema,
} from "./gen/streamcmd/v1/command_router_pb.js";
import type { CallerIdentity } from "./authenticators.js";
import { schemasOf } from "./protobuf-schemas.js";
import { responseRoomKey } from "./response-room.js";
import { untilExpiry } from "./stream-handler.js";
import { servableLean } from "./lean-stream.js";
import { pack } from "./message-encoder.js";
import { createRouterGuard, type RouterSecurityOptions } from "./router-guard.js";

/** Options of `createCommandRouter`: the services, who may call (`authenticate`, `authorize`), the audit log, limits. */
export interface CommandRouterOptions extends RouterSecurityOptions {
  /**
   * The hubs it serves, each under its name. Each must be made from a definition with protobuf
   * `schemas` (checked here, so a missing one fails at start-up, not at the first call).
   */
  services: readonly RegisteredService[];
  /**
   * Reaches clients the hubs above do not hold: a cluster node's router (`createNatsNode(…).router`
   * from @streamcmd/transport-nats), so a caller pointed at any node reaches every client. Execute and
   * Post then go through it (it keeps this server's own clients in memory) and ListClients lists the
   * whole cluster; authorisation and schemas stay this router's. A call without a timeout gets 5 s.
   */
  router?: RemoteRouter;
  /** Calls one `ExecuteStream` may have in flight; one more is refused with `QueueFullError`. Default 4096. */
  maxCallsPerStream?: number;
  /** The largest packed command accepted, in bytes; keep it under the route's message limit. Default 512 KiB. */
  maxCommandBytes?: number;
}

/** Most calls (or answers) one ExecuteStream message carries. */
export const streamBatchSize = 256;

/** Internal: one served hub and the message types of its commands and replies. */
interface Routed {
  readonly hub: RegisteredService;
  readonly command: DescMessage;
  readonly reply: DescMessage;
}


/**
 * The server side of `streamcmd.v1.CommandRouterService`: `router.service(CommandRouterService,
 * createCommandRouter({ services: [hub] }))`. `Execute` unpacks the command with the service's
 * schema, sends it, and packs the reply; every failure is a status with a `CommandErrorDetail`, so
 * the remote caller rebuilds the same typed error.
 */
export function createCommandRouter(options: CommandRouterOptions): ServiceImpl<typeof CommandRouterService> {
  const maxCommandBytes = checkCount("maxCommandBytes", options.maxCommandBytes ?? 512 * 1024, 1);
  const maxCallsPerStream = checkCount("maxCallsPerStream", options.maxCallsPerStream ?? 4096, 1);
  if (!Array.isArray(options.services)) throw new InvalidArgumentError("createCommandRouter needs { services: [hub, …] }");
  const routed = new Map<string, Routed>();
  for (const hub of options.services) {
    if (routed.has(hub.name)) throw new InvalidArgumentError(`two services named "${hub.name}" given to createCommandRouter`, { service: hub.name });
    const { command, reply } = schemasOf(hub.definition);
    routed.set(hub.name, { hub, command, reply });
  }
  const guard = createRouterGuard(options);

  function lookup(name: string): Routed {
    if (name === "") throw new InvalidArgumentError("service is required");
    const found = routed.get(name);
    if (found === undefined) throw new ServiceNotFoundError(`no streaming service "${name}" on this server`, { service: name });
    return found;
  }

  function unpackCommand(any: Any | undefined, schema: DescMessage, service: string, clientId: string): unknown {
    const where = { service, clientId };
    if (clientId === "") throw new InvalidArgumentError("client_id is required", where);
    if (any === undefined) throw new InvalidArgumentError("command is required", where);
    if (any.value.byteLength > maxCommandBytes) {
      throw new InvalidArgumentError(`command is ${any.value.byteLength} bytes, over the limit of ${maxCommandBytes}`, where);
    }
    if (!anyIs(any, schema)) throw new InvalidArgumentError(`command must be a ${schema.typeName}, got "${any.typeUrl}"`, where);
    try {
      return anyUnpack(any, schema);
    } catch (cause) {
      throw new InvalidArgumentError(`command is not a valid ${schema.typeName}`, { ...where, cause });
    }
  }

  type Outcome = { ok: true; reply: Any } | { ok: false; error: unknown; replySchema: DescMessage | undefined };

  /** One Execute inside a span of its own, a child of the caller's trace when the request carries one. */
  async function executeOne(caller: CallerIdentity, request: ExecuteRequest, signal: AbortSignal, leftMs: number | undefined): Promise<Outcome> {
    const parent = request.traceparent === "" ? undefined : { traceparent: request.traceparent, tracestate: request.tracestate };
    const span = childSpan(parent, "streamcmd router execute", { "streamcmd.service": request.service, "streamcmd.client_id": request.clientId });
    const outcome = await span.run(() => executeTraced(caller, request, signal, leftMs));
    span.end(outcome.ok ? undefined : outcome.error);
    return outcome;
  }

  /** One Execute, unary or on the stream, for `caller`: never throws, the outcome says how it ended; audited. */
  async function executeTraced(caller: CallerIdentity, request: ExecuteRequest, signal: AbortSignal, leftMs: number | undefined): Promise<Outcome> {
    let replySchema: DescMessage | undefined;
    const started = performance.now();
    const asked = { action: "execute" as const, service: request.service, clientId: request.clientId };
    try {
      guard.check(caller, asked);
      const { hub, command: commandSchema, reply } = lookup(request.service);
      replySchema = reply;
      const command = unpackCommand(request.command, commandSchema, request.service, request.clientId);
      const timeoutMs = replyTimeout(request.timeoutMs, leftMs);
      const call = {
        caller: caller.subject,
        waitForConnectMs: request.waitForConnectMs,
        queueTimeoutMs: request.queueTimeoutMs,
        // Scoped to the caller: another caller reusing the key neither sees this outcome nor blocks this command.
        ...(request.idempotencyKey === "" ? {} : { idempotencyKey: `${caller.subject}\u0000${request.idempotencyKey}` }),
      };
      const result =
        options.router === undefined
          ? await hub.send(request.clientId, command, { ...call, ...(timeoutMs === undefined ? {} : { timeoutMs }), signal })
          : await options.router.execute(hub.definition, { ...call, clientId: request.clientId, command, timeoutMs: timeoutMs ?? 5_000 }, { signal });
      if (!isMessage(result, reply)) {
        throw new InvalidArgumentError(`the binding of "${request.service}" replied with something that is not a ${reply.typeName}`, { service: request.service });
      }
      guard.record(caller, asked, started, undefined, typeOf(request.command));
      return { ok: true, reply: pack(reply, result) };
    } catch (thrown) {
      const error = deadlineAsTimeout(thrown, signal, request);
      guard.record(caller, asked, started, error, typeOf(request.command));
      return { ok: false, error, replySchema };
    }
  }

  /** The caller of a request, or the refusal as a Connect status (and an audit entry). */
  async function callerOf(context: HandlerContext, asked: { action: "execute" | "post" | "list"; service: string; clientId?: string }): Promise<CallerIdentity> {
    try {
      return await guard.caller(context);
    } catch (error) {
      guard.record(undefined, asked, performance.now(), error);
      throw toConnectError(error);
    }
  }

  const impl: ServiceImpl<typeof CommandRouterService> = {
    async execute(request, context) {
      const caller = await callerOf(context, { action: "execute", service: request.service, clientId: request.clientId });
      const outcome = await executeOne(caller, request, context.signal, context.timeoutMs());
      if (outcome.ok) return { reply: outcome.reply };
      throw toConnectError(outcome.error, (value) => packReply(outcome.replySchema, value));
    },

    async *executeStream(requests, context) {
      // Authenticated once, before a single request is read; each call is authorised on its own.
      const caller = await callerOf(context, { action: "execute", service: "*" });
      const results = new PushQueue<MessageInitShape<typeof ExecuteStreamResultSchema>>();
      const calls = new Map<bigint, AbortController>();
      let streamError: CommandError | undefined;
      let reading = true;
      // When the caller's credential expires, a new call is refused (Unauthenticated, never started:
      // the caller resends it on a new stream), those running are answered, then the stream ends.
      const expiry = caller.expiresAt === undefined ? undefined : untilExpiry(caller.expiresAt);
      const finishIfDone = (): void => {
        if ((!reading || expiry?.signal.aborted === true) && calls.size === 0) results.end();
      };
      expiry?.signal.addEventListener("abort", finishIfDone, { once: true });
      const fail = (callId: bigint, error: unknown, replySchema?: DescMessage): void => {
        results.tryPush({
          callId,
          outcome: { case: "error", value: toErrorDetail(error, (value) => packReply(replySchema, value)) },
          message: isCommandError(error) ? error.message : "internal error",
        });
      };
      const start = (call: ExecuteStreamCall): void => {
        const { callId } = call;
        if (call.kind.case === "cancel") {
          calls.get(callId)?.abort(new CommandCancelledError("cancelled by the caller"));
          return;
        }
        if (call.kind.case !== "execute") return fail(callId, new InvalidArgumentError("a stream call must either execute or cancel"));
        if (calls.has(callId)) {
          // Answering under that id would settle the live call: the caller is broken, end the stream.
          streamError ??= new InvalidArgumentError(`call id ${callId} is already in flight on this stream`);
          return;
        }
        if (calls.size >= maxCallsPerStream) {
          const refused = new QueueFullError(`${calls.size} calls in flight on this stream (limit ${maxCallsPerStream})`);
          const { service, clientId, command } = call.kind.value;
          guard.record(caller, { action: "execute", service, clientId }, performance.now(), refused, typeOf(command));
          return fail(callId, refused);
        }
        const controller = new AbortController();
        calls.set(callId, controller);
        void executeOne(caller, call.kind.value, controller.signal, undefined).then((outcome) => {
          calls.delete(callId);
          // A call the caller cancelled gets no answer: it stopped listening.
          if (!controller.signal.aborted) {
            if (outcome.ok) results.tryPush({ callId, outcome: { case: "reply", value: { reply: outcome.reply } } });
            else fail(callId, outcome.error, outcome.replySchema);
          }
          finishIfDone();
        });
      };
      const responseRoom = context.values.get(responseRoomKey);
      /** Undefined while answers flow; otherwise resolves when they may again (or the stream ends). */
      const backlog = (): Promise<void> | undefined => {
        if (results.ended || context.signal.aborted) return undefined;
        if (results.size >= maxCallsPerStream) return results.waitForRoom(maxDurationMs, context.signal, () => undefined).catch(() => undefined);
        return responseRoom();
      };
      // Requests are read in their own loop (never await a write and a read in one task).
      void (async () => {
        try {
          for await (const request of requests) {
            // An execute cancelled in the same message is never started.
            const cancelledHere = new Set(request.calls.filter((call) => call.kind.case === "cancel").map((call) => call.callId));
            for (const call of request.calls) {
              if (call.kind.case === "execute" && cancelledHere.has(call.callId)) continue;
              // A caller that does not read its answers gets no more calls taken up (nor read: its
              // writes then wait on HTTP/2 flow control) instead of answers buffered without bound.
              for (let wait = backlog(); wait !== undefined; wait = backlog()) await wait;
              start(call);
              if (streamError !== undefined) break;
            }
            if (streamError !== undefined) break;
          }
        } catch (error) {
          // The caller's side broke (a reset, unreadable bytes): every call in flight is dropped, and
          // unless the caller went away the stream ends saying why.
          streamError ??= new InvalidArgumentError(`the caller's stream failed: ${errorMessage(error)}`, { cause: error });
          for (const controller of calls.values()) controller.abort();
        } finally {
          reading = false;
          if (streamError !== undefined) {
            for (const controller of calls.values()) controller.abort();
            results.end();
          }
          finishIfDone();
        }
      })();
      // One listener for the stream instead of a combined signal per call.
      context.signal.addEventListener(
        "abort",
        () => {
          for (const controller of calls.values()) controller.abort(context.signal.reason);
          results.end();
        },
        { once: true },
      );
      // Answers that are ready together travel in one message.
      try {
        yield* results.batches(streamBatchSize, (batch) => ({ results: batch }));
      } finally {
        expiry?.dispose();
      }
      // The call's deadline (grpc-timeout) passed: the stream ends DEADLINE_EXCEEDED, not as if it were done.
      const reason: unknown = context.signal.reason;
      if (reason instanceof ConnectError && reason.code === Code.DeadlineExceeded) throw reason;
      if (streamError !== undefined && !context.signal.aborted) {
        if (streamError.cause instanceof ConnectError && streamError.cause.code === Code.ResourceExhausted) throw streamError.cause;
        throw toConnectError(streamError);
      }
      if (expiry?.signal.aborted === true && !context.signal.aborted) {
        throw toConnectError(new UnauthenticatedError("the credential expired: reconnect with a fresh one"));
      }
    },

    async post(request, context) {
      const asked = { action: "post" as const, service: request.service, clientId: request.clientId };
      const caller = await callerOf(context, asked);
      const started = performance.now();
      try {
        guard.check(caller, asked);
        const { hub, command: commandSchema } = lookup(request.service);
        const command = unpackCommand(request.command, commandSchema, request.service, request.clientId);
        const call = { queueTimeoutMs: request.queueTimeoutMs, waitForConnectMs: request.waitForConnectMs };
        const commandId =
          options.router === undefined
            ? await hub.post(request.clientId, command, { ...call, signal: context.signal })
            : await options.router.post(hub.definition, { ...call, clientId: request.clientId, command }, { signal: context.signal });
        guard.record(caller, asked, started, undefined, typeOf(request.command));
        return { commandId };
      } catch (error) {
        guard.record(caller, asked, started, error, typeOf(request.command));
        throw toConnectError(error);
      }
    },

    async listClients(request, context) {
      const asked = { action: "list" as const, service: request.service };
      const caller = await callerOf(context, asked);
      const started = performance.now();
      try {
        guard.check(caller, asked);
        const { hub } = lookup(request.service);
        const held = options.router === undefined ? hub.clients() : await options.router.listClients(hub.definition, { signal: context.signal });
        const clients = guard.visible(caller, request.service, held);
        guard.record(caller, asked, started, undefined);
        return {
          clients: clients.map((client) => ({
            id: client.clientId,
            connectedAt: timestampFromDate(client.connectedAt),
            lastSeenAt: timestampFromDate(client.lastSeenAt),
            metadata: client.metadata,
            pendingCommands: client.pendingCommands,
          })),
        };
      } catch (error) {
        guard.record(caller, asked, started, error);
        throw toConnectError(error);
      }
    },
  };
  servableLean(impl.executeStream);
  return impl;
}

/** The short type name of a packed command, for the audit log. */
function typeOf(any: Any | undefined): string | undefined {
  return any?.typeUrl.slice(any.typeUrl.lastIndexOf("/") + 1);
}
