// One trace from a caller to a bot and back, across the router, the hub and the agent, over real
// HTTP/2: W3C trace context on the wire (ExecuteRequest, the command), spans recorded in memory.
import { context, propagation, SpanKind, trace } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider, type ReadableSpan } from "@opentelemetry/sdk-trace";
import { afterAll, afterEach, beforeAll, expect, it } from "vitest";
import { botCommands, botService } from "@streamcmd/demo-protocol";
import { createRemoteRouter, type CommandContext } from "./index.js";
import { resultFor, testScope } from "./test-support/bot-server.js";

const exporter = new InMemorySpanExporter();
const contextManager = new AsyncLocalStorageContextManager();
beforeAll(() => {
  context.setGlobalContextManager(contextManager.enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] }));
});
afterAll(() => {
  trace.disable();
  propagation.disable();
  context.disable();
});
const scope = testScope();
afterEach(async () => {
  await scope.closeAll();
  exporter.reset();
});

const named = (spans: ReadableSpan[], name: string): ReadableSpan => {
  const span = spans.find((candidate) => candidate.name === name);
  if (span === undefined) throw new Error(`no span "${name}" among ${spans.map((s) => s.name).join(", ")}`);
  return span;
};
const parentOf = (span: ReadableSpan): string | undefined => span.parentSpanContext?.spanId;

it("caller → router → hub → bot: one trace, each span the child of the one before, the handler inside its own", async () => {
  const bots = await scope.server();
  const seen: { trace?: CommandContext["trace"]; activeSpanId?: string } = {};
  scope.agent(bots.url, "bot-1", {
    onCommand: (command, commandContext) => {
      seen.trace = commandContext.trace;
      seen.activeSpanId = trace.getActiveSpan()?.spanContext().spanId;
      return resultFor(command, "bot-1");
    },
  });
  await bots.hub.waitForClient("bot-1", { timeoutMs: 5_000 });
  const router = createRemoteRouter({ baseUrl: bots.url });
  scope.defer(() => router.close());
  const tracer = trace.getTracer("the caller");
  await tracer.startActiveSpan("caller", async (root) => {
    await router.execute(botService, { clientId: "bot-1", command: botCommands.ping({}), timeoutMs: 5_000, waitForConnectMs: 0, queueTimeoutMs: 0 });
    root.end();
  });
  await expect.poll(() => exporter.getFinishedSpans().length).toBe(4);
  const spans = exporter.getFinishedSpans();
  const [caller, router_, send, handle] = ["caller", "streamcmd router execute", "streamcmd send", "streamcmd handle"].map((name) => named(spans, name));
  expect(new Set(spans.map((span) => span.spanContext().traceId)).size).toBe(1);
  expect(parentOf(router_!)).toBe(caller!.spanContext().spanId);
  expect(parentOf(send!)).toBe(router_!.spanContext().spanId);
  expect(parentOf(handle!)).toBe(send!.spanContext().spanId);
  expect([router_!.kind, send!.kind, handle!.kind]).toEqual([SpanKind.SERVER, SpanKind.CLIENT, SpanKind.SERVER]);
  expect(send!.attributes).toMatchObject({ "streamcmd.service": "demo.bot.v1.BotService", "streamcmd.client_id": "bot-1", "streamcmd.outcome": "ok" });
  // The handler saw the command's trace context and ran inside its span.
  expect(seen.trace?.traceparent).toMatch(new RegExp(`^00-${caller!.spanContext().traceId}-${send!.spanContext().spanId}-0[01]$`));
  expect(seen.activeSpanId).toBe(handle!.spanContext().spanId);
});

it("a failed command ends its spans with an error status and its code", async () => {
  const bots = await scope.server();
  const router = createRemoteRouter({ baseUrl: bots.url });
  scope.defer(() => router.close());
  await trace.getTracer("the caller").startActiveSpan("caller", async (root) => {
    await router.execute(botService, { clientId: "absent", command: botCommands.ping({}), timeoutMs: 1_000, waitForConnectMs: 0, queueTimeoutMs: 0 }).catch(() => {});
    root.end();
  });
  await expect.poll(() => exporter.getFinishedSpans().length).toBe(3);
  const send = named(exporter.getFinishedSpans(), "streamcmd send");
  expect(send.status.code).toBe(2); // ERROR
  expect(send.attributes["streamcmd.outcome"]).toBe("client_not_connected");
  expect(named(exporter.getFinishedSpans(), "streamcmd router execute").attributes["streamcmd.outcome"]).toBe("client_not_connected");
});

it("without a trace, commands carry none and the handler sees none", async () => {
  const bots = await scope.server();
  let traced: unknown = "unset";
  scope.agent(bots.url, "bot-1", { onCommand: (command, commandContext) => ((traced = commandContext.trace), resultFor(command, "bot-1")) });
  await bots.hub.waitForClient("bot-1", { timeoutMs: 5_000 });
  propagation.disable(); // no propagator: nothing to write on the wire
  try {
    await bots.hub.send("bot-1", botCommands.ping({}));
  } finally {
    propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  }
  expect(traced).toBeUndefined();
});
