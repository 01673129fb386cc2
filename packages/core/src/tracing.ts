import { context, propagation, SpanKind, SpanStatusCode, trace, type Context, type Span } from "@opentelemetry/api";
import { isCommandError } from "./errors.js";
import type { TraceContext } from "./service-definition.js";

/**
 * Internal: the hub's part of a trace, through `@opentelemetry/api` only — without an SDK installed
 * (a tracer provider, a propagator) every call here is a no-op, and the command carries no trace
 * context. With one: a span per command sent, a child of the caller's active span, whose W3C trace
 * context travels to the client with the command.
 */
const tracer = trace.getTracer("@streamcmd/core");

const sendSpanOptions = { kind: SpanKind.CLIENT };

/** A started span for one `send` of `service` to `clientId`. */
export function startSendSpan(service: string, clientId: unknown): Span {
  const span = tracer.startSpan("streamcmd send", sendSpanOptions);
  // Attributes only for a span that records: without an SDK a send allocates nothing more.
  if (span.isRecording()) span.setAttributes({ "streamcmd.service": service, "streamcmd.client_id": String(clientId) });
  return span;
}


/** The W3C trace context of `within` as the installed propagator writes it; undefined without one. */
function written(within: Context): TraceContext | undefined {
  const carrier: Partial<TraceContext> = {};
  propagation.inject(within, carrier);
  if (carrier.traceparent === undefined) return undefined;
  return carrier.tracestate === undefined || carrier.tracestate === "" ? { traceparent: carrier.traceparent } : { traceparent: carrier.traceparent, tracestate: carrier.tracestate };
}

/** The W3C trace context of `span` (a child of the active context), for the command it sends. */
export function traceContextOf(span: Span): TraceContext | undefined {
  // No propagator installed (no SDK): nothing would be written, so nothing is built to write it.
  if (propagation.fields().length === 0) return undefined;
  return written(trace.setSpan(context.active(), span));
}

/** Ends a send's span with its outcome: OK, or ERROR with the error's code. */
export function endSpan(span: Span, error: unknown): void {
  if (error === undefined) {
    span.setAttribute("streamcmd.outcome", "ok");
  } else {
    const code = isCommandError(error) ? error.code : "internal";
    span.setAttribute("streamcmd.outcome", code);
    span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : code });
  }
  span.end();
}

/** The active context's W3C trace context, for a call leaving the process; undefined when not traced. */
export function activeTraceContext(): TraceContext | undefined {
  return written(context.active());
}

/** A span started for work that arrived from elsewhere: `run` runs code inside it, `end` closes it with the work's outcome. */
export interface ChildSpan {
  run<T>(work: () => T): T;
  end(error: unknown): void;
}

/**
 * Internal: a SERVER span `name` for work that arrived with `parent` (a request's or a command's
 * trace context; without one, the active context is the parent): a transport's server side, a
 * cluster node taking a call, an agent's handler.
 */
export function childSpan(parent: TraceContext | undefined, name: string, attributes: Record<string, string>): ChildSpan {
  const parentContext = parent === undefined ? context.active() : propagation.extract(context.active(), parent);
  const span = tracer.startSpan(name, { kind: SpanKind.SERVER, attributes }, parentContext);
  const inside = trace.setSpan(parentContext, span);
  return { run: (work) => context.with(inside, work), end: (error) => endSpan(span, error) };
}
