import type { DescMessage, DescMethodBiDiStreaming } from "@bufbuild/protobuf";
import type { Interceptor, Transport } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager, type Http2SessionOptions } from "@connectrpc/connect-node";
import { InvalidArgumentError } from "@streamcmd/core";
import { grpcBidiCall, type BidiCall } from "./grpc-stream.js";
import { checkPlaintext, type ClientTlsOptions } from "./tls-options.js";

/** A bearer token, or a function giving the current one (called for every call, so tokens can rotate). */
export type TokenSource = string | (() => string | Promise<string>);

/** Internal: how a component reaches a server. */
export interface ConnectionOptions {
  baseUrl?: string | undefined;
  transport?: Transport | undefined;
  http2?: Http2SessionOptions | undefined;
  interceptors?: Interceptor[] | undefined;
  tls?: ClientTlsOptions | undefined;
  insecure?: boolean | undefined;
  token?: TokenSource | undefined;
}

/** The `authorization` header value for `token` (asked for anew each call, so tokens can rotate). */
async function bearer(token: TokenSource): Promise<string> {
  return `Bearer ${typeof token === "function" ? await token() : token}`;
}

/** Internal: an interceptor that sends `token` as `authorization: Bearer …` on every call. */
export function bearerInterceptor(token: TokenSource): Interceptor {
  return (next) => async (request) => {
    request.header.set("authorization", await bearer(token));
    return next(request);
  };
}

/** Internal: what a component uses to reach a server (see `ownTransport`). */
export interface OwnTransport {
  transport: Transport;
  /** The HTTP/2 connection, when the component built it from `baseUrl`. */
  sessionManager: Http2SessionManager | undefined;
  /**
   * Long-lived bidi calls on that connection without connect-es's client (see `grpcBidiCall`);
   * undefined with a transport of the caller's own or with interceptors, which only Connect's client runs.
   */
  bidi: (<I extends DescMessage, O extends DescMessage>(method: DescMethodBiDiStreaming<I, O>) => BidiCall<I, O>) | undefined;
}

/**
 * Internal: the transport a component uses — the caller's own, or a gRPC transport over one
 * HTTP/2 connection to `baseUrl` that the component owns (and can open, check and close through
 * the returned session manager, and run long-lived bidi calls on without connect-es's client): TLS for `https://` (trusting `tls.ca`, presenting `tls.cert`),
 * plaintext only to a loopback address unless `insecure`.
 */
export function ownTransport(who: string, options: ConnectionOptions): OwnTransport {
  if (options.transport !== undefined) return { transport: options.transport, sessionManager: undefined, bidi: undefined };
  if (options.baseUrl === undefined) throw new InvalidArgumentError(`${who} needs a baseUrl or a transport`);
  let url: URL;
  try {
    url = new URL(options.baseUrl);
  } catch (cause) {
    throw new InvalidArgumentError(`baseUrl is not a URL: ${JSON.stringify(options.baseUrl)}`, { cause });
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new InvalidArgumentError(`baseUrl must be http:// or https://, got ${JSON.stringify(options.baseUrl)}`);
  checkPlaintext(who, url, options.insecure);
  if (url.protocol === "http:" && options.tls !== undefined) throw new InvalidArgumentError(`${who}: tls options need an https:// baseUrl, got ${url.origin}`);
  const tls = options.tls ?? {};
  const sessionManager = new Http2SessionManager(url, options.http2, url.protocol === "https:" ? { ca: tls.ca, cert: tls.cert, key: tls.key } : undefined);
  const interceptors = [...(options.token === undefined ? [] : [bearerInterceptor(options.token)]), ...(options.interceptors ?? [])];
  const transport = createGrpcTransport({ baseUrl: options.baseUrl, sessionManager, ...(interceptors.length > 0 ? { interceptors } : {}) });
  const { token } = options;
  const authorization = async () => (token === undefined ? undefined : bearer(token));
  const bidi = (options.interceptors ?? []).length > 0 ? undefined : <I extends DescMessage, O extends DescMessage>(method: DescMethodBiDiStreaming<I, O>) => grpcBidiCall(sessionManager, method, authorization);
  return { transport, sessionManager, bidi };
}
