/**
 * @streamcmd/transport-nats — a cluster of streamcmd server nodes on NATS. Each node holds some of
 * the client streams; a caller on any node, or in any process connected to the same NATS, reaches
 * any client and gets its reply, or a typed error fast:
 *
 * - one subject per connected client (`<namespace>.c.<service>.<client id>`, both encoded as one
 *   token each), subscribed by the node holding its stream: the subscription is the presence, with
 *   no lookup hop and no store on the hot path; NATS answers "no responders" at once when no node
 *   holds the client (`ClientNotConnectedError`);
 * - the holding node acknowledges with its id, then answers with the reply or the typed error (the
 *   same classes as same-process); deadlines, cancellation and idempotency keys travel in headers;
 * - nodes beat on their own subjects: a node that falls silent (killed, hung, cut off) fails the calls
 *   on it with `NodeLostError` within `nodeLostAfterMs`, not at their deadline;
 * - a client connecting to a second node replaces the first connection cluster-wide (last one wins);
 *   commands go to one node of the queue group, so none runs twice during the overlap;
 * - `waitForConnectMs` works cluster-wide (nodes announce a client once it is routable).
 *
 * @packageDocumentation
 */

export { createNatsNode, type ClusterClientInfo, type NatsNode, type NatsNodeOptions } from "./node.js";
export { subjectToken } from "./subjects.js";
export type { ClusterBroadcastOptions, ClusterBroadcastOutcome } from "./broadcast.js";
