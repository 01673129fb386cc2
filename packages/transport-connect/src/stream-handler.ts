import type { HandlerContext } from "@connectrpc/connect";
import { Code, ConnectError } from "@connectrpc/connect";
import { InvalidArgumentError, isCommandError, UnauthenticatedError, type StreamEndpoint } from "@streamcmd/core";
import { checkCount, maxDurationMs, watchDeadline } from "@streamcmd/core/internal";
import { markAuthenticated, type AuthenticatedClient, type StreamAuthenticator } from "./authenticators.js";
import { toConnectError } from "./error-mapping.js";
import { servableLean } from "./lean-stream.js";

/** Options of `createStreamHandler`. */
export interface StreamHandlerOptions {
  /**
   * Establishes who opens the stream from the request (a bearer token, the TLS client certificate)
   * before the hub sees anything of it: `tokenAuthenticator(verifier)`, `certificateAuthenticator()`,
   * or your own. Return the identity, or undefined to refuse with Unauthenticated; throw a
   * `CommandError` to refuse with its code. The client's hello may not claim another id.
   * Required unless `allowUnauthenticated`.
   */
  authenticate?: StreamAuthenticator;
  /** Lets clients say who they are in their hello, unchecked (tests, a loopback-only experiment). Default false. */
  allowUnauthenticated?: boolean;
}

/** Internal: a signal that aborts at `when` (re-armed past setTimeout's range; never for an invalid date); `dispose` when done. */
export function untilExpiry(when: Date): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  let current = { dispose() {} };
  const arm = (): void => {
    if (Number.isNaN(when.getTime())) return;
    const left = when.getTime() - Date.now();
    if (left <= 0) return controller.abort();
    current = watchDeadline({ timeoutMs: Math.min(left, maxDurationMs), ref: false }, arm);
  };
  arm();
  return { signal: controller.signal, dispose: () => current.dispose() };
}

/** Options of `streamRouteOptions`. */
export interface StreamRouteLimits {
  /** The largest message a client may send on the stream, in bytes. Default 64 KiB. */
  maxMessageBytes?: number;
}

/**
 * Connect's handler options for a client-stream route: a small message limit (a larger message is
 * refused with ResourceExhausted as soon as its length prefix is read, before it is buffered), and
 * unknown fields dropped while decoding (a message padded with them holds no memory). Pass it as
 * the third argument of `router.service(BotService, { connect: … }, streamRouteOptions())`.
 */
export function streamRouteOptions(limits: StreamRouteLimits = {}): { readMaxBytes: number; binaryOptions: { readUnknownFields: false } } {
  return { readMaxBytes: checkCount("maxMessageBytes", limits.maxMessageBytes ?? 64 * 1024, 1), binaryOptions: { readUnknownFields: false } };
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
  if (authenticate === undefined && options.allowUnauthenticated !== true) {
    throw new InvalidArgumentError(
      "createStreamHandler needs authenticate (tokenAuthenticator(verifier) or certificateAuthenticator()), or allowUnauthenticated: true for a test or a loopback experiment",
    );
  }
  return servableLean(async function* streamHandler(requests: AsyncIterable<TIn>, context: HandlerContext) {
    let identity: AuthenticatedClient | undefined;
    if (authenticate !== undefined) {
      try {
        identity = await authenticate(context, hub.name);
      } catch (error) {
        throw toConnectError(isCommandError(error) ? error : new UnauthenticatedError("authentication failed", { service: hub.name, cause: error }));
      }
      if (identity === undefined) throw toConnectError(new UnauthenticatedError("missing or invalid credentials", { service: hub.name }));
    }
    markAuthenticated(context);
    // A stream does not outlive its credential: when the token expires, the stream ends Unauthenticated.
    const expiry = identity?.expiresAt === undefined ? undefined : untilExpiry(identity.expiresAt);
    const signal = expiry === undefined ? context.signal : AbortSignal.any([context.signal, expiry.signal]);
    const expired = () => toConnectError(new UnauthenticatedError("the credential expired: reconnect with a fresh one", { service: hub.name }));
    try {
      const clientIdentity = identity === undefined ? undefined : { clientId: identity.clientId, ...(identity.metadata ? { metadata: identity.metadata } : {}) };
      yield* hub.handleStream(requests, clientIdentity === undefined ? { signal } : { signal, identity: clientIdentity });
      if (expiry?.signal.aborted === true) throw expired();
    } catch (error) {
      if (expiry?.signal.aborted === true) throw expired();
      // An oversized message keeps Connect's ResourceExhausted; other unreadable input is the
      // client's fault (Connect itself would call a parse failure Internal): InvalidArgument.
      if (isCommandError(error) && error.cause instanceof ConnectError && error.cause.code === Code.ResourceExhausted) throw error.cause;
      throw toConnectError(error);
    } finally {
      expiry?.dispose();
    }
  });
}
