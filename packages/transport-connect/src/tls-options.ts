import { InvalidArgumentError } from "@streamcmd/core";

/** How a client trusts the server, and (for mutual TLS) proves who it is. PEM strings. */
export interface ClientTlsOptions {
  /** The CA that issued the server's certificate. Default: Node's bundled public CAs. */
  ca?: string;
  /** A client certificate, for servers that ask for one (mutual TLS). */
  cert?: string;
  /** The client certificate's private key. */
  key?: string;
}

/** Whether `host` is a loopback address (`localhost`, `127.0.0.0/8`, `::1`): plaintext stays on this machine. */
export function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, "").toLowerCase();
  return bare === "localhost" || bare === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(bare);
}

/**
 * Internal: refuses a plaintext URL to anything but a loopback address unless `insecure` — tokens
 * and commands would cross the network readable and forgeable.
 */
export function checkPlaintext(who: string, url: URL, insecure: boolean | undefined): void {
  if (url.protocol === "https:" || insecure === true || isLoopbackHost(url.hostname)) return;
  throw new InvalidArgumentError(`${who}: refusing plaintext to ${url.host}: use an https:// URL (with tls.ca), or insecure: true to accept that anyone on the network can read and forge every call`);
}

/** Node's codes for a server certificate that does not verify: said plainly instead of as a bare code. */
const untrusted = new Set([
  "SELF_SIGNED_CERT_IN_CHAIN",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "CERT_HAS_EXPIRED",
  "ERR_TLS_CERT_ALTNAME_INVALID",
]);

/** Internal: a sentence for a TLS failure found in `error`'s cause chain, or undefined. */
export function describeTlsFailure(error: unknown): string | undefined {
  for (let current: unknown = error, depth = 0; current !== undefined && current !== null && depth < 6; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === "string" && untrusted.has(code)) {
      return code === "ERR_TLS_CERT_ALTNAME_INVALID"
        ? `the server's certificate is not valid for this host name (${(current as Error).message})`
        : `the server's certificate is not trusted (${code}): give the CA that issued it (tls.ca)`;
    }
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}
