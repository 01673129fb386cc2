import { Code, ConnectError, type ConnectRouter } from "@connectrpc/connect";
import { createListeners, PushQueue } from "@streamcmd/core/internal";
import { Health, HealthCheckResponse_ServingStatus as ServingStatus } from "./gen/grpc/health/v1/health_pb.js";

export { HealthCheckResponse_ServingStatus as ServingStatus } from "./gen/grpc/health/v1/health_pb.js";

/** The statuses a server's `grpc.health.v1.Health` answers with, by service ("" is the server). */
export interface HealthStatuses {
  /** Sets a service's status (a new name is added); watchers are told at once. */
  set(service: string, status: ServingStatus.SERVING | ServingStatus.NOT_SERVING): void;
  /** A service's status, or undefined if the server does not know it. */
  get(service: string): ServingStatus | undefined;
  /** Every service NOT_SERVING: the server is draining. */
  drain(): void;
}

/**
 * Registers the gRPC health checking protocol on `router`: `Check` answers a service's status
 * (NOT_FOUND for one it does not know), `Watch` the status and then each change. `services` start
 * SERVING, with "" for the server as a whole. `startServer` calls it (unless `health: false`) and
 * turns every status to NOT_SERVING as `close()` begins, so a load balancer stops sending before the
 * connections are asked to go.
 */
export function registerHealth(router: ConnectRouter, services: readonly string[]): HealthStatuses {
  const statuses = new Map<string, ServingStatus>([["", ServingStatus.SERVING], ...services.map((name): [string, ServingStatus] => [name, ServingStatus.SERVING])]);
  const changes = createListeners<[string, ServingStatus]>(() => {}); // its one listener kind cannot throw
  const set = (service: string, status: ServingStatus): void => {
    if (statuses.get(service) === status) return;
    statuses.set(service, status);
    changes.emit(service, status);
  };
  router.service(Health, {
    check(request) {
      const status = statuses.get(request.service);
      if (status === undefined) throw new ConnectError(`unknown service "${request.service}"`, Code.NotFound);
      return { status };
    },
    async *watch(request, context) {
      const updates = new PushQueue<ServingStatus>();
      updates.tryPush(statuses.get(request.service) ?? ServingStatus.SERVICE_UNKNOWN);
      const stop = changes.add((service, status) => void (service === request.service && updates.tryPush(status)));
      const end = (): void => updates.end();
      context.signal.addEventListener("abort", end, { once: true });
      try {
        for await (const status of updates) yield { status };
      } finally {
        stop();
        context.signal.removeEventListener("abort", end);
      }
    },
  });
  return {
    set,
    get: (service) => statuses.get(service),
    drain: () => {
      for (const service of statuses.keys()) set(service, ServingStatus.NOT_SERVING);
    },
  };
}
