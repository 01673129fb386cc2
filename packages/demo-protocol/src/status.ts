import { BotStatus } from "./gen/demo/bot/v1/bot_pb.js";

/** `"RUNNING"` for `BotStatus.RUNNING`, for logs and tables. */
export function statusName(status: BotStatus): string {
  return BotStatus[status] ?? `UNKNOWN(${status})`;
}
