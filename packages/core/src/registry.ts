import { InvalidArgumentError, ServiceAlreadyRegisteredError } from "./errors.js";
import type { AnyStreamingService } from "./streaming-service.js";

/**
 * The process-wide table lives on `globalThis` under a registered symbol, so two copies of this
 * module (two bundles, two versions in node_modules) still share one registry.
 */
const registryKey = Symbol.for("streamcmd.registry.v1");

interface RegistryState {
  readonly services: Map<string, AnyStreamingService>;
}

function state(): RegistryState {
  const holder = globalThis as { [registryKey]?: RegistryState };
  let current = holder[registryKey];
  if (current === undefined) {
    current = { services: new Map() };
    Object.defineProperty(globalThis, registryKey, { value: current, enumerable: false, configurable: true });
  }
  return current;
}

/** Options of `registerStreamingService`. */
export interface RegisterOptions {
  /** Replace a service already registered under the name instead of failing. Default false. */
  replace?: boolean;
}

/**
 * Registers `service` under `name` for this whole process, so command clients created with the
 * name reach it directly (same-process mode). Throws `ServiceAlreadyRegisteredError` if the name is
 * taken, unless `replace` is set. Returns a cleanup that unregisters it, and only it: a cleanup
 * left over from a replaced registration does not remove the replacement.
 */
export function registerStreamingService(
  name: string,
  service: AnyStreamingService,
  options: RegisterOptions = {},
): () => void {
  checkName(name);
  if (typeof service !== "object" || service === null || typeof service.send !== "function") {
    throw new InvalidArgumentError(`registerStreamingService("${name}"): not a streaming service`);
  }
  const { services } = state();
  const existing = services.get(name);
  if (existing !== undefined && existing !== service && options.replace !== true) {
    throw new ServiceAlreadyRegisteredError(
      `a streaming service named "${name}" is already registered; pass { replace: true } to replace it`,
      { service: name },
    );
  }
  services.set(name, service);
  return () => {
    unregisterStreamingService(name, service);
  };
}

/** The service registered under `name`, or undefined. */
export function getStreamingService<TCommand = unknown, TReply = unknown>(
  name: string,
): AnyStreamingService<TCommand, TReply> | undefined {
  return state().services.get(name);
}

/** The registered names, in registration order. */
export function listStreamingServices(): string[] {
  return [...state().services.keys()];
}

/**
 * Removes the service registered under `name`; with `service`, only if that is the one registered.
 * Returns whether something was removed. The service itself is not closed.
 */
export function unregisterStreamingService(name: string, service?: AnyStreamingService): boolean {
  const { services } = state();
  const existing = services.get(name);
  if (existing === undefined || (service !== undefined && existing !== service)) return false;
  return services.delete(name);
}

/** Whether a service is registered under `name`. */
export function isRegistered(name: string): boolean {
  return state().services.has(name);
}

/** Removes every registration (for tests and shutdown); the services are not closed. */
export function clearRegistry(): void {
  state().services.clear();
}

function checkName(name: unknown): asserts name is string {
  if (typeof name !== "string" || name.trim() === "" || name !== name.trim()) {
    throw new InvalidArgumentError(
      `a streaming service name must be a non-empty string without surrounding spaces, got ${JSON.stringify(name)}`,
    );
  }
}
