import { createPrivateKey, createPublicKey, createSecretKey, type KeyObject } from "node:crypto";
import { readFileSync } from "node:fs";
import { errors as joseErrors, createLocalJWKSet, jwtVerify, SignJWT, type JSONWebKeySet, type JWTPayload, type JWTVerifyGetKey } from "jose";
import { InvalidArgumentError, UnauthenticatedError } from "@streamcmd/core";

/** How tokens are checked: one key source, and the algorithms it may be used with. */
export interface TokenVerifierOptions {
  /** A shared secret (HS256): at least 32 bytes. */
  secret?: string | Uint8Array;
  /** A public key, PEM (SPKI): tokens signed with its private key (ES256, RS256 or EdDSA, from the key's type). */
  publicKey?: string;
  /** A JSON Web Key Set: the token's `kid` picks the key (rotation: publish the new key beside the old one). */
  jwks?: JSONWebKeySet;
  /** The path of a JWKS file (JSON), read once here. */
  jwksFile?: string;
  /** The algorithms accepted. Default: the one the key implies (HS256, ES256, RS256, EdDSA); `none` never. */
  algorithms?: readonly string[];
  /** When set, the token's `iss` must be this. */
  issuer?: string;
  /** Leeway for `exp` and `nbf`, in seconds. Default 5. */
  clockToleranceSeconds?: number;
}

/** A token that passed every check. */
export interface VerifiedToken {
  /** `sub`: who it names (a client id, or a caller's name). */
  readonly subject: string;
  /** `scope`, split on spaces (what a caller may do). */
  readonly scopes: readonly string[];
  readonly expiresAt: Date;
  readonly claims: JWTPayload;
}

/** Checks signed bearer tokens (JWT). See `createTokenVerifier`. */
export interface TokenVerifier {
  /** Resolves with the token's subject and scopes, or rejects with `UnauthenticatedError` saying why. */
  verify(token: string, audience: string): Promise<VerifiedToken>;
}

function keyAlgorithm(key: KeyObject): string {
  const type = key.asymmetricKeyType;
  if (type === "ec") return "ES256";
  if (type === "rsa") return "RS256";
  if (type === "ed25519") return "EdDSA";
  throw new InvalidArgumentError(`a ${String(type)} key is not supported for tokens; use EC P-256, RSA or Ed25519`);
}

function secretKey(secret: string | Uint8Array): KeyObject {
  const bytes = typeof secret === "string" ? Buffer.from(secret, "utf8") : secret;
  if (bytes.byteLength < 32) throw new InvalidArgumentError(`a token secret must have at least 32 bytes, got ${bytes.byteLength}`);
  return createSecretKey(bytes);
}

function readJwks(path: string): JSONWebKeySet {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, "utf8"));
  } catch (cause) {
    throw new InvalidArgumentError(`jwksFile ${path} is not a readable JSON file: ${(cause as Error).message}`, { cause });
  }
  if (typeof parsed !== "object" || parsed === null || !Array.isArray((parsed as { keys?: unknown }).keys)) {
    throw new InvalidArgumentError(`jwksFile ${path} is not a JSON Web Key Set (no "keys" array)`);
  }
  return parsed as JSONWebKeySet;
}

/** Why a token was refused, in a sentence (the reason jose gives, without the token). */
function refusal(error: unknown): string {
  if (error instanceof joseErrors.JWTExpired) return "the token has expired";
  if (error instanceof joseErrors.JWTClaimValidationFailed) return `the token's "${error.claim}" claim is not valid (${error.reason})`;
  if (error instanceof joseErrors.JOSEAlgNotAllowed) return "the token is signed with an algorithm this server does not accept";
  if (error instanceof joseErrors.JWSSignatureVerificationFailed) return "the token's signature does not verify";
  if (error instanceof joseErrors.JWKSNoMatchingKey) return "no key of this server signed the token";
  if (error instanceof joseErrors.JWSInvalid || error instanceof joseErrors.JWTInvalid) return "the token is malformed";
  return "the token is not valid";
}

/**
 * Creates a token verifier. The algorithm is pinned by the key (HS256 for a secret, ES256 / RS256 /
 * EdDSA for a public key) unless `algorithms` says otherwise, so neither `alg: none` nor a token
 * signed with another algorithm (e.g. HS256 "signed" with the public key) is ever accepted.
 * `sub`, `aud` and `exp` are required.
 */
