import { InvalidArgumentError, ServiceAlreadyRegisteredError } from "./errors.js";
import type { ServiceKey } from "./service-definition.js";
import type { CommandTarget, StreamingService } from "./streaming-service-types.js";
import { checkName } from "./validate.js";

/** Any hub, whatever its message types: what the registry holds. */
export type RegisteredService = StreamingService<unknown, unknown, unknown, unknown>;

/**
 * The process-wide table lives on `globalThis` under a registered symbol, so two copies of this
 * module (two bundles, two versions in node_modules) still share one registry.
 */
const registryKey = Symbol.for("streamcmd.registry.v1");

function services(): Map<string, RegisteredService> {
  const holder = globalThis as { [registryKey]?: { services: Map<string, RegisteredService> } };
  let state = holder[registryKey];
  if (state === undefined) {
    state = { services: new Map() };
    Object.defineProperty(globalThis, registryKey, { value: state, enumerable: false, configurable: true });
  }
  return state.services;
}

/** Options of `registerStreamingService`. */
export interface RegisterOptions {
  /** Replace a service already registered under the name instead of failing. Default false. */
  replace?: boolean;
}

/**
 * Registers `service` under its name for this whole process, so command clients created with its
 * definition reach it directly (same-process). Throws `ServiceAlreadyRegisteredError` if the name
 * is taken, unless `replace` is set. Returns a cleanup that unregisters it, and only it: a cleanup
 * left over from a replaced registration does not remove the replacement.
 */
export function registerStreamingService(service: RegisteredService, options: RegisterOptions = {}): () => void {
  if (typeof service !== "object" || service === null || typeof service.send !== "function" || typeof service.handleStream !== "function") {
    throw new InvalidArgumentError("registerStreamingService: not a streaming service (make one with createStreamingService)");
  }
  const name = checkName("a streaming service name", service.name);
  const table = services();
  const existing = table.get(name);
  if (existing !== undefined && existing !== service && options.replace !== true) {
    throw new ServiceAlreadyRegisteredError(`a streaming service named "${name}" is already registered; pass { replace: true } to replace it`, { service: name });
  }
  table.set(name, service);
  return () => {
    unregisterStreamingService(service);
  };
}

/** Whether `hub` was made from `service` (or is it): the run-time proof behind the registry's types. */
function isServiceOf<TCommand, TReply>(hub: RegisteredService, service: ServiceKey<TCommand, TReply>): hub is RegisteredService & CommandTarget<TCommand, TReply> {
  return hub === service || hub.definition === service;
}

/**
 * The hub registered in this process for `service` (a definition, or a hub), typed by it; undefined
 * if none is registered under its name. Throws `InvalidArgumentError` if the hub registered under
 * the name was made from another definition: its commands and replies would not be these types.
 */
export function getStreamingService<TCommand, TReply>(service: ServiceKey<TCommand, TReply>): CommandTarget<TCommand, TReply> | undefined {
  const hub = services().get(service.name);
  if (hub === undefined) return undefined;
  if (isServiceOf(hub, service)) return hub;
  throw new InvalidArgumentError(
    `the streaming service registered as "${service.name}" was made from another definition than the one asked for; one name, one definition`,
    { service: service.name },
  );
}

/** The registered names, in registration order. */
export function listStreamingServices(): string[] {
  return [...services().keys()];
}

/**
 * Removes a registration: `service` (only if it is the one registered under its name), or whatever
 * is registered under a name. Returns whether something was removed. The service is not closed.
 */
export function unregisterStreamingService(service: RegisteredService | string): boolean {
  const table = services();
  const name = typeof service === "string" ? service : service.name;
  const existing = table.get(name);
  if (existing === undefined || (typeof service !== "string" && existing !== service)) return false;
  return table.delete(name);
}

/** Whether a service is registered under the name (of `service`). */
export function isRegistered(service: ServiceKey<unknown, unknown> | string): boolean {
  return services().has(typeof service === "string" ? service : service.name);
}

/** Removes every registration (for tests and shutdown); the services are not closed. */
export function clearRegistry(): void {
  services().clear();
}
