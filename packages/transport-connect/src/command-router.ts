import type { DescMessage, MessageInitShape } from "@bufbuild/protobuf";
import { anyIs, anyPack, anyUnpack, timestampFromDate, type Any } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import {
  CommandCancelledError,
  CommandError,
  getStreamingService,
  InternalError,
  QueueFullError,
  InvalidArgumentError,
  ServiceNotFoundError,
  type AnyStreamingService,
} from "@streamcmd/core";
import { packReply, toConnectError, toErrorDetail } from "./error-mapping.js";
import {
  CommandRouterService,
  type ExecuteRequest,
  type ExecuteStreamCall,
  type ExecuteStreamResultSchema,
} from "./gen/streamcmd/v1/command_router_pb.js";
import { Mailbox } from "./mailbox.js";

/** Options of `createCommandRouter`. */
export interface CommandRouterOptions {
  /** Calls one `ExecuteStream` may have in flight; one more is refused with `QueueFullError`. Default 4096. */
  maxCallsPerStream?: number;
  /** The services it serves, by name. Default: whatever is in the process registry at call time. */
  services?: Record<string, AnyStreamingService>;
  /** The largest packed command accepted, in bytes. Default 1 MiB. */
  maxCommandBytes?: number;
}

const defaultMaxCommandBytes = 1024 * 1024;
/** Most calls (or answers) one ExecuteStream message carries. */
export const streamBatchSize = 256;

/**
 * The server side of `streamcmd.v1.CommandRouterService`: `router.service(CommandRouterService,
 * createCommandRouter())`. `Execute` unpacks the command with the streaming service's schema
 * (`binding.schemas`), sends it, and packs the reply; every failure is a status with a
 * `CommandErrorDetail`, so the remote caller rebuilds the same typed error.
 */
