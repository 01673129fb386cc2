import type { ServiceKey } from "./service-definition.js";
import type { ClientInfo } from "./streaming-service-types.js";

/** One command for a client connected to another process, as a command client hands it over. */
export interface RemoteCommandRequest<TCommand> {
  clientId: string;
  command: TCommand;
  /** Reply timeout in ms; the deadline travels with the call. */
  timeoutMs: number;
  /** How long the server waits for the client to connect, in ms; 0 fails fast. */
  waitForConnectMs: number;
  /** How long the server waits for room in a full client queue, in ms; 0 fails fast. */
  queueTimeoutMs: number;
  /** `CallOptions.idempotencyKey`: the server's hub answers a retry with the first outcome. */
  idempotencyKey?: string;
}

/**
 * The cross-process path, as the core sees it: something that reaches the CommandRouter of the
 * process holding the client. `@streamcmd/transport-connect` implements it over Connect; the
 * testing package has an in-memory one. Every method rejects with the same typed `CommandError`
 * classes a same-process call would, and a service it cannot carry is refused before anything is
 * sent.
 */
export interface RemoteRouter {
  /** Sends the command and resolves with the client's reply. */
  execute<TCommand, TReply>(service: ServiceKey<TCommand, TReply>, request: RemoteCommandRequest<TCommand>, options?: { signal?: AbortSignal }): Promise<TReply>;
  /** Queues the command without waiting for a reply; resolves with the command id. */
  post<TCommand, TReply>(service: ServiceKey<TCommand, TReply>, request: Omit<RemoteCommandRequest<TCommand>, "timeoutMs" | "idempotencyKey">, options?: { signal?: AbortSignal }): Promise<string>;
  /** The clients connected to `service` now. */
  listClients(service: ServiceKey<unknown, unknown>, options?: { signal?: AbortSignal }): Promise<ClientInfo[]>;
}

// On globalThis for the same reason as the registry: one per process, whatever copies are loaded.
const routerKey = Symbol.for("streamcmd.remoteRouter.v1");

/**
 * Installs the router command clients use when their service is not in this process and they
 * were given no `router` of their own (transport-connect's `installRemoteRouter` calls this).
 * Returns a cleanup that restores the router installed before.
 */
export function setRemoteRouter(router: RemoteRouter | undefined): () => void {
  const holder = globalThis as { [routerKey]?: RemoteRouter };
  const previous = holder[routerKey];
  holder[routerKey] = router;
  return () => {
    if (holder[routerKey] === router) holder[routerKey] = previous;
  };
}

/** The installed router, if any. */
export function getRemoteRouter(): RemoteRouter | undefined {
  return (globalThis as { [routerKey]?: RemoteRouter })[routerKey];
}
