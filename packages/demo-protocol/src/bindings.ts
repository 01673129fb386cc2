import { create, type JsonObject } from "@bufbuild/protobuf";
import { ProtocolError, type StreamBinding } from "@streamcmd/core";
import {
  BotStatus,
  CommandResultSchema,
  ConnectRequestSchema,
  ConnectResponseSchema,
  type CommandResult,
  type ConnectRequest,
  type ConnectResponse,
} from "./gen/demo/bot/v1/bot_pb.js";

/**
 * The hub binding for `demo.bot.v1.BotService/Connect`: a command is a `ConnectResponse` whose
 * `commandId` the hub fills in; the reply is the bot's `CommandResult`. The schemas let the
 * CommandRouter carry both across processes.
 */
export const demoBotBinding: StreamBinding<ConnectRequest, ConnectResponse, ConnectResponse, CommandResult> = {
  identify(message) {
    if (message.message.case !== "hello") return undefined;
    const { botId, version } = message.message.value;
    const metadata: Record<string, string> = version === "" ? {} : { version };
    return { clientId: botId, metadata };
  },
  wrapCommand(commandId, command) {
    if (command.command.case === undefined) {
      throw new ProtocolError("a bot command must set one of start, stop, config_update, ping");
    }
    return create(ConnectResponseSchema, { commandId, command: command.command });
  },
  readReply(message) {
    switch (message.message.case) {
      case "result": {
        const result = message.message.value;
        const outcome = result.outcome;
        if (outcome.case === "success") return { commandId: result.commandId, ok: true, reply: result };
        if (outcome.case === "failure") {
          return { commandId: result.commandId, ok: false, code: outcome.value.code, message: outcome.value.message, reply: result };
        }
        throw new ProtocolError(`result for command ${result.commandId} has neither success nor failure`);
      }
      case undefined:
        throw new ProtocolError("a bot message must set one of hello, result, heartbeat, status_report");
      default:
        return undefined;
    }
  },
  schemas: { command: ConnectResponseSchema, reply: CommandResultSchema },
};

/** The bot's first message. */
export function helloMessage(botId: string, version = ""): ConnectRequest {
  return create(ConnectRequestSchema, { message: { case: "hello", value: { botId, version } } });
}

/** A bot's success result; the agent runtime fills in the command id. */
export function successResult(status: BotStatus, detail = ""): CommandResult {
  return create(CommandResultSchema, { outcome: { case: "success", value: { detail } }, status });
}

/**
 * The agent-side binding of the demo protocol, for `connectAgent` (it has the shape of
 * `AgentBinding` from @streamcmd/transport-connect, without depending on it).
 */
export const demoBotAgentBinding = {
  readCommand: (message: ConnectResponse): { commandId: string; command: ConnectResponse } => ({ commandId: message.commandId, command: message }),
  success: (commandId: string, result: CommandResult): ConnectRequest =>
    create(ConnectRequestSchema, { message: { case: "result", value: { ...result, commandId } } }),
  failure: (commandId: string, code: string, message: string, status: BotStatus = BotStatus.ERROR): ConnectRequest =>
    create(ConnectRequestSchema, {
      message: { case: "result", value: { commandId, outcome: { case: "failure", value: { code, message } }, status } },
    }),
  heartbeat: (status: BotStatus = BotStatus.RUNNING): ConnectRequest =>
    create(ConnectRequestSchema, { message: { case: "heartbeat", value: { status } } }),
};

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
