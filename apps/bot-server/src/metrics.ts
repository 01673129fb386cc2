// Prometheus metrics for the demo server, with prom-client: the library reports through its events
// (hub.onConnect / onDisconnect / onCommandSettled, hub.stats(), the router's onCall, a cluster node's
// nodes()); this file is the only place that knows about an exporter.
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import type { StreamingService } from "@streamcmd/core";
import type { RouterCallRecord } from "@streamcmd/transport-connect";
import type { NatsNode } from "@streamcmd/transport-nats";

/** The demo server's metrics: feed router calls to `onRouterCall`, serve `handle` (GET /metrics). */
export interface DemoMetrics {
  readonly registry: Registry;
  onRouterCall(call: RouterCallRecord): void;
  /** Answers GET /metrics with the Prometheus text format; anything else 404. */
  handle(request: { readonly method?: string | undefined; readonly url?: string | undefined }, response: PlainResponse): void;
  /** Stops listening to the hub. */
  close(): void;
}

/** What an HTTP/1.1 or HTTP/2 response offers that the handler uses. */
interface PlainResponse {
  statusCode: number;
  setHeader(name: string, value: string): unknown;
  end(body: string): unknown;
}

/** Sends `body` with `status`. */
function reply(response: PlainResponse, status: number, contentType: string, body: string): void {
  response.statusCode = status;
  response.setHeader("content-type", contentType);
  response.end(body);
}

/** Seconds a command's round trip may take, bucketed: sub-millisecond to its longest timeouts. */
const roundTripBuckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** Every metric of the demo server (the README lists them), on a registry of its own. */
export function createDemoMetrics(hub: StreamingServiceLike, node?: NatsNode): DemoMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "streamcmd_" }); // process and Node.js runtime metrics
  const service = hub.name;
  const registers = [registry];
  new Gauge({ name: "streamcmd_connected_clients", help: "Clients connected to this server, by service.", labelNames: ["service"], registers, collect() {
    this.set({ service }, hub.stats().connectedClients);
  } });
  new Gauge({ name: "streamcmd_queued_messages", help: "Messages waiting in clients' outbound queues, by service.", labelNames: ["service"], registers, collect() {
    this.set({ service }, hub.stats().queuedMessages);
  } });
  new Gauge({ name: "streamcmd_pending_commands", help: "Commands sent and waiting for their replies, by service.", labelNames: ["service"], registers, collect() {
    this.set({ service }, hub.stats().pendingCommands);
  } });
  const connects = new Counter({ name: "streamcmd_client_connects_total", help: "Clients admitted, by service.", labelNames: ["service"], registers });
  const disconnects = new Counter({ name: "streamcmd_client_disconnects_total", help: "Clients gone, by service and reason.", labelNames: ["service", "reason"], registers });
  const commands = new Counter({ name: "streamcmd_commands_total", help: "Commands sent that settled, by service and outcome (ok or the error code).", labelNames: ["service", "outcome"], registers });
  const roundTrip = new Histogram({ name: "streamcmd_command_duration_seconds", help: "Round trip of a command, from the call to its outcome, by service.", labelNames: ["service"], buckets: roundTripBuckets, registers });
  const routerCalls = new Counter({ name: "streamcmd_router_calls_total", help: "CommandRouter calls by caller, action and outcome.", labelNames: ["caller", "action", "outcome"], registers });
  if (node !== undefined) {
    new Gauge({ name: "streamcmd_cluster_nodes", help: "Cluster nodes this node hears as live (itself included).", registers, collect() {
      this.set(node.nodes().size);
    } });
  }
  connects.inc({ service }, 0);
  const stops = [
    hub.onConnect(() => connects.inc({ service })),
    hub.onDisconnect((event) => disconnects.inc({ service, reason: event.reason })),
    hub.onCommandSettled((event) => {
      commands.inc({ service, outcome: event.outcome });
      roundTrip.observe({ service }, event.durationMs / 1000);
    }),
  ];
  return {
    registry,
    onRouterCall: (call) => routerCalls.inc({ caller: call.caller ?? "unknown", action: call.action, outcome: call.outcome }),
    handle(request, response) {
      if (request.method !== "GET" || (request.url ?? "").split("?")[0] !== "/metrics") {
        return reply(response, 404, "text/plain", "not found\n");
      }
      registry.metrics().then(
        (text) => reply(response, 200, registry.contentType, text),
        () => reply(response, 500, "text/plain", "metrics unavailable\n"),
      );
    },
    close: () => {
      for (const stop of stops) stop();
    },
  };
}

/** The part of a hub the metrics read. */
export type StreamingServiceLike = Pick<StreamingService<never, never, never, never>, "name" | "stats" | "onConnect" | "onDisconnect" | "onCommandSettled">;
