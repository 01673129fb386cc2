import * as http2 from "node:http2";
import { fromBinary, type DescMessage, type DescMethodBiDiStreaming, type MessageInitShape, type MessageShape } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { codeFromHttpStatus, validateTrailer } from "@connectrpc/connect/protocol-grpc";
import type { Http2SessionManager } from "@connectrpc/connect-node";
import { errorMessage, PushQueue } from "@streamcmd/core/internal";
import { createFrameDecoder, writeFrames, type FrameRules } from "./frames.js";
import { encoderOf } from "./router-codec.js";

/** Internal: a bidi call of a method `I → O` — requests in, responses out; the iteration throws a `ConnectError` when the call fails. */
export type BidiCall<I extends DescMessage, O extends DescMessage> = (
  requests: AsyncIterable<MessageInitShape<I>>,
  options: { signal: AbortSignal; headers?: Record<string, string> | undefined },
) => AsyncIterable<MessageShape<O>>;

/** Received messages the consumer has not taken yet before the stream stops reading (HTTP/2 flow control then holds the server). */
const inboxHighWater = 256;

const { NGHTTP2_CANCEL, NGHTTP2_REFUSED_STREAM, NGHTTP2_ENHANCE_YOUR_CALM, NGHTTP2_INADEQUATE_SECURITY, NGHTTP2_HTTP_1_1_REQUIRED, NGHTTP2_NO_ERROR } = http2.constants;

/**
 * Internal: a gRPC bidi call on a raw HTTP/2 stream of `sessionManager`'s connection — length-prefixed
 * protobuf frames, status from the trailers — for the long-lived streams (the agent's, the remote
 * router's `ExecuteStream`). connect-es 2.3's client races every read against a promise that lives as
 * long as the call, so a long-lived stream keeps every message it ever received (connect-es #1524);
 * here each read is its own promise and nothing outlives the message. Frames written in one turn of
 * the event loop go out as one write; a full socket pauses the request stream (`drain`), a slow
 * consumer pauses the reads. Failures are the `ConnectError`s Connect's client gives for the same
 * status, reset or socket error, so the code above maps them the same way.
 */
export function grpcBidiCall<I extends DescMessage, O extends DescMessage>(
  sessionManager: Http2SessionManager,
  method: DescMethodBiDiStreaming<I, O>,
  authorization: () => Promise<string | undefined>,
): BidiCall<I, O> {
  const path = `/${method.parent.typeName}/${method.name}`;
  const encode = encoderOf(method.input);
  return (requests, options) => ({
    [Symbol.asyncIterator]: () => {
      const inbox = new PushQueue<MessageShape<O>>();
      let stream: http2.ClientHttp2Stream | undefined;
      const opened = (async () => {
        const headers: http2.OutgoingHttpHeaders = { ...options.headers, "content-type": "application/grpc+proto", te: "trailers", "grpc-accept-encoding": "identity" };
        const token = await authorization();
        if (token !== undefined) headers.authorization = token;
        if (options.signal.aborted) throw abortError(options.signal);
        stream = await sessionManager.request("POST", path, headers, {});
        run(stream, inbox, options.signal, requests);
      })().catch((error: unknown) => inbox.end(toConnectError(error)));
      return {
        next: async () => {
          await opened;
          const result = await inbox.next();
          if (stream?.isPaused() === true && inbox.size < inboxHighWater / 2) stream.resume();
          return result;
        },
        return: async () => {
          inbox.close();
          if (stream !== undefined && !stream.closed) stream.close(NGHTTP2_CANCEL);
          return { done: true, value: undefined };
        },
      };
    },
  });

  function run(stream: http2.ClientHttp2Stream, inbox: PushQueue<MessageShape<O>>, signal: AbortSignal, requests: AsyncIterable<MessageInitShape<I>>): void {
    let finished = false;
    let responseHeaders: http2.IncomingHttpHeaders | undefined;
    let trailers: http2.IncomingHttpHeaders | undefined;
    const decoder = createFrameDecoder(serverFrameRules);
    const source = requests[Symbol.asyncIterator]();
    const finish = (error?: ConnectError): void => {
      if (finished) return;
      finished = true;
      signal.removeEventListener("abort", onAbort);
      void source.return?.()?.catch(() => {});
      inbox.end(error);
      if (stream.closed) return;
      // The call is over, whatever our side of the stream was doing (the server may end it before we
      // half-close). A failed one is cancelled and torn down, unread data and all.
      stream.close(error === undefined ? NGHTTP2_NO_ERROR : NGHTTP2_CANCEL);
      if (error !== undefined) stream.destroy();
    };
    const onAbort = (): void => {
      inbox.close(abortError(signal));
      finish(abortError(signal));
    };
    signal.addEventListener("abort", onAbort, { once: true });
    if (signal.aborted) return onAbort();

    stream.on("response", (headers) => {
      responseHeaders = headers;
      const status = Number(headers[":status"]);
      if (status !== 200) return finish(new ConnectError(`HTTP ${status} from the server`, codeFromHttpStatus(status)));
      if (headers["grpc-status"] !== undefined) return void (trailers = headers); // trailers-only: the call ended at once
      const type = String(headers["content-type"] ?? "");
      if (!type.startsWith("application/grpc")) finish(new ConnectError(`the server answered with content-type ${JSON.stringify(type)}, not gRPC`, Code.Unknown));
    });
    stream.on("data", (chunk: Buffer) => {
      if (finished) return;
      sessionManager.notifyResponseByteRead(stream);
      let frames: Uint8Array[];
      try {
        frames = decoder.push(chunk);
      } catch (error) {
        return finish(toConnectError(error));
      }
      for (const frame of frames) {
        let message: MessageShape<O>;
        try {
          message = fromBinary(method.output, frame);
        } catch (error) {
          return finish(new ConnectError(`a ${method.output.typeName} from the server could not be parsed: ${errorMessage(error)}`, Code.Internal, undefined, undefined, error));
        }
        inbox.tryPush(message);
      }
      if (inbox.size >= inboxHighWater) stream.pause();
    });
    stream.on("trailers", (headers) => void (trailers = headers));
    stream.on("end", () => {
      if (decoder.pending > 0) return finish(new ConnectError("the server's stream ended inside a message", Code.Internal));
      // Ended with no status at all: the connection went away under the call (a server killed, a proxy cut).
      if (trailers === undefined) return finish(new ConnectError("the stream ended without a status: the connection to the server was lost", Code.Unavailable));
      try {
        validateTrailer(webHeaders(trailers), webHeaders(responseHeaders ?? {}));
      } catch (error) {
        return finish(ConnectError.from(error));
      }
      finish();
    });
    stream.on("error", (error) => finish(toConnectError(error)));
    stream.on("close", () => finish(resetError(stream.rstCode, responseHeaders !== undefined)));
    const over = (): boolean => finished;
    writeFrames(stream, source, encode, over)
      .then(() => void (over() || stream.destroyed || stream.end()))
      .catch((error: unknown) => finish(toConnectError(error)));
  }
}

