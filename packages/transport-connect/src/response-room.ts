import { createContextKey } from "@connectrpc/connect";

/** The part of a Node writable (an HTTP/2 stream, an HTTP/1.1 socket) that says whether its buffer is full. */
interface Drainable {
  readonly writableNeedDrain: boolean;
  readonly destroyed: boolean;
  once(event: "drain" | "close", listener: () => void): unknown;
  off(event: "drain" | "close", listener: () => void): unknown;
}

/**
 * Internal: where `startServer` puts a function saying whether a request's response has room:
 * undefined when it has, or a promise that resolves once it drained (or closed). Connect's Node
 * adapter keeps writing into the stream's buffer whether or not the peer reads, so a handler that
 * produces answers on its own (ExecuteStream) asks this before taking up more work. Without
 * `startServer` it always says "room".
 */
export const responseRoomKey = createContextKey<() => Promise<void> | undefined>(() => undefined, { description: "streamcmd: room in the response" });

/** Internal: `responseRoomKey`'s function for one writable. */
export function responseRoom(writable: Drainable): () => Promise<void> | undefined {
  return () => {
    if (!writable.writableNeedDrain || writable.destroyed) return undefined;
    return new Promise<void>((resolve) => {
      const done = (): void => {
        writable.off("drain", done);
        writable.off("close", done);
        resolve();
      };
      writable.once("drain", done);
      writable.once("close", done);
    });
  };
}
