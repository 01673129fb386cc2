import type { ClientInfo } from "./streaming-service.js";

/** One command for a client connected to another process, as the command client hands it over. */
export interface RemoteCommandRequest {
  /** The streaming service's registered name in the server process. */
  service: string;
  clientId: string;
  /** The command; the router implementation knows how to put it on the wire. */
  command: unknown;
  /** Reply timeout in ms; the deadline travels with the call. */
  timeoutMs: number;
  /** How long the server waits for the client to connect, in ms; 0 fails fast. */
  waitForConnectMs: number;
  /** How long the server waits for room in a full client queue, in ms; 0 fails fast. */
  queueTimeoutMs: number;
}

/**
 * The cross-process path, as the core sees it: something that reaches the CommandRouter of the
 * process holding the client. `@streamcmd/transport-connect` implements it over Connect; the
 * testing package has an in-memory one. Every method rejects with the same typed `CommandError`
 * classes a same-process call would.
 */
export interface RemoteRouter {
  /** Sends the command and resolves with the client's reply. */
  execute(request: RemoteCommandRequest, options?: { signal?: AbortSignal }): Promise<unknown>;
  /** Queues the command without waiting for a reply; resolves with the command id. */
  post(request: Omit<RemoteCommandRequest, "timeoutMs" | "waitForConnectMs"> & { waitForConnectMs?: number }, options?: { signal?: AbortSignal }): Promise<string>;
  /** The clients connected to `service` now. */
  listClients(service: string, options?: { signal?: AbortSignal }): Promise<ClientInfo[]>;
}

/** Makes (or reuses) the router for a target URL; installed with `setRemoteRouterFactory`. */
export type RemoteRouterFactory = (target: string) => RemoteRouter;

// On globalThis for the same reason as the registry: one per process, whatever copies are loaded.
const factoryKey = Symbol.for("streamcmd.remoteRouterFactory.v1");

/**
 * Installs the factory command clients use to reach `remoteTarget` when they were given no
 * `remote` router. A transport package provides one (e.g. transport-connect's
 * `connectRemoteRouterFactory`). Returns a cleanup that restores the previous factory.
 */
export function setRemoteRouterFactory(factory: RemoteRouterFactory | undefined): () => void {
  const holder = globalThis as { [factoryKey]?: RemoteRouterFactory };
  const previous = holder[factoryKey];
  holder[factoryKey] = factory;
  return () => {
    if (holder[factoryKey] === factory) holder[factoryKey] = previous;
  };
}

/** The installed factory, if any. */
export function getRemoteRouterFactory(): RemoteRouterFactory | undefined {
  return (globalThis as { [factoryKey]?: RemoteRouterFactory })[factoryKey];
}
