import {
  errorFromInfo,
  isCommandError,
  ServiceNotFoundError,
  toErrorInfo,
  type ClientInfo,
  type CommandTarget,
  type RegisteredService,
  type RemoteCommandRequest,
  type RemoteRouter,
  type ServiceKey,
} from "@streamcmd/core";

/** A `RemoteRouter` that reaches hubs in this process as if they were in another one. */
export interface LoopbackRouter extends RemoteRouter {
  /** Calls made so far, by method. */
  readonly calls: { execute: number; post: number; listClients: number };
}

/** Whether `hub` serves `service` (the same definition, or the hub itself): what makes its replies `TReply`. */
function serves<TCommand, TReply>(hub: RegisteredService, service: ServiceKey<TCommand, TReply>): hub is RegisteredService & CommandTarget<TCommand, TReply> {
  return hub === service || hub.definition === service;
}

/**
 * The testing fake of the cross-process path: it calls the given hubs directly but passes every
 * value through a copy and every error through its wire form (`toErrorInfo` → JSON →
 * `errorFromInfo`), so a test sees what a caller in another process would: no shared objects,
 * the same typed error classes.
 */
export function createLoopbackRouter(services: readonly RegisteredService[]): LoopbackRouter {
  const calls = { execute: 0, post: 0, listClients: 0 };

  function hub<TCommand, TReply>(service: ServiceKey<TCommand, TReply>): CommandTarget<TCommand, TReply> {
    const found = services.find((candidate) => candidate.name === service.name);
    if (found === undefined || !serves(found, service)) {
      throw new ServiceNotFoundError(`no streaming service "${service.name}" on the server`, { service: service.name });
    }
    return found;
  }

  async function overTheWire<T>(call: () => Promise<T>): Promise<T> {
    try {
      return structuredClone(await call());
    } catch (error) {
      const info = JSON.parse(JSON.stringify(toErrorInfo(error))) as ReturnType<typeof toErrorInfo>;
      throw errorFromInfo(info, { cause: isCommandError(error) ? undefined : error });
    }
  }

  return {
    calls,
    execute<TCommand, TReply>(service: ServiceKey<TCommand, TReply>, request: RemoteCommandRequest<TCommand>, options: { signal?: AbortSignal } = {}) {
      calls.execute++;
      const command = structuredClone(request.command);
      const { timeoutMs, queueTimeoutMs, waitForConnectMs } = request;
      const key = request.idempotencyKey === undefined ? {} : { idempotencyKey: request.idempotencyKey };
      return overTheWire(() => hub(service).send(request.clientId, command, { timeoutMs, queueTimeoutMs, waitForConnectMs, ...key, ...(options.signal ? { signal: options.signal } : {}) }));
    },
    post<TCommand, TReply>(service: ServiceKey<TCommand, TReply>, request: Omit<RemoteCommandRequest<TCommand>, "timeoutMs">, options: { signal?: AbortSignal } = {}) {
      calls.post++;
      const command = structuredClone(request.command);
      const { queueTimeoutMs, waitForConnectMs } = request;
      return overTheWire(() => hub(service).post(request.clientId, command, { queueTimeoutMs, waitForConnectMs, ...(options.signal ? { signal: options.signal } : {}) }));
    },
    listClients(service: ServiceKey<unknown, unknown>): Promise<ClientInfo[]> {
      calls.listClients++;
      return overTheWire(async () => hub(service).clients());
    },
  };
}
