// A caller's trace continues across the cluster: W3C trace context in the NATS request's headers,
// a span on the node holding the client, the hub's send under it, its context on the command.
import { create } from "@bufbuild/protobuf";
import { context, propagation, trace } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider, type ReadableSpan } from "@opentelemetry/sdk-trace";
import { connect } from "@nats-io/transport-node";
import { afterAll, beforeAll, expect, it } from "vitest";
import { BotStatus, botCommands, botService, CommandResultSchema, type CommandResult, type ConnectResponse } from "@streamcmd/demo-protocol";
import { createHarness, demoBotProtocol, replyWith, startNatsServer, type Harness, type NatsServer } from "@streamcmd/testing";
import { createNatsNode } from "./index.js";

const exporter = new InMemorySpanExporter();
let server: NatsServer;
const closers: (() => unknown)[] = [];
beforeAll(async () => {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] }));
  server = await startNatsServer();
});
afterAll(async () => {
  for (const close of closers.splice(0).reverse()) await close();
  await server.stop();
  trace.disable();
  propagation.disable();
  context.disable();
});

type BotHarness = Harness<unknown, unknown, ConnectResponse, CommandResult>;
async function node(nodeId: string) {
  const hub = createHarness(demoBotProtocol) as unknown as BotHarness;
  const nats = await connect({ servers: server.url });
  const created = await createNatsNode({ nats, services: [hub.service as never], nodeId, heartbeatIntervalMs: 100 });
  closers.push(() => hub.close(), () => nats.close(), () => created.close());
  return { node: created, hub };
}
const named = (name: string): ReadableSpan => {
  const span = exporter.getFinishedSpans().find((candidate) => candidate.name === name);
  if (span === undefined) throw new Error(`no span "${name}"`);
  return span;
};

it("a caller on node A, a bot on node B: B's span is the caller's child, the hub's send B's, and the command carries it", async () => {
  const [a, b] = await Promise.all([node("A"), node("B")]);
  let traceparent = "";
  await b.hub.connect("bot-b", {
    behaviour: replyWith((command) => ((traceparent = command.traceparent), create(CommandResultSchema, { reply: { case: "start", value: { status: BotStatus.RUNNING } } }))),
  });
  await expect.poll(() => a.node.isConnected(botService, "bot-b")).toBe(true);
  await trace.getTracer("the caller").startActiveSpan("caller", async (root) => {
    await a.node.router.execute(botService, { clientId: "bot-b", command: botCommands.start({ reason: "traced" }), timeoutMs: 5_000, waitForConnectMs: 0, queueTimeoutMs: 0 });
    root.end();
  });
  await expect.poll(() => exporter.getFinishedSpans().length).toBe(3);
  const [caller, onNode, send] = [named("caller"), named("streamcmd node execute"), named("streamcmd send")];
  expect(new Set([caller, onNode, send].map((span) => span.spanContext().traceId)).size).toBe(1);
  expect(onNode.parentSpanContext?.spanId).toBe(caller.spanContext().spanId);
  expect(send.parentSpanContext?.spanId).toBe(onNode.spanContext().spanId);
  expect(onNode.attributes).toMatchObject({ "streamcmd.node": "B", "streamcmd.client_id": "bot-b", "streamcmd.outcome": "ok" });
  expect(traceparent).toContain(send.spanContext().spanId);
});
