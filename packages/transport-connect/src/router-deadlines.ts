import { Code, ConnectError } from "@connectrpc/connect";
import { CommandTimeoutError, isCommandError } from "@streamcmd/core";
import type { ExecuteRequest } from "./gen/streamcmd/v1/command_router_pb.js";

/** The share of a call's remaining deadline kept back for the answer's way home: 20%, between these bounds, in ms. */
const deadlineMarginMinMs = 10;
const deadlineMarginMaxMs = 500;

/**
 * Internal: the reply timeout of a router call — the request's, capped by what is left of the call's
 * deadline (if it has one) less a margin, so the typed `command_timeout` answer reaches the caller
 * before its own deadline fires (a client library that gives up first reports a bare DEADLINE_EXCEEDED).
 */
export function replyTimeout(requested: number, leftMs: number | undefined): number | undefined {
  const cap = leftMs === undefined ? undefined : Math.max(1, Math.floor(leftMs - Math.min(deadlineMarginMaxMs, Math.max(deadlineMarginMinMs, leftMs / 5))));
  if (requested === 0) return cap;
  return cap === undefined ? requested : Math.min(requested, cap);
}

/** Internal: Connect aborts a handler's signal with DeadlineExceeded when the call's deadline passes: for the command, that is a timeout. */
export function deadlineAsTimeout(error: unknown, signal: AbortSignal, request: ExecuteRequest): unknown {
  const reason: unknown = signal.reason;
  if (!isCommandError(error, "command_cancelled") || !(reason instanceof ConnectError) || reason.code !== Code.DeadlineExceeded) return error;
  return new CommandTimeoutError(`no reply from ${request.clientId} within the call's deadline`, { service: request.service, clientId: request.clientId, cause: error });
}
