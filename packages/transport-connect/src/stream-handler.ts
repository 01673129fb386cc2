import type { HandlerContext } from "@connectrpc/connect";
import { Code, ConnectError } from "@connectrpc/connect";
import { isCommandError, UnauthenticatedError, type ClientIdentity, type StreamEndpoint } from "@streamcmd/core";
import { toConnectError } from "./error-mapping.js";

/** Options of `createStreamHandler`. */
export interface StreamHandlerOptions {
  /**
   * Establishes who is calling from the request (headers, TLS peer) before the stream is served.
   * Return the identity, or undefined to refuse with Unauthenticated; throw a `CommandError` to
   * refuse with its code. When given, the client's hello may not claim another id.
   */
  authenticate?: (context: HandlerContext) => ClientIdentity | undefined | Promise<ClientIdentity | undefined>;
}

/**
 * The implementation of a user's bidi method: feeds Connect's request stream, abort signal and
 * authenticated identity into the hub's `handleStream`, and writes out what the hub sends. Use it
 * as `router.service(BotService, { connect: createStreamHandler(hub) })`; its type is the hub's
 * message types, so a hub wired to another method does not compile.
 *
 * Cancellation from either side cleans up at once: the client going away aborts the handler's
 * signal, which drops the connection in the hub (its pending commands are rejected, its queue
 * freed). When the hub drops a client (protocol error, heartbeat timeout, replaced, rate limited)
 * the stream ends with the matching status code and a `CommandErrorDetail`.
 */
export function createStreamHandler<TIn, TOut>(
  hub: StreamEndpoint<TIn, TOut>,
  options: StreamHandlerOptions = {},
): (requests: AsyncIterable<TIn>, context: HandlerContext) => AsyncIterable<TOut> {
  const { authenticate } = options;
  return async function* streamHandler(requests, context) {
    let identity: ClientIdentity | undefined;
    if (authenticate !== undefined) {
      try {
        identity = await authenticate(context);
      } catch (error) {
        throw toConnectError(isCommandError(error) ? error : new UnauthenticatedError("authentication failed", { service: hub.name, cause: error }));
      }
      if (identity === undefined) throw toConnectError(new UnauthenticatedError("missing or invalid credentials", { service: hub.name }));
    }
    try {
      yield* hub.handleStream(requests, identity === undefined ? { signal: context.signal } : { signal: context.signal, identity });
    } catch (error) {
      // An oversized message keeps Connect's ResourceExhausted; other unreadable input is the
      // client's fault (Connect itself would call a parse failure Internal): InvalidArgument.
      if (isCommandError(error) && error.cause instanceof ConnectError && error.cause.code === Code.ResourceExhausted) throw error.cause;
      throw toConnectError(error);
    }
  };
}
