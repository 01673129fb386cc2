import * as http2 from "node:http2";
import { fromBinary, type DescMethodBiDiStreaming, type DescService, type Message } from "@bufbuild/protobuf";
import { Code, ConnectError, createHandlerContext, type ConnectRouter, type ContextValues, type HandlerContext } from "@connectrpc/connect";
import { createEndStreamSerialization, endStreamFlag, parseTimeout as parseConnectTimeout } from "@connectrpc/connect/protocol-connect";
import { parseTimeout as parseGrpcTimeout, setTrailerStatus } from "@connectrpc/connect/protocol-grpc";
import { PushQueue } from "@streamcmd/core/internal";
import { createFrameDecoder, frame, writeFrames } from "./frames.js";
import { resetError, webHeaders } from "./grpc-stream.js";
import { encoderOf } from "./router-codec.js";

/** A bidi method's implementation, as Connect calls it. */
type BidiImpl = (requests: AsyncIterable<Message>, context: HandlerContext) => AsyncIterable<Message>;

/** Internal: a bidi method the lean path serves, found among a server's routes. */
export interface LeanRoute {
  readonly method: DescMethodBiDiStreaming;
  readonly impl: BidiImpl;
  /** The largest request message, in bytes (the route's `readMaxBytes`, else the server's). */
  readonly readMaxBytes: number;
  /** Whether unknown fields are kept while decoding (false with `streamRouteOptions()`). */
  readonly readUnknownFields: boolean;
  /** The largest deadline a caller may ask for, in ms. */
  readonly maxTimeoutMs: number;
}

/** Implementations that may be served on the lean path: they set no response header of their own (the headers go out at once). */
const leanSafe = new WeakSet<object>();

/** Internal: marks a bidi implementation of this package as servable on the lean path. */
export function servableLean<F extends object>(impl: F): F {
  leanSafe.add(impl);
  return impl;
}

/** The route options the lean path honours; the rest of Connect's handler options are connect-node's business. */
interface RouteOptions {
  readMaxBytes?: number;
  maxTimeoutMs?: number;
  binaryOptions?: { readUnknownFields?: boolean };
}

/** Internal: what `watchRoutes` reports of each service registered. */
export type RouteListener = (service: DescService, impl: Record<string, unknown>, options: RouteOptions | undefined) => void;

