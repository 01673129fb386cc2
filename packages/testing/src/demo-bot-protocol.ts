import { create } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
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
import type { Protocol } from "./protocol.js";

/**
 * The binding for the demo bot protocol (`demo.bot.v1.BotService/Connect`): the command is a
 * `ConnectResponse` whose `commandId` the hub fills in, the reply is the bot's `CommandResult`.
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

/** Both ends of the demo bot protocol, for fake bots. */
export const demoBotProtocol: Protocol<ConnectRequest, ConnectResponse, ConnectResponse, CommandResult> = {
  binding: demoBotBinding,
  codec: {
    hello: (identity) =>
      create(ConnectRequestSchema, {
        message: { case: "hello", value: { botId: identity.clientId, version: identity.metadata?.["version"] ?? "" } },
      }),
    readCommand: (message) => ({ commandId: message.commandId, command: message }),
    success: (commandId, reply) =>
      create(ConnectRequestSchema, { message: { case: "result", value: { ...reply, commandId } } }),
    failure: (commandId, code, message) =>
      create(ConnectRequestSchema, {
        message: {
          case: "result",
          value: { commandId, outcome: { case: "failure", value: { code, message } }, status: BotStatus.ERROR },
        },
      }),
    event: () =>
      create(ConnectRequestSchema, {
        message: { case: "heartbeat", value: { sentAt: timestampNow(), status: BotStatus.RUNNING } },
      }),
    malformed: () => create(ConnectRequestSchema, {}),
  },
  defaultReply: (command, commandId) =>
    create(CommandResultSchema, {
      commandId,
      outcome: { case: "success", value: { detail: `done: ${command.command.case ?? "nothing"}` } },
      status: command.command.case === "stop" ? BotStatus.STOPPED : BotStatus.RUNNING,
    }),
};
