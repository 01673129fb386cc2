import type { Message } from "@bufbuild/protobuf";
import { createInbox, type NatsConnection } from "@nats-io/transport-node";
import { CommandCancelledError, NodeLostError, type BroadcastOutcome, type ServiceKey } from "@streamcmd/core";
import { checkDuration } from "@streamcmd/core/internal";
import type { ClusterCaller } from "./caller.js";
import type { BroadcastPart } from "./holder.js";
import type { Subjects } from "./subjects.js";
import { errorFromBody, header, headersOf, packCommand, unpackReply } from "./wire.js";

/** A broadcast's outcome for one client, with the node that holds it. */
export type ClusterBroadcastOutcome<TReply> = BroadcastOutcome<TReply> & { nodeId: string };

/** Options of `NatsNode.broadcast`. */
export interface ClusterBroadcastOptions {
  /** Each client's reply timeout, in ms. Default 5000. */
  timeoutMs?: number;
  /** Stops waiting: the outcomes not in yet are `CommandCancelledError`. */
  signal?: AbortSignal;
}

/**
 * Internal: sends `command` to every client of `service` on every live node — one message per node,
 * each node sends it to its own clients and answers with their outcomes. A node that does not
 * answer within the timeout (plus `marginMs`) leaves its clients (as presence listed them) with
 * `NodeLostError`.
 */
export async function clusterBroadcast<TCommand, TReply>(
  context: { nats: NatsConnection; subjects: Subjects; caller: ClusterCaller; marginMs: number; listed: () => Promise<{ clientId: string; nodeId: string }[]> },
  service: ServiceKey<TCommand, TReply>,
  command: TCommand,
  options: ClusterBroadcastOptions = {},
): Promise<ClusterBroadcastOutcome<TReply>[]> {
  const { schemas, body } = packCommand(service, command);
  const timeoutMs = checkDuration("timeoutMs", options.timeoutMs ?? 5_000, 1);
  const expected = new Set(context.caller.liveNodes().filter((node) => node.services.includes(service.name)).map((node) => node.instance));
  if (expected.size === 0) return [];
  const listed = await context.listed();
  const outcomes = new Map<string, ClusterBroadcastOutcome<TReply>>();
  const inbox = createInbox();
  await new Promise<void>((resolve) => {
    const finish = () => (clearTimeout(timer), options.signal?.removeEventListener("abort", finish), sub.unsubscribe(), resolve());
    const timer = setTimeout(finish, timeoutMs + context.marginMs);
    options.signal?.addEventListener("abort", finish, { once: true });
    const sub = context.nats.subscribe(inbox, {
      callback: (_err, msg) => {
        let part: BroadcastPart;
        try {
          part = msg.json<BroadcastPart>();
        } catch {
          return;
        }
        for (const outcome of part.outcomes ?? []) {
          const where = { service: service.name, clientId: outcome.clientId };
          outcomes.set(
            outcome.clientId,
            outcome.reply !== undefined
              ? { clientId: outcome.clientId, nodeId: part.nodeId, ok: true, reply: unpackReply(schemas, Buffer.from(outcome.reply, "base64"), where) as TReply & Message }
              : { clientId: outcome.clientId, nodeId: part.nodeId, ok: false, error: errorFromBody(outcome.error, schemas, where) },
          );
        }
        if (part.last) expected.delete(part.instance);
        if (expected.size === 0) finish();
      },
    });
    if (options.signal?.aborted) return finish();
    context.nats.publish(context.subjects.broadcast(service.name), body, { reply: inbox, headers: headersOf({ [header.kind]: "execute", [header.timeoutMs]: timeoutMs }) });
  });
  // Clients presence listed whose node never answered in full.
  for (const { clientId, nodeId } of listed) {
    if (outcomes.has(clientId)) continue;
    const where = { service: service.name, clientId };
    const error = options.signal?.aborted
      ? new CommandCancelledError("the broadcast was cancelled before this client's outcome came", { ...where, cause: options.signal.reason })
      : new NodeLostError(`node ${nodeId} did not answer the broadcast within ${timeoutMs + context.marginMs} ms; the command may have run`, where);
    outcomes.set(clientId, { clientId, nodeId, ok: false, error });
  }
  return [...outcomes.values()];
}
