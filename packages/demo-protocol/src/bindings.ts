import { create, type JsonObject } from "@bufbuild/protobuf";
import type { ClientBinding } from "@streamcmd/core";
import {
  BotStatus,
  CommandResultSchema,
  ConnectRequestSchema,
  ConnectResponseSchema,
  type CommandResult,
  type ConnectRequest,
  type ConnectResponse,
} from "./gen/demo/bot/v1/bot_pb.js";

/** The bot side of the demo protocol, for `connectAgent` and for fake bots in tests. */
export const demoBotClientBinding = {
  hello: (identity) =>
    create(ConnectRequestSchema, { message: { case: "hello", value: { botId: identity.clientId, version: identity.metadata?.["version"] ?? "" } } }),
  readCommand: (message) => (message.command.case === undefined || message.command.case === "welcome" ? undefined : { commandId: message.commandId, command: message }),
  isWelcome: (message) => message.command.case === "welcome",
  success: (commandId, result) => create(ConnectRequestSchema, { message: { case: "result", value: { ...result, commandId } } }),
  failure: (commandId: string, code: string, message: string, status: BotStatus = BotStatus.ERROR): ConnectRequest =>
    create(ConnectRequestSchema, { message: { case: "result", value: { commandId, outcome: { case: "failure", value: { code, message } }, status } } }),
  heartbeat: (status: BotStatus = BotStatus.RUNNING): ConnectRequest => create(ConnectRequestSchema, { message: { case: "heartbeat", value: { status } } }),
} satisfies ClientBinding<ConnectRequest, ConnectResponse, ConnectResponse, CommandResult>;

/** The bot's first message. */
export function helloMessage(botId: string, version = ""): ConnectRequest {
  return demoBotClientBinding.hello({ clientId: botId, metadata: { version } });
}

/** A bot's success result; the agent runtime fills in the command id. */
export function successResult(status: BotStatus, detail = ""): CommandResult {
  return create(CommandResultSchema, { outcome: { case: "success", value: { detail } }, status });
}

/** Commands, ready for `send`. */
export const botCommands = {
  start: (reason: string): ConnectResponse => create(ConnectResponseSchema, { command: { case: "start", value: { reason } } }),
  stop: (reason: string, graceful: boolean): ConnectResponse =>
    create(ConnectResponseSchema, { command: { case: "stop", value: { reason, graceful } } }),
  /** Replaces the whole config, or (with `fieldPaths`) patches only those dotted paths. */
  configUpdate: (config: JsonObject, fieldPaths?: readonly string[]): ConnectResponse =>
    create(ConnectResponseSchema, {
      command: {
        case: "configUpdate",
        value: { config, partial: fieldPaths !== undefined, fieldPaths: fieldPaths === undefined ? [] : [...fieldPaths] },
      },
    }),
  ping: (): ConnectResponse => create(ConnectResponseSchema, { command: { case: "ping", value: {} } }),
};

/** `"RUNNING"` for `BotStatus.RUNNING`, for logs and tables. */
export function statusName(status: BotStatus): string {
  return BotStatus[status] ?? `UNKNOWN(${status})`;
}