export function createTokenVerifier(options: TokenVerifierOptions): TokenVerifier {
  const sources = [options.secret, options.publicKey, options.jwks, options.jwksFile].filter((source) => source !== undefined).length;
  if (sources !== 1) throw new InvalidArgumentError("a token verifier needs exactly one of secret, publicKey, jwks or jwksFile");
  let key: KeyObject | JWTVerifyGetKey;
  let algorithms: string[];
  if (options.secret !== undefined) {
    key = secretKey(options.secret);
    algorithms = ["HS256"];
  } else if (options.publicKey !== undefined) {
    const publicKey = createPublicKey(options.publicKey);
    key = publicKey;
    algorithms = [keyAlgorithm(publicKey)];
  } else {
    key = createLocalJWKSet(options.jwks ?? readJwks(options.jwksFile as string));
    algorithms = ["ES256", "RS256", "EdDSA"];
  }
  if (options.algorithms !== undefined) {
    if (options.algorithms.some((alg) => alg.toLowerCase() === "none")) throw new InvalidArgumentError('"none" is not an algorithm tokens may use');
    algorithms = [...options.algorithms];
  }
  const clockTolerance = options.clockToleranceSeconds ?? 5;
  const maxDateMs = 8.64e15; // the latest valid Date: an absurd exp is "never", not an Invalid Date
  return {
    async verify(token, audience) {
      try {
        const verify = (k: KeyObject | JWTVerifyGetKey) =>
          typeof k === "function"
            ? jwtVerify(token, k, { algorithms, audience, clockTolerance, requiredClaims: ["sub", "exp"], ...(options.issuer ? { issuer: options.issuer } : {}) })
            : jwtVerify(token, k, { algorithms, audience, clockTolerance, requiredClaims: ["sub", "exp"], ...(options.issuer ? { issuer: options.issuer } : {}) });
        const { payload } = await verify(key);
        const subject = payload.sub ?? "";
        if (subject === "") throw new joseErrors.JWTClaimValidationFailed("empty", payload, "sub", "check_failed");
        const scope = typeof payload["scope"] === "string" ? payload["scope"] : "";
        return { subject, scopes: scope.split(" ").filter((s) => s !== ""), expiresAt: new Date(Math.min((payload.exp ?? 0) * 1000, maxDateMs)), claims: payload };
      } catch (cause) {
        throw new UnauthenticatedError(refusal(cause), { cause });
      }
    },
  };
}

/** What `mintToken` puts in a token. */
export interface MintTokenOptions {
  /** A shared secret (HS256), or a private key, PEM (PKCS#8): ES256 / RS256 / EdDSA from its type. */
  key: string | Uint8Array;
  /** `sub`: the client id (a bot's token) or the caller's name. */
  subject: string;
  /** `aud`: the streaming service (a bot's token) or the router's audience (a caller's token). */
  audience: string;
  /** `scope`: what a caller may do, e.g. `["execute:bots", "list:bots"]`. */
  scopes?: readonly string[];
  /** Lifetime in seconds. Default 30 days. */
  expiresInSeconds?: number;
  issuer?: string;
  /** `kid`, for verifiers holding a key set. */
  keyId?: string;
}

/** Signs a token (JWT) for a bot or a caller: for operators' tools and tests. */
export async function mintToken(options: MintTokenOptions): Promise<string> {
  const isPem = typeof options.key === "string" && options.key.includes("-----BEGIN");
  const key = isPem ? createPrivateKey(options.key as string) : secretKey(options.key);
  const alg = isPem ? keyAlgorithm(key) : "HS256";
  let jwt = new SignJWT(options.scopes === undefined ? {} : { scope: options.scopes.join(" ") })
    .setProtectedHeader(options.keyId === undefined ? { alg, typ: "JWT" } : { alg, typ: "JWT", kid: options.keyId })
    .setSubject(options.subject)
    .setAudience(options.audience)
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + (options.expiresInSeconds ?? 30 * 86_400));
  if (options.issuer !== undefined) jwt = jwt.setIssuer(options.issuer);
  return jwt.sign(key);
}

/** The bearer token of a request's `authorization` header, if it has one. */
export function bearerToken(headers: Headers): string | undefined {
  const value = headers.get("authorization");
  const match = value === null ? null : /^Bearer\s+(\S+)\s*$/i.exec(value);
  return match?.[1];
}
