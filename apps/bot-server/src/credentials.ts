// The demo's credentials, made on first run in the data folder (owner-only permissions) and found
// there by the fleet and botctl: a development CA and a server certificate for 127.0.0.1 and
// localhost, an ES256 signing key, a token per simulated bot and an admin token for botctl.
import { generateKeyPairSync } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createCertificateAuthority } from "@streamcmd/testing";
import { botService } from "@streamcmd/demo-protocol";
import { mintToken } from "@streamcmd/transport-connect";

/** The router audience every caller token names, and the scopes of the demo's admin: everything on the bots' service. */
export const routerAudience = "streamcmd-router";
const adminScopes = [`*:${botService.name}`];
/** Simulated bots that get a token on first run; more with `botctl token <bot-id>`. */
const firstBots = 10;

/** Where each credential lives in the data folder. */
export function credentialPaths(dataDir: string) {
  return {
    ca: join(dataDir, "tls", "ca.pem"),
    caKey: join(dataDir, "tls", "ca-key.pem"),
    serverCert: join(dataDir, "tls", "server.pem"),
    serverKey: join(dataDir, "tls", "server-key.pem"),
    signingKey: join(dataDir, "keys", "token-signing.pem"),
    verifyKey: join(dataDir, "keys", "token-signing.pub.pem"),
    token: (name: string) => join(dataDir, "tokens", `${name}.jwt`),
  };
}

function writeSecret(path: string, contents: string): void {
  mkdirSync(join(path, ".."), { recursive: true, mode: 0o700 });
  writeFileSync(path, contents, { mode: 0o600 });
  chmodSync(path, 0o600);
}

/** Mints a bot's token (sub = its id, aud = the bots' service name, `botService.name`) with the data folder's signing key and stores it; returns the token. */
export async function mintBotToken(dataDir: string, botId: string): Promise<string> {
  const paths = credentialPaths(dataDir);
  if (!existsSync(paths.signingKey)) throw new Error(`no signing key in ${dataDir}: start the server once (./dev pnpm demo:server) to create the credentials`);
  const token = await mintToken({ key: readFileSync(paths.signingKey, "utf8"), subject: botId, audience: botService.name });
  writeSecret(paths.token(botId), token);
  return token;
}

/** Creates what is missing of the demo's credentials in `dataDir`; returns what the server needs. */
export async function ensureServerCredentials(dataDir: string): Promise<{ cert: string; key: string; verifyKey: string; created: boolean }> {
  const paths = credentialPaths(dataDir);
  let created = false;
  if (!existsSync(paths.ca) || !existsSync(paths.serverCert)) {
    const ca = await createCertificateAuthority({ commonName: "streamcmd demo CA" });
    const server = await ca.issue({ commonName: "localhost", dnsNames: ["localhost"], ipAddresses: ["127.0.0.1", "::1"] });
    writeSecret(paths.caKey, ca.key);
    writeSecret(paths.ca, ca.cert);
    writeSecret(paths.serverKey, server.key);
    writeSecret(paths.serverCert, server.cert);
    created = true;
  }
  if (!existsSync(paths.signingKey)) {
    const keys = generateKeyPairSync("ec", { namedCurve: "P-256", publicKeyEncoding: { type: "spki", format: "pem" }, privateKeyEncoding: { type: "pkcs8", format: "pem" } });
    writeSecret(paths.signingKey, keys.privateKey);
    writeSecret(paths.verifyKey, keys.publicKey);
    for (let i = 1; i <= firstBots; i++) await mintBotToken(dataDir, `bot-${i}`);
    const admin = await mintToken({ key: keys.privateKey, subject: "botctl-admin", audience: routerAudience, scopes: adminScopes });
    writeSecret(paths.token("botctl-admin"), admin);
    created = true;
  }
  return { cert: readFileSync(paths.serverCert, "utf8"), key: readFileSync(paths.serverKey, "utf8"), verifyKey: readFileSync(paths.verifyKey, "utf8"), created };
}

/** The CA to trust, read from the data folder; a clear error if the server never made one there. */
export function readCa(dataDir: string): string {
  const path = credentialPaths(dataDir).ca;
  if (!existsSync(path)) throw new Error(`no CA certificate at ${path}: start the server once (./dev pnpm demo:server), or pass the data folder it uses`);
  return readFileSync(path, "utf8");
}

/** A stored token (a bot's id, or "botctl-admin"); a clear error if there is none. */
export function readToken(dataDir: string, name: string): string {
  const path = credentialPaths(dataDir).token(name);
  if (!existsSync(path)) {
    throw new Error(name === "botctl-admin" ? `no admin token at ${path}: start the server once to create it` : `no token for ${name} in ${dataDir}/tokens: mint one with ./dev botctl token ${name}`);
  }
  return readFileSync(path, "utf8").trim();
}
