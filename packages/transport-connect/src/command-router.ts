import type { DescMessage } from "@bufbuild/protobuf";
import { anyIs, anyPack, anyUnpack, timestampFromDate, type Any } from "@bufbuild/protobuf/wkt";
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import {
  getStreamingService,
  InternalError,
  InvalidArgumentError,
  ServiceNotFoundError,
  type AnyStreamingService,
} from "@streamcmd/core";
import { packReply, toConnectError } from "./error-mapping.js";
import { CommandRouterService } from "./gen/streamcmd/v1/command_router_pb.js";

/** Options of `createCommandRouter`. */
export interface CommandRouterOptions {
  /** The services it serves, by name. Default: whatever is in the process registry at call time. */
  services?: Record<string, AnyStreamingService>;
  /** The largest packed command accepted, in bytes. Default 1 MiB. */
  maxCommandBytes?: number;
}

const defaultMaxCommandBytes = 1024 * 1024;

/**
 * The server side of `streamcmd.v1.CommandRouterService`: `router.service(CommandRouterService,
 * createCommandRouter())`. `Execute` unpacks the command with the streaming service's schema
 * (`binding.schemas`), sends it, and packs the reply; every failure is a status with a
 * `CommandErrorDetail`, so the remote caller rebuilds the same typed error.
 */
export function createCommandRouter(options: CommandRouterOptions = {}): ServiceImpl<typeof CommandRouterService> {
  const maxCommandBytes = options.maxCommandBytes ?? defaultMaxCommandBytes;
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

  /** The reply timeout: the request's, capped by what is left of the call's deadline. */
  function replyTimeout(requested: number, context: HandlerContext): number | undefined {
    const left = context.timeoutMs();
    if (requested === 0) return left;
    return left === undefined ? requested : Math.min(requested, Math.max(0, left));
  }

  return {
    async execute(request, context) {
      let replySchema: DescMessage | undefined;
      try {
        const { hub, command: commandSchema, reply } = lookup(request.service);
        replySchema = reply;
        const command = unpackCommand(request.command, commandSchema, request.service, request.clientId);
        const timeoutMs = replyTimeout(request.timeoutMs, context);
        const result = await hub.send(request.clientId, command, {
          ...(timeoutMs === undefined ? {} : { timeoutMs }),
          waitForConnectMs: request.waitForConnectMs,
          queueTimeoutMs: request.queueTimeoutMs,
          signal: context.signal,
        });
        return { reply: anyPack(reply, result as never) };
      } catch (error) {
        throw toConnectError(error, (value) => packReply(replySchema, value));
      }
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
