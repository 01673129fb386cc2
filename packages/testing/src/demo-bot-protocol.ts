import { create } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import {
  BotStatus,
  botService,
  CommandResultSchema,
  ConnectRequestSchema,
  demoBotClientBinding,
  type CommandResult,
  type ConnectRequest,
  type ConnectResponse,
} from "@streamcmd/demo-protocol";
import type { Protocol } from "./protocol.js";

/** Both ends of the demo bot protocol (`@streamcmd/demo-protocol`), for fake bots in the harness. */
export const demoBotProtocol: Protocol<ConnectRequest, ConnectResponse, ConnectResponse, CommandResult> = {
  definition: botService,
  client: demoBotClientBinding,
  event: () => create(ConnectRequestSchema, { message: { case: "heartbeat", value: { sentAt: timestampNow(), status: BotStatus.RUNNING } } }),
  malformed: () => create(ConnectRequestSchema, {}),
  defaultReply: (command, commandId) =>
    create(CommandResultSchema, {
      commandId,
      outcome: { case: "success", value: { detail: `done: ${command.command.case ?? "nothing"}` } },
      status: command.command.case === "stop" ? BotStatus.STOPPED : BotStatus.RUNNING,
    }),
};
