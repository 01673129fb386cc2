import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  botAgentBinding,
  BotStatus,
  CommandResultSchema,
  ConnectRequestSchema,
  ConnectResponseSchema,
  type CommandResult,
  type ConnectRequest,
  type ConnectResponse,
} from "@streamcmd/demo-protocol";

/** Internal: the same ~100-byte command and reply for every contender. */
const reason = "bench: rebalance portfolio BTC/ETH/SOL at market open, max slippage 0.2%, window 30s";

export function benchCommand(): ConnectResponse {
  return create(ConnectResponseSchema, { command: { case: "start", value: { reason } } });
}

export function benchReply(commandId: string): CommandResult {
  return create(CommandResultSchema, { commandId, reply: { case: "start", value: { status: BotStatus.RUNNING, detail: reason } } });
}

/** A bench bot's first message. */
export function benchHello(botId: string): ConnectRequest {
  return botAgentBinding.hello({ clientId: botId, metadata: { version: "bench" } });
}

/** Sizes on the wire, for the report. */
export function payloadSizes(): { command: number; reply: number } {
  const command = toBinary(ConnectResponseSchema, create(ConnectResponseSchema, { commandId: "0123456789abcdef", command: { case: "start", value: { reason } } }));
  const reply = toBinary(ConnectRequestSchema, create(ConnectRequestSchema, { message: { case: "result", value: benchReply("0123456789abcdef") } }));
  return { command: command.length, reply: reply.length };
}

/** The JSON payload of the Socket.IO contender: the same fields as the protobuf command. */
export const socketPayload = { commandId: "", command: { start: { reason } } };
export const socketReply = { start: { status: "RUNNING", detail: reason } };

export { fromBinary, toBinary, ConnectRequestSchema, ConnectResponseSchema };
