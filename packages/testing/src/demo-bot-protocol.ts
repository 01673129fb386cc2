import { create } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import {
  botAgentBinding,
  BotStatus,
  botService,
  CommandResultSchema,
  ConnectRequestSchema,
  type CommandResult,
  type ConnectRequest,
  type ConnectResponse,
} from "@streamcmd/demo-protocol";
import type { Protocol } from "./protocol.js";

/** The reply a fake demo bot gives by default: the command's own reply, RUNNING (STOPPED after stop). */
function defaultDemoReply(command: ConnectResponse, commandId: string): CommandResult {
  const detail = `done: ${command.command.case ?? "nothing"}`;
  switch (command.command.case) {
    case "start":
      return create(CommandResultSchema, { commandId, reply: { case: "start", value: { status: BotStatus.RUNNING, detail } } });
    case "stop":
      return create(CommandResultSchema, { commandId, reply: { case: "stop", value: { status: BotStatus.STOPPED, detail } } });
    case "configUpdate":
      return create(CommandResultSchema, { commandId, reply: { case: "configUpdate", value: { status: BotStatus.RUNNING, detail } } });
    case "ping":
      return create(CommandResultSchema, { commandId, reply: { case: "ping", value: { status: BotStatus.RUNNING } } });
    default:
      return create(CommandResultSchema, { commandId, reply: { case: "failure", value: { code: "unknown_command", message: detail } } });
  }
}

/** Both ends of the demo bot protocol (`@streamcmd/demo-protocol`), for fake bots in the harness. */
export const demoBotProtocol: Protocol<ConnectRequest, ConnectResponse, ConnectResponse, CommandResult> = {
  definition: botService,
  client: botAgentBinding,
  event: () => create(ConnectRequestSchema, { message: { case: "heartbeat", value: { sentAt: timestampNow(), status: BotStatus.RUNNING } } }),
  // A result without a reply: the one message the hub cannot read (an unknown member goes to onMessage).
  malformed: () => create(ConnectRequestSchema, { message: { case: "result", value: { commandId: "c-malformed" } } }),
  defaultReply: defaultDemoReply,
};