/** The cancellation error a call aborted by its signal ends with (as Connect's client gives it). */
function abortError(signal: AbortSignal): ConnectError {
  return ConnectError.from(signal.reason, Code.Canceled);
}

/** The largest message the client reads from a server: far above any command, a bound on what a broken or hostile server can make it hold. */
const maxMessageBytes = 64 * 1024 * 1024;

/** What the client refuses to read from a server. */
const serverFrameRules: FrameRules = {
  maxBytes: maxMessageBytes,
  tooLarge: (length) => new ConnectError(`the server sent a message of ${length} bytes, over the client's limit of ${maxMessageBytes}`, Code.ResourceExhausted),
  badFlags: (flags) =>
    new ConnectError((flags & 0b1) !== 0 ? "the server sent a compressed message, but no compression was negotiated" : `the server sent a frame with flags 0x${flags.toString(16)}`, Code.Internal),
};

/** Internal: Node's headers as web `Headers` (what Connect's trailer helpers and a handler context read). */
export function webHeaders(headers: http2.IncomingHttpHeaders): Headers {
  const result = new Headers();
  for (const [key, value] of Object.entries(headers)) {
    if (key.startsWith(":") || value === undefined) continue;
    for (const item of Array.isArray(value) ? value : [value]) result.append(key, String(item));
  }
  return result;
}

/** Internal: an HTTP/2 stream closed without trailers: its reset code says why (the same statuses Connect's client gives). */
export function resetError(rstCode: number, responded: boolean): ConnectError {
  const text = `http/2 stream closed with error code ${rstCode === NGHTTP2_CANCEL ? "NGHTTP2_CANCEL" : rstCode === NGHTTP2_REFUSED_STREAM ? "NGHTTP2_REFUSED_STREAM" : `0x${rstCode.toString(16)}`}`;
  switch (rstCode) {
    case NGHTTP2_NO_ERROR:
      return new ConnectError(`http/2 stream closed ${responded ? "without a status" : "before the response was received"}`, Code.Internal);
    case NGHTTP2_CANCEL:
      return new ConnectError(text, Code.Canceled);
    case NGHTTP2_REFUSED_STREAM:
      return new ConnectError(text, Code.Unavailable);
    case NGHTTP2_ENHANCE_YOUR_CALM:
      return new ConnectError(text, Code.ResourceExhausted);
    case NGHTTP2_INADEQUATE_SECURITY:
    case NGHTTP2_HTTP_1_1_REQUIRED:
      return new ConnectError(text, Code.PermissionDenied);
    default:
      return new ConnectError(text, Code.Internal);
  }
}

/** A socket or stream error as a ConnectError, with the status Connect's client gives it (the error stays its cause). */
export function toConnectError(error: unknown): ConnectError {
  if (error instanceof ConnectError) return error;
  const codes = new Set<string>();
  for (let current: unknown = error, depth = 0; current instanceof Error && depth < 6; current = current.cause, depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === "string") codes.add(code);
  }
  const has = (...names: string[]): boolean => names.some((name) => codes.has(name));
  const code = has("ECONNREFUSED", "ETIMEDOUT", "ENOTFOUND", "EAI_AGAIN")
    ? Code.Unavailable
    : has("ECONNRESET", "EPIPE", "ERR_STREAM_DESTROYED", "ERR_HTTP2_INVALID_STREAM", "ERR_STREAM_WRITE_AFTER_END")
      ? Code.Aborted
      : Code.Internal;
  return new ConnectError(errorMessage(error), code, undefined, undefined, error);
}