/** Internal: `routes`, with every `router.service(…)` it makes reported to `listener` first. */
export function watchRoutes(routes: (router: ConnectRouter) => void, listener: RouteListener): (router: ConnectRouter) => void {
  return (router) => {
    const watching: ConnectRouter = new Proxy(router, {
      get(target, key) {
        if (key === "service") {
          const service: ConnectRouter["service"] = (service, impl, options) => {
            listener(service, impl as Record<string, unknown>, options);
            target.service(service, impl, options);
            return watching;
          };
          return service;
        }
        const value: unknown = Reflect.get(target, key, target);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    routes(watching);
  };
}

/**
 * Internal: a route listener that records, in `table` by request path (`/pkg.Service/Method`), the
 * bidi methods whose implementation is lean-safe. connect-node still gets every route (it serves
 * what the lean path hands over).
 */
export function leanRouteRecorder(defaults: { readMaxBytes: number; maxTimeoutMs: number }, table: Map<string, LeanRoute>): RouteListener {
  return (service, impl, options = {}) => {
    for (const method of service.methods) {
      const fn = impl[method.localName];
      if (method.methodKind !== "bidi_streaming" || typeof fn !== "function" || !leanSafe.has(fn)) continue;
      table.set(`/${service.typeName}/${method.name}`, {
        method: method as DescMethodBiDiStreaming,
        impl: (fn as BidiImpl).bind(impl),
        readMaxBytes: options.readMaxBytes ?? defaults.readMaxBytes,
        readUnknownFields: options.binaryOptions?.readUnknownFields ?? true,
        maxTimeoutMs: options.maxTimeoutMs ?? defaults.maxTimeoutMs,
      });
    }
  };
}

/** One of the two wire protocols the lean path speaks; both share the 5-byte envelope. */
interface WireProtocol {
  readonly name: "grpc" | "connect";
  readonly contentType: string;
  readonly encodingHeader: string;
  readonly timeoutHeader: string;
  parseTimeout(value: string | null, maxTimeoutMs: number): { timeoutMs?: number; error?: ConnectError };
  /** Ends the response with the call's status: gRPC trailers, or Connect's end-of-stream message. */
  end(stream: http2.ServerHttp2Stream, trailer: Headers, error: ConnectError | undefined): void;
}

const grpc: WireProtocol = {
  name: "grpc",
  contentType: "application/grpc+proto",
  encodingHeader: "grpc-encoding",
  timeoutHeader: "grpc-timeout",
  parseTimeout: parseGrpcTimeout,
  end(stream, trailer, error) {
    setTrailerStatus(trailer, error);
    stream.once("wantTrailers", () => {
      stream.sendTrailers(Object.fromEntries(trailer));
      // Node sends them on its own next turn: the reset waits for the turn after.
      setImmediate(() => closeIfClientSending(stream));
    });
    stream.end();
  },
};

const endStream = createEndStreamSerialization(undefined);
const connect: WireProtocol = {
  name: "connect",
  contentType: "application/connect+proto",
  encodingHeader: "connect-content-encoding",
  timeoutHeader: "connect-timeout-ms",
  parseTimeout: parseConnectTimeout,
  end(stream, trailer, error) {
    stream.end(frame(endStream.serialize(error === undefined ? { metadata: trailer } : { metadata: trailer, error }), endStreamFlag), () => setImmediate(() => closeIfClientSending(stream)));
  },
};

/**
 * The response is complete: a client still sending its side is told to stop with a reset (NO_ERROR),
 * so the stream does not hold one of the connection's stream slots until the client ends it.
 */
function closeIfClientSending(stream: http2.ServerHttp2Stream): void {
  if (!stream.destroyed && stream.state.remoteClose === 0) stream.close(http2.constants.NGHTTP2_NO_ERROR);
}

/** The wire protocol of a request the lean path can take: binary protobuf, uncompressed; anything else goes to connect-node. */
function protocolOf(headers: http2.IncomingHttpHeaders): WireProtocol | undefined {
  if (headers[":method"] !== "POST") return undefined;
  const type = String(headers["content-type"] ?? "").split(";")[0]?.trim().toLowerCase();
  const protocol = type === "application/grpc" || type === "application/grpc+proto" ? grpc : type === "application/connect+proto" ? connect : undefined;
  if (protocol === undefined) return undefined;
  const encoding = headers[protocol.encodingHeader];
  return encoding === undefined || encoding === "identity" ? protocol : undefined;
}

/** Received requests the implementation has not taken yet before the stream stops reading (HTTP/2 flow control then holds the client). */
const inboxHighWater = 256;

/**
 * Internal: serves one request for `route` straight on its HTTP/2 stream, if it is binary protobuf
 * over gRPC or the Connect streaming protocol without compression (false otherwise: connect-node
 * serves it). The response headers go out at once; requests are decoded synchronously as their
 * bytes arrive; responses are framed and the frames of one event-loop turn written together,
 * waiting for `drain` when the stream is full; the call ends with the status in gRPC trailers or
 * Connect's end-of-stream message — the bytes connect-node would send for the same outcome.
 */
export function serveLean(route: LeanRoute, stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, values: ContextValues, shutdownSignal: AbortSignal | undefined): boolean {
  const protocol = protocolOf(headers);
  if (protocol === undefined) return false;
  const { method } = route;
  const timeout = protocol.parseTimeout((headers[protocol.timeoutHeader] as string | undefined) ?? null, route.maxTimeoutMs);
  const peer = new AbortController();
  const context = createHandlerContext({
    service: method.parent,
    method,
    protocolName: protocol.name,
    requestMethod: "POST",
    url: `http://${String(headers[":authority"] ?? "localhost")}${String(headers[":path"])}`,
    timeoutMs: timeout.timeoutMs,
    shutdownSignal,
    requestSignal: peer.signal,
    requestHeader: webHeaders(headers),
    responseHeader: { "content-type": protocol.contentType },
    responseTrailer: {},
    contextValues: values,
  });
  try {
    stream.respond({ ":status": 200, "content-type": protocol.contentType }, { waitForTrailers: protocol === grpc });
  } catch {
    stream.destroy(); // the session is going away
    return true;
  }
  let over = false;
  const inbox = new PushQueue<Message>();
  if (timeout.error !== undefined) inbox.end(timeout.error);
  else readRequests(route, stream, inbox, () => over);
  stream.on("error", () => {}); // a reset or a broken socket: "close" says which
  stream.once("close", () => {
    inbox.close();
    if (over) return;
    const { rstCode } = stream;
    peer.abort(rstCode === http2.constants.NGHTTP2_NO_ERROR ? undefined : resetError(rstCode, true));
  });
  const requests: AsyncIterable<Message> = {
    [Symbol.asyncIterator]: () => ({
      next: () => {
        if (stream.isPaused() && inbox.size < inboxHighWater / 2 && !stream.destroyed) stream.resume();
        return inbox.next();
      },
      return: () => (inbox.close(), Promise.resolve({ done: true as const, value: undefined })),
    }),
  };
  const finish = (thrown: unknown): void => {
    if (over) return;
    over = true;
    const error = thrown === undefined ? undefined : thrown instanceof ConnectError ? thrown : new ConnectError("internal error", Code.Internal, undefined, undefined, thrown);
    context.abort(error); // the handler's signal ends with the call, as connect-node's does
    inbox.close();
    if (!stream.destroyed && !stream.closed) protocol.end(stream, context.responseTrailer, error);
  };
  const encode = encoderOf(method.output);
  let responses: AsyncIterator<Message>;
  try {
    responses = route.impl(requests, context)[Symbol.asyncIterator]();
  } catch (error) {
    finish(error);
    return true;
  }
  writeFrames(stream, responses, encode, () => over || stream.destroyed).then(
    () => finish(undefined),
    (error: unknown) => finish(error),
  );
  return true;
}

/** Decodes `stream`'s request bytes into `inbox` as they arrive, until the call is `over`; pauses the stream while the inbox is full. */
function readRequests(route: LeanRoute, stream: http2.ServerHttp2Stream, inbox: PushQueue<Message>, over: () => boolean): void {
  const { readMaxBytes } = route;
  const decoder = createFrameDecoder({
    maxBytes: readMaxBytes,
    tooLarge: (length) => new ConnectError(`message size ${length} is larger than configured readMaxBytes ${readMaxBytes}`, Code.ResourceExhausted),
    badFlags: (flags) =>
      (flags & 0b1) !== 0
        ? new ConnectError("received compressed envelope, but do not know how to decompress", Code.Internal)
        : new ConnectError(`protocol error: invalid envelope flags 0x${flags.toString(16)}`, Code.InvalidArgument),
  });
  const binaryOptions = { readUnknownFields: route.readUnknownFields };
  let failed = false;
  stream.on("data", (chunk: Buffer) => {
    if (failed || over()) return; // a finished call reads nothing more
    try {
      for (const bytes of decoder.push(chunk)) {
        let message: Message;
        try {
          message = fromBinary(route.method.input, bytes, binaryOptions);
        } catch (error) {
          throw new ConnectError(`parse binary: ${error instanceof Error ? error.message : String(error)}`, Code.Internal);
        }
        inbox.tryPush(message);
      }
    } catch (error) {
      failed = true;
      inbox.end(error);
      return;
    }
    if (inbox.size >= inboxHighWater) stream.pause();
  });
  stream.once("end", () => {
    if (!failed) inbox.end(decoder.pending > 0 ? new ConnectError("protocol error: incomplete envelope", Code.InvalidArgument) : undefined);
  });
}
