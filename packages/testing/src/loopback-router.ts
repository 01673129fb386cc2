import {
  CommandError,
  errorFromInfo,
  toErrorInfo,
  ServiceNotFoundError,
  type ClientInfo,
  type RemoteCommandRequest,
  type RemoteRouter,
  type AnyStreamingService,
} from "@streamcmd/core";

/** A `RemoteRouter` that reaches hubs in this process as if they were in another one. */
export interface LoopbackRouter extends RemoteRouter {
  /** Calls made so far, by method. */
  readonly calls: { execute: number; post: number; listClients: number };
}

/**
 * The testing fake of the cross-process path: it calls the given hubs directly but passes every
 * value through a copy and every error through its wire form (`toErrorInfo` → JSON →
 * `errorFromInfo`), so a test sees what a caller in another process would: no shared objects,
 * the same typed error classes.
 */
export function createLoopbackRouter(services: Record<string, AnyStreamingService>): LoopbackRouter {
  const calls = { execute: 0, post: 0, listClients: 0 };

  function hub(name: string): AnyStreamingService {
    const found = Object.hasOwn(services, name) ? services[name] : undefined;
    if (found === undefined) throw new ServiceNotFoundError(`no streaming service "${name}" on the server`, { service: name });
    return found;
  }

  async function overTheWire<T>(call: () => Promise<T>): Promise<T> {
    try {
      return structuredClone(await call());
    } catch (error) {
      const info = JSON.parse(JSON.stringify(toErrorInfo(error))) as ReturnType<typeof toErrorInfo>;
      const rebuilt = errorFromInfo(info, { cause: error instanceof CommandError ? undefined : error });
      throw rebuilt;
    }
  }

  return {
    calls,
    execute(request: RemoteCommandRequest, options = {}) {
      calls.execute++;
      const command = structuredClone(request.command);
      return overTheWire(() =>
        hub(request.service).send(request.clientId, command, {
          timeoutMs: request.timeoutMs,
          queueTimeoutMs: request.queueTimeoutMs,
          waitForConnectMs: request.waitForConnectMs,
          ...(options.signal ? { signal: options.signal } : {}),
        }),
      );
    },
    post(request, options = {}) {
      calls.post++;
      const command = structuredClone(request.command);
      return overTheWire(() =>
        hub(request.service).post(request.clientId, command, {
          queueTimeoutMs: request.queueTimeoutMs,
          waitForConnectMs: request.waitForConnectMs ?? 0,
          ...(options.signal ? { signal: options.signal } : {}),
        }),
      );
    },
    listClients(service: string): Promise<ClientInfo[]> {
      calls.listClients++;
      return overTheWire(async () => hub(service).clients());
    },
  };
}
