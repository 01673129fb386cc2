import { InvalidArgumentError } from "@streamcmd/core";

/** Characters a subject token keeps as they are; every other byte is written `~XX` (hex). */
const plain = /^[A-Za-z0-9_-]$/;

/**
 * Internal: `value` as one NATS subject token — `.`, `*`, `>`, spaces, `~` and any non-ASCII
 * character become `~` and two hex digits per UTF-8 byte, so every client id and service name is
 * exactly one token and no two values share one (`bot.1` → `bot~2e1`, `bot-1` stays `bot-1`).
 */
export function subjectToken(value: string): string {
  let token = "";
  for (const char of value) {
    if (plain.test(char)) token += char;
    else for (const byte of Buffer.from(char, "utf8")) token += `~${byte.toString(16).padStart(2, "0")}`;
  }
  return token;
}

/** Internal: the subjects one namespace of a cluster uses. */
export interface Subjects {
  /** Where commands for one client go; its node subscribes in the queue group `queue`. */
  client(service: string, clientId: string): string;
  /** Announced by a node once a client is routable through it (callers waiting for it retry). */
  up(service: string, clientId: string): string;
  /** A node's liveness beat, every heartbeat interval. */
  heartbeat(nodeId: string): string;
  /** Every node's beat. */
  readonly heartbeats: string;
  /** Said once by a node that is closing: calls still on it fail at once. */
  bye(nodeId: string): string;
  /** Every node's goodbye. */
  readonly byes: string;
  /** Cancels of calls in flight on a node. */
  cancel(nodeId: string): string;
  /** Each node answers with the clients of `service` it holds. */
  list(service: string): string;
  /** Each node sends a command to every client of `service` it holds and answers with their outcomes. */
  broadcast(service: string): string;
  /** Where a node says it admitted a client, so an older connection elsewhere is closed. */
  claim(service: string, clientId: string): string;
  /** Every claim of the namespace. */
  readonly claims: string;
  /** The queue group of client subscriptions: one node gets each command, even while two hold the id. */
  readonly queue: string;
}

/** Internal: the subjects of `namespace` (one NATS token, e.g. "streamcmd"; several clusters can share a NATS). */
export function subjectsOf(namespace: string): Subjects {
  if (typeof namespace !== "string" || !/^[A-Za-z0-9_-]{1,64}$/.test(namespace)) {
    throw new InvalidArgumentError(`namespace must be 1 to 64 letters, digits, "-" or "_", got ${JSON.stringify(namespace)}`);
  }
  const ns = namespace;
  return {
    client: (service, clientId) => `${ns}.c.${subjectToken(service)}.${subjectToken(clientId)}`,
    up: (service, clientId) => `${ns}.up.${subjectToken(service)}.${subjectToken(clientId)}`,
    heartbeat: (nodeId) => `${ns}.n.${subjectToken(nodeId)}.hb`,
    heartbeats: `${ns}.n.*.hb`,
    bye: (nodeId) => `${ns}.n.${subjectToken(nodeId)}.bye`,
    byes: `${ns}.n.*.bye`,
    cancel: (nodeId) => `${ns}.n.${subjectToken(nodeId)}.cancel`,
    list: (service) => `${ns}.list.${subjectToken(service)}`,
    broadcast: (service) => `${ns}.bc.${subjectToken(service)}`,
    claim: (service, clientId) => `${ns}.claim.${subjectToken(service)}.${subjectToken(clientId)}`,
    claims: `${ns}.claim.>`,
    queue: `${ns}.holders`,
  };
}
