// Internal test support: a gRPC client written on bare node:http2, so a test can send exactly the
// bytes it wants (broken frames, odd headers, a reset) and see exactly the status the server ends with.
import * as http2 from "node:http2";
import { create, toBinary, type DescMessage, type MessageInitShape } from "@bufbuild/protobuf";
import type { ConnectError } from "@connectrpc/connect";
import { findTrailerError } from "@connectrpc/connect/protocol-grpc";

/** The status a raw call ended with, as the server sent it (`status` undefined: none came, the stream was reset or cut). */
export interface RawStatus {
  /** The grpc-status, from the trailers or a trailers-only response. */
  status: number | undefined;
  /** The grpc-message, percent-decoded. */
  message: string | undefined;
  /** The status rebuilt with its details (`grpc-status-details-bin`), when not OK. */
  error: ConnectError | undefined;
}

/** One raw gRPC call in flight. */
export interface RawCall {
  readonly stream: http2.ClientHttp2Stream;
  /** Bytes of response body received so far. */
  readonly received: () => number;
  /** Resolves with the status once it came (trailers), or when the stream closed without one. */
  readonly ended: Promise<RawStatus>;
  /** Resolves when the HTTP/2 stream is closed, with its reset code (0: closed without error). */
  readonly closed: Promise<number>;
}

/** `body` behind the 5-byte gRPC prefix (flags byte, big-endian length), written here rather than with the code under test. */
export function framed(body: Uint8Array, flags = 0): Buffer {
  const prefix = Buffer.alloc(5);
  prefix[0] = flags;
  prefix.writeUInt32BE(body.byteLength, 1);
  return Buffer.concat([prefix, body]);
}

/** One protobuf message, framed. */
export function framedMessage<D extends DescMessage>(schema: D, init: MessageInitShape<D>): Buffer {
  return framed(toBinary(schema, create(schema, init)));
}

/**
 * An HTTP/2 session to `url` that the test scope closes (`defer`); errors on it are expected
 * (resets the tests cause) and read from each call's end instead.
 */
export function rawSession(url: string, defer: (close: () => unknown) => void): http2.ClientHttp2Session {
  const session = http2.connect(url);
  session.on("error", () => {});
  defer(() => session.destroy());
  return session;
}

/**
 * Opens a gRPC call of `path` (binary protobuf, `application/grpc+proto`) with `headers` added; the
 * response body is read (and counted) unless the test pauses the stream.
 */
export function rawCall(session: http2.ClientHttp2Session, path: string, headers: http2.OutgoingHttpHeaders = {}): RawCall {
  const stream = session.request({ ":method": "POST", ":path": path, "content-type": "application/grpc+proto", te: "trailers", ...headers });
  let bytes = 0;
  let settle: (status: RawStatus) => void = () => {};
  const ended = new Promise<RawStatus>((resolve) => (settle = resolve));
  const read = (received: http2.IncomingHttpHeaders): void => {
    const status = received["grpc-status"];
    if (status === undefined) return;
    const kept = new Headers({ "grpc-status": String(status) });
    for (const key of ["grpc-message", "grpc-status-details-bin"]) if (received[key] !== undefined) kept.set(key, String(received[key]));
    const message = kept.get("grpc-message");
    settle({ status: Number(status), message: message === null ? undefined : decodeURIComponent(message), error: findTrailerError(kept) });
  };
  stream.on("response", read); // a trailers-only response
  stream.on("trailers", read);
  stream.on("data", (chunk: Buffer) => void (bytes += chunk.length));
  stream.on("error", () => {}); // a reset: "close" has its code
  const closed = new Promise<number>((resolve) => {
    stream.once("close", () => {
      settle({ status: undefined, message: undefined, error: undefined });
      resolve(stream.rstCode ?? 0);
    });
  });
  return { stream, received: () => bytes, ended, closed };
}
