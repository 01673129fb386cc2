import type { Interceptor, Transport } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager, type Http2SessionOptions } from "@connectrpc/connect-node";
import { InvalidArgumentError } from "@streamcmd/core";

/**
 * Internal: the transport a component uses — the caller's own, or a gRPC transport over one
 * HTTP/2 connection to `baseUrl` that the component owns (and can open, check and close through
 * the returned session manager).
 */
export function ownTransport(
  who: string,
  options: { baseUrl?: string | undefined; transport?: Transport | undefined; http2?: Http2SessionOptions | undefined; interceptors?: Interceptor[] | undefined },
): { transport: Transport; sessionManager: Http2SessionManager | undefined } {
  if (options.transport !== undefined) return { transport: options.transport, sessionManager: undefined };
  if (options.baseUrl === undefined) throw new InvalidArgumentError(`${who} needs a baseUrl or a transport`);
  let url: URL;
  try {
    url = new URL(options.baseUrl);
  } catch (cause) {
    throw new InvalidArgumentError(`baseUrl is not a URL: ${JSON.stringify(options.baseUrl)}`, { cause });
  }
  const sessionManager = new Http2SessionManager(url, options.http2);
  const transport = createGrpcTransport({
    baseUrl: options.baseUrl,
    sessionManager,
    ...(options.interceptors ? { interceptors: options.interceptors } : {}),
  });
  return { transport, sessionManager };
}
