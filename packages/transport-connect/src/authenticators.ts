import { createContextKey, type HandlerContext } from "@connectrpc/connect";
import { UnauthenticatedError, type ClientIdentity } from "@streamcmd/core";
import { bearerToken, type TokenVerifier } from "./tokens.js";

/** A client's TLS certificate, as the server saw it (mutual TLS). */
export interface PeerCertificate {
  /** The subject's common name. */
  readonly commonName: string | undefined;
  /** The URIs in its subject alternative name. */
  readonly uris: readonly string[];
  /** Whether it chains to the server's client CA (a server with `tls.clientCa` refuses others during the handshake). */
  readonly authorized: boolean;
  /** The end of its validity (`notAfter`): a stream it authenticated ends then. */
  readonly validTo: Date | undefined;
}

/** Where `startServer` puts the client certificate of a TLS connection, for authenticators to read. */
export const peerCertificateKey = createContextKey<PeerCertificate | undefined>(undefined, { description: "streamcmd: the TLS client certificate" });

/** Internal: where `startServer` puts the callback that exempts an authenticated request from its request deadline. */
export const requestTrustedKey = createContextKey<() => void>(() => {}, { description: "streamcmd: the request is authenticated" });

/**
 * Tells `startServer` that this request's caller is known, so the request may stay open (a long-lived
 * stream): an unauthenticated request must finish sending within the handshake timeout. The stream
 * handler and the command router call it; call it from your own long-lived handlers on the same server.
 */
export function markAuthenticated(context: HandlerContext): void {
  context.values.get(requestTrustedKey)();
}

/** A client as an authenticator established it: its identity, and until when its credential holds. */
export interface AuthenticatedClient extends ClientIdentity {
  /** When the credential expires: the stream is ended then (the client reconnects with a fresh one). */
  expiresAt?: Date;
}

/** Establishes who opens a client stream of `service` (a hub's name); throws or returns undefined to refuse. */
export type StreamAuthenticator = (context: HandlerContext, service: string) => AuthenticatedClient | undefined | Promise<AuthenticatedClient | undefined>;

/** Who calls the CommandRouter, and what they may do (see `scopeAllows`). */
export interface CallerIdentity {
  readonly subject: string;
  readonly scopes: readonly string[];
  /** When the credential expires: a command stream refuses calls from then on. */
  readonly expiresAt?: Date;
}

/** Establishes who calls the CommandRouter; throws or returns undefined to refuse. */
export type CallerAuthenticator = (context: HandlerContext) => CallerIdentity | undefined | Promise<CallerIdentity | undefined>;

function requireToken(context: HandlerContext): string {
  const token = bearerToken(context.requestHeader);
  if (token === undefined) throw new UnauthenticatedError('no credentials: send "authorization: Bearer <token>"');
  return token;
}

/**
 * Bots prove who they are with a signed token: its `sub` is the client id and its `aud` the
 * streaming service's name. The hello may not claim another id.
 */
export function tokenAuthenticator(verifier: TokenVerifier): StreamAuthenticator {
  return async (context, service) => {
    const { subject, expiresAt } = await verifier.verify(requireToken(context), service);
    return { clientId: subject, expiresAt };
  };
}

/** Which part of a client certificate names the client. */
export interface CertificateIdentityOptions {
  /**
   * `"uri"` (default): the first SAN URI starting with `uriPrefix`, the rest of it is the id
   * (e.g. prefix `spiffe://streamcmd/bots/` and `spiffe://streamcmd/bots/bot-1` → `bot-1`).
   * `"cn"`: the subject's common name.
   */
  from?: "uri" | "cn";
  /** For `from: "uri"`. Default `""`: the whole URI is the id. */
  uriPrefix?: string;
}

/** The name a trusted client certificate gives, and when the certificate expires. */
function certificateIdentity(context: HandlerContext, options: CertificateIdentityOptions): { name: string; expiresAt?: Date } {
  const certificate = context.values.get(peerCertificateKey);
  if (certificate === undefined || !certificate.authorized) {
    throw new UnauthenticatedError("no trusted client certificate: connect with a certificate issued by the server's client CA");
  }
  const expiry = certificate.validTo === undefined ? {} : { expiresAt: certificate.validTo };
  if (options.from === "cn") {
    if (!certificate.commonName) throw new UnauthenticatedError("the client certificate has no common name");
    return { name: certificate.commonName, ...expiry };
  }
  const prefix = options.uriPrefix ?? "";
  const uri = certificate.uris.find((candidate) => candidate.startsWith(prefix) && candidate.length > prefix.length);
  if (uri === undefined) throw new UnauthenticatedError(`the client certificate has no URI${prefix ? ` starting with ${prefix}` : ""} to name the client`);
  return { name: uri.slice(prefix.length), ...expiry };
}

/** Bots prove who they are with a client certificate (mutual TLS): its SAN URI or common name is the client id. */
export function certificateAuthenticator(options: CertificateIdentityOptions = {}): StreamAuthenticator {
  return (context) => {
    const { name, expiresAt } = certificateIdentity(context, options);
    return expiresAt === undefined ? { clientId: name } : { clientId: name, expiresAt };
  };
}

/** Callers present a signed token: `sub` names them, `aud` is `audience`, `scope` says what they may do. */
export function tokenCallerAuthenticator(verifier: TokenVerifier, options: { audience?: string } = {}): CallerAuthenticator {
  const audience = options.audience ?? "streamcmd-router";
  return async (context) => {
    const { subject, scopes, expiresAt } = await verifier.verify(requireToken(context), audience);
    return { subject, scopes, expiresAt };
  };
}

/** Callers present a client certificate (mutual TLS); `scopes` says what each may do. */
export function certificateCallerAuthenticator(options: CertificateIdentityOptions & { scopes: (subject: string) => readonly string[] }): CallerAuthenticator {
  return (context) => {
    const { name: subject, expiresAt } = certificateIdentity(context, options);
    return { subject, scopes: options.scopes(subject), ...(expiresAt === undefined ? {} : { expiresAt }) };
  };
}
