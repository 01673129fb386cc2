import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { BotStatus, CommandResultSchema, ConnectRequestSchema, ConnectResponseSchema, type CommandResult, type ConnectResponse } from "@streamcmd/demo-protocol";

/** Internal: the same ~100-byte command and reply for every contender. */
const reason = "bench: rebalance portfolio BTC/ETH/SOL at market open, max slippage 0.2%, window 30s";

export function benchCommand(): ConnectResponse {
  return create(ConnectResponseSchema, { command: { case: "start", value: { reason } } });
}

export function benchReply(commandId: string): CommandResult {
  return create(CommandResultSchema, { commandId, outcome: { case: "success", value: { detail: reason } }, status: BotStatus.RUNNING });
}

/** Sizes on the wire, for the report. */
export function payloadSizes(): { command: number; reply: number } {
  const command = toBinary(ConnectResponseSchema, create(ConnectResponseSchema, { commandId: "0123456789abcdef", command: { case: "start", value: { reason } } }));
  const reply = toBinary(ConnectRequestSchema, create(ConnectRequestSchema, { message: { case: "result", value: benchReply("0123456789abcdef") } }));
  return { command: command.length, reply: reply.length };
}

/** The JSON payload of the Socket.IO contender: the same fields as the protobuf command. */
export const socketPayload = { commandId: "", command: { start: { reason } } };
export const socketReply = { outcome: { success: { detail: reason } }, status: "RUNNING" };

export { fromBinary, toBinary, ConnectRequestSchema, ConnectResponseSchema };
