/** Internal: how a frame decoder refuses what it reads — the error for each case, in its side's words. */
export interface FrameRules {
  /** The largest message accepted, in bytes. */
  readonly maxBytes: number;
  /** The error for a length prefix over `maxBytes` (thrown before the message's bytes arrive). */
  tooLarge(length: number): Error;
  /** The error for a frame whose flags byte is not 0 (compressed, end-of-stream where none may come). */
  badFlags(flags: number): Error;
}

/** Internal: a synchronous decoder of length-prefixed messages; `push` throws the rules' errors. */
export interface FrameDecoder {
  /** The whole messages `chunk` completes, in order. */
  push(chunk: Buffer): Uint8Array[];
  /** Bytes of a message begun and not ended (its prefix counts): not 0 at the end of a stream means it was cut. */
  readonly pending: number;
}

/**
 * A synchronous decoder of the 5-byte-prefixed messages gRPC and the Connect streaming protocol
 * share (1 flags byte, 4 bytes big-endian length). Chunks are kept as they come and joined once per
 * message, so a large message costs one copy, not one per chunk; a length over the limit fails at
 * once, before its bytes arrive.
 */
export function createFrameDecoder(rules: FrameRules): FrameDecoder {
  let chunks: Buffer[] = [];
  let size = 0;
  /** The length of the message at the front, once its 5-byte prefix is in. */
  let need: number | undefined;
  const take = (bytes: number): Buffer => {
    const joined = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size);
    chunks = joined.length > bytes ? [joined.subarray(bytes)] : [];
    size -= bytes;
    return joined.subarray(0, bytes);
  };
  return {
    get pending() {
      return size + (need === undefined ? 0 : 5);
    },
    push(chunk) {
      chunks.push(chunk);
      size += chunk.length;
      const frames: Uint8Array[] = [];
      for (;;) {
        if (need === undefined) {
          if (size < 5) break;
          const prefix = take(5);
          const flags = prefix[0] as number;
          if (flags !== 0) throw rules.badFlags(flags);
          need = prefix.readUInt32BE(1);
          if (need > rules.maxBytes) throw rules.tooLarge(need);
        }
        if (size < need) break;
        frames.push(take(need));
        need = undefined;
      }
      return frames;
    },
  };
}

/** Internal: `body` behind its 5-byte prefix (`flags`, then the length), in one new buffer. */
export function frame(body: Uint8Array, flags = 0): Buffer {
  const framed = Buffer.allocUnsafe(5 + body.byteLength);
  framed[0] = flags;
  framed.writeUInt32BE(body.byteLength, 1);
  framed.set(body, 5);
  return framed;
}

/** The part of an HTTP/2 stream the frame writer uses. */
interface FrameSink {
  readonly destroyed: boolean;
  write(data: Buffer): boolean;
  on(event: "drain" | "close", listener: () => void): unknown;
  off(event: "drain" | "close", listener: () => void): unknown;
}

/** Bytes of frames joined into one write at most: past this the write goes at once (and its backpressure counts). */
const maxWriteBytes = 64 * 1024;

/**
 * Internal: writes each value `source` yields as a frame (`encode` gives its bytes); the frames of
 * one turn of the event loop go out as one write (up to 64 KiB). A full stream (`write` returned
 * false) is waited out (`drain`) before the next value is taken. Returns when the source ends or
 * `over()` says the call is over, everything taken written (also when the source throws); it does
 * not end the stream.
 */
export async function writeFrames<T>(sink: FrameSink, source: AsyncIterator<T>, encode: (value: T) => Uint8Array, over: () => boolean): Promise<void> {
  let frames: Buffer[] = [];
  let bytes = 0;
  let full: Promise<void> | undefined;
  const flush = (): void => {
    const data = frames.length === 1 ? (frames[0] as Buffer) : Buffer.concat(frames, bytes);
    const empty = frames.length === 0;
    frames = [];
    bytes = 0;
    if (empty || over() || sink.destroyed) return;
    if (!sink.write(data)) {
      full ??= new Promise((resolve) => {
        const done = () => (sink.off("drain", done), sink.off("close", done), (full = undefined), resolve());
        sink.on("drain", done);
        sink.on("close", done);
      });
    }
  };
  try {
    for (;;) {
      if (full !== undefined) await full;
      const next = await source.next();
      if (next.done === true || over()) break;
      const framed = frame(encode(next.value));
      frames.push(framed);
      bytes += framed.byteLength;
      if (bytes >= maxWriteBytes) flush();
      else if (frames.length === 1) process.nextTick(flush);
    }
  } finally {
    // What was taken goes out before the end, also when the source failed (its status follows it).
    flush();
  }
}
