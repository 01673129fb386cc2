import { create } from "@bufbuild/protobuf";
import { defineStreamingService, ProtocolError, type StreamBinding } from "@streamcmd/core";
import { CommandResultSchema, ConnectResponseSchema, type CommandResult, type ConnectRequest, type ConnectResponse } from "./gen/demo/bot/v1/bot_pb.js";

// In: what a bot sends. Out: what the server sends. Command: what callers send. Reply: what they get back.
export const demoBotBinding: StreamBinding<ConnectRequest, ConnectResponse, ConnectResponse, CommandResult> = {
  identify: (msg) => {
    if (msg.message.case !== "hello") return undefined; // not a hello: the hub refuses the stream
    const { botId, version } = msg.message.value;
    const metadata: Record<string, string> = version === "" ? {} : { version };
    return { clientId: botId, metadata };
  },
  wrapCommand: (commandId, command) => {
    if (command.command.case === undefined || command.command.case === "welcome") throw new ProtocolError("a bot command must set one of start, stop, config_update, ping");
    return create(ConnectResponseSchema, { commandId, command: command.command });
  },
  readReply: (msg) => {
    if (msg.message.case === undefined) throw new ProtocolError("a bot message must set one of hello, result, heartbeat, status_report"); // dropped as malformed
    if (msg.message.case !== "result") return undefined; // heartbeats and status reports go to onMessage
    const r = msg.message.value;
    if (r.outcome.case === "success") return { commandId: r.commandId, ok: true, reply: r };
    if (r.outcome.case === "failure") return { commandId: r.commandId, ok: false, code: r.outcome.value.code, message: r.outcome.value.message, reply: r };
    throw new ProtocolError(`result for command ${r.commandId} has neither success nor failure`);
  },
  // The bot's proof that it is admitted: the hub sends it first, before any command.
  welcome: (client) => create(ConnectResponseSchema, { command: { case: "welcome", value: { botId: client.clientId } } }),
};

export const botService = defineStreamingService({
  name: "bots",
  binding: demoBotBinding,
  // Read by transports that carry commands across processes (transport-connect); the core never reads it.
  schemas: { command: ConnectResponseSchema, reply: CommandResultSchema },
});
