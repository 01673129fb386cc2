import { create } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import {
  BotStatus,
  CommandResultSchema,
  ConnectRequestSchema,
  demoBotBinding,
  type CommandResult,
  type ConnectRequest,
  type ConnectResponse,
} from "@streamcmd/demo-protocol";
import type { Protocol } from "./protocol.js";

/** Both ends of the demo bot protocol (`@streamcmd/demo-protocol`), for fake bots in the harness. */
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
