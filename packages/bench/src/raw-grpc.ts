// Internal: gRPC's message framing (1 flags byte, 4 bytes big-endian length, the message) on bare
// node:http2 streams, for the floor under b (floor-roles.ts). No status, deadlines, limits or
// compression: the floor measures what any relay over one stream must pay, nothing else.
import * as http2 from "node:http2";

/** The request headers of a gRPC call to `path` (`/pkg.Service/Method`). */
export function grpcHeaders(path: string): http2.OutgoingHttpHeaders {
  return { ":method": "POST", ":path": path, "content-type": "application/grpc", te: "trailers" };
}

/** One framed message made of `parts` (written one after the other), in one new buffer. */
export function frame(...parts: Uint8Array[]): Buffer {
  const length = parts.reduce((sum, part) => sum + part.byteLength, 0);
  const framed = Buffer.allocUnsafe(5 + length);
  framed[0] = 0;
  framed.writeUInt32BE(length, 1);
  let at = 5;
  for (const part of parts) {
    framed.set(part, at);
    at += part.byteLength;
  }
  return framed;
}

/**
 * Calls `onMessage` with each message of the framed bytes `stream` delivers. Joins a message's
 * chunks by copying, which is fine for the bench's ~100-byte messages (not for large ones).
 */
export function readFrames(stream: http2.Http2Stream, onMessage: (message: Buffer) => void): void {
  let buffered: Buffer | undefined;
  stream.on("data", (chunk: Buffer) => {
    let data = buffered === undefined ? chunk : Buffer.concat([buffered, chunk]);
    while (data.length >= 5 && data.length >= 5 + data.readUInt32BE(1)) {
      const end = 5 + data.readUInt32BE(1);
      onMessage(data.subarray(5, end));
      data = data.subarray(end);
    }
    buffered = data.length === 0 ? undefined : data;
  });
}

/**
 * A writer of framed messages to `stream` that joins the frames of one synchronous burst (e.g. the
 * replies to every message of one read) into one write, as the library's own writer does. No
 * backpressure: the bench bounds what is in flight (64 commands).
 */
export function frameWriter(stream: http2.Http2Stream): (framed: Buffer) => void {
  let frames: Buffer[] = [];
  const flush = (): void => {
    const data = frames.length === 1 ? (frames[0] as Buffer) : Buffer.concat(frames);
    frames = [];
    if (!stream.destroyed) stream.write(data);
  };
  return (framed) => {
    frames.push(framed);
    if (frames.length === 1) process.nextTick(flush);
  };
}