export function createCommandRouter(options: CommandRouterOptions = {}): ServiceImpl<typeof CommandRouterService> {
  const maxCommandBytes = options.maxCommandBytes ?? defaultMaxCommandBytes;
  const maxCallsPerStream = options.maxCallsPerStream ?? 4096;
  if (!Number.isInteger(maxCallsPerStream) || maxCallsPerStream < 1) {
    throw new InvalidArgumentError(`maxCallsPerStream must be a positive whole number, got ${String(maxCallsPerStream)}`);
  }
  if (!Number.isInteger(maxCommandBytes) || maxCommandBytes < 1) {
    throw new InvalidArgumentError(`maxCommandBytes must be a positive whole number, got ${String(maxCommandBytes)}`);
  }

  function findHub(name: string): AnyStreamingService {
    if (name === "") throw new InvalidArgumentError("service is required");
    const { services } = options;
    const hub = services !== undefined ? (Object.hasOwn(services, name) ? services[name] : undefined) : getStreamingService(name);
    if (hub === undefined) throw new ServiceNotFoundError(`no streaming service "${name}" on this server`, { service: name });
    return hub;
  }

  function lookup(name: string): { hub: AnyStreamingService; command: DescMessage; reply: DescMessage } {
    const hub = findHub(name);
    const schemas = hub.binding.schemas as { command?: DescMessage; reply?: DescMessage } | undefined;
    if (schemas?.command?.kind !== "message" || schemas.reply?.kind !== "message") {
      throw new InternalError(
        `streaming service "${name}" has no protobuf schemas: set binding.schemas = { command, reply } to reach it across processes`,
        { service: name },
      );
    }
    return { hub, command: schemas.command, reply: schemas.reply };
  }

  function unpackCommand(any: Any | undefined, schema: DescMessage, service: string, clientId: string): unknown {
    const where = { service, clientId };
    if (clientId === "") throw new InvalidArgumentError("client_id is required", where);
    if (any === undefined) throw new InvalidArgumentError("command is required", where);
    if (any.value.byteLength > maxCommandBytes) {
      throw new InvalidArgumentError(`command is ${any.value.byteLength} bytes, over the limit of ${maxCommandBytes}`, where);
    }
    if (!anyIs(any, schema)) {
      throw new InvalidArgumentError(`command must be a ${schema.typeName}, got "${any.typeUrl}"`, where);
    }
    try {
      return anyUnpack(any, schema);
    } catch (cause) {
      throw new InvalidArgumentError(`command is not a valid ${schema.typeName}`, { ...where, cause });
    }
  }

  /** The reply timeout: the request's, capped by what is left of the call's deadline (if it has one). */
  function replyTimeout(requested: number, leftMs: number | undefined): number | undefined {
    if (requested === 0) return leftMs === undefined ? undefined : Math.max(1, leftMs);
    return leftMs === undefined ? requested : Math.max(1, Math.min(requested, leftMs));
  }

  type Outcome = { ok: true; reply: Any } | { ok: false; error: unknown; replySchema: DescMessage | undefined };

  /** One Execute, unary or on the stream: never throws, the outcome says how it ended. */
  async function executeOne(request: ExecuteRequest, signal: AbortSignal, leftMs: number | undefined): Promise<Outcome> {
    let replySchema: DescMessage | undefined;
    try {
      const { hub, command: commandSchema, reply } = lookup(request.service);
      replySchema = reply;
      const command = unpackCommand(request.command, commandSchema, request.service, request.clientId);
      const timeoutMs = replyTimeout(request.timeoutMs, leftMs);
      const result = await hub.send(request.clientId, command, {
        ...(timeoutMs === undefined ? {} : { timeoutMs }),
        waitForConnectMs: request.waitForConnectMs,
        queueTimeoutMs: request.queueTimeoutMs,
        signal,
      });
      return { ok: true, reply: anyPack(reply, result as never) };
    } catch (error) {
      return { ok: false, error, replySchema };
    }
  }

  return {
    async execute(request, context) {
      const outcome = await executeOne(request, context.signal, context.timeoutMs());
      if (outcome.ok) return { reply: outcome.reply };
      throw toConnectError(outcome.error, (value) => packReply(outcome.replySchema, value));
    },

    async *executeStream(requests, context) {
      const results = new Mailbox<MessageInitShape<typeof ExecuteStreamResultSchema>>();
      const calls = new Map<bigint, AbortController>();
      let streamError: CommandError | undefined;
      let reading = true;
      const finishIfDone = (): void => {
        if (!reading && calls.size === 0) results.end();
      };
      const fail = (callId: bigint, error: unknown, replySchema?: DescMessage): void => {
        results.push({
          callId,
          outcome: { case: "error", value: toErrorDetail(error, (value) => packReply(replySchema, value)) },
          message: error instanceof CommandError ? error.message : "internal error",
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
          return fail(callId, new QueueFullError(`${calls.size} calls in flight on this stream (limit ${maxCallsPerStream})`));
        }
        const controller = new AbortController();
        calls.set(callId, controller);
        void executeOne(call.kind.value, controller.signal, undefined).then((outcome) => {
          calls.delete(callId);
          // A call the caller cancelled gets no answer: it stopped listening.
          if (!controller.signal.aborted) {
            if (outcome.ok) results.push({ callId, outcome: { case: "reply", value: { reply: outcome.reply } } });
            else fail(callId, outcome.error, outcome.replySchema);
          }
          finishIfDone();
        });
      };
      // Requests are read in their own loop (never await a write and a read in one task).
      void (async () => {
        try {
          for await (const request of requests) {
            // An execute cancelled in the same message is never started.
            const cancelledHere = new Set(request.calls.filter((call) => call.kind.case === "cancel").map((call) => call.callId));
            for (const call of request.calls) {
              if (call.kind.case === "execute" && cancelledHere.has(call.callId)) continue;
              start(call);
              if (streamError !== undefined) break;
            }
            if (streamError !== undefined) break;
          }
        } catch {
          // The caller's side broke: every call in flight is dropped.
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
      yield* results.batches(streamBatchSize, (batch) => ({ results: batch }));
      if (streamError !== undefined) throw toConnectError(streamError);
    },

    async post(request, context) {
      try {
        const { hub, command: commandSchema } = lookup(request.service);
        const command = unpackCommand(request.command, commandSchema, request.service, request.clientId);
        const commandId = await hub.post(request.clientId, command, {
          queueTimeoutMs: request.queueTimeoutMs,
          waitForConnectMs: request.waitForConnectMs,
          signal: context.signal,
        });
        return { commandId };
      } catch (error) {
        throw toConnectError(error);
      }
    },

    async listClients(request) {
      try {
        const hub = findHub(request.service);
        return {
          clients: hub.clients().map((client) => ({
            id: client.clientId,
            connectedAt: timestampFromDate(client.connectedAt),
            lastSeenAt: timestampFromDate(client.lastSeenAt),
            metadata: client.metadata,
            pendingCommands: client.pendingCommands,
          })),
        };
      } catch (error) {
        throw toConnectError(error);
      }
    },
  };
}
