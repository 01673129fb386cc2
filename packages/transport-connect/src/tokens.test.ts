import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { exportJWK, importPKCS8, importSPKI, SignJWT } from "jose";
import { afterAll, describe, expect, it } from "vitest";
import { UnauthenticatedError } from "@streamcmd/core";
import { bearerToken, createTokenVerifier, mintToken } from "./index.js";

const dir = mkdtempSync(join(tmpdir(), "streamcmd-tokens-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const ecKeys = () => generateKeyPairSync("ec", { namedCurve: "P-256", publicKeyEncoding: { type: "spki", format: "pem" }, privateKeyEncoding: { type: "pkcs8", format: "pem" } });
const secret = "a shared secret of at least thirty-two bytes";

describe("tokens", () => {
  it("a shared secret (HS256): subject and scopes come back, and audience is checked", async () => {
    const verifier = createTokenVerifier({ secret });
    const token = await mintToken({ key: secret, subject: "ops", audience: "streamcmd-router", scopes: ["execute:bots", "list:bots"] });
    expect(await verifier.verify(token, "streamcmd-router")).toMatchObject({ subject: "ops", scopes: ["execute:bots", "list:bots"] });
    await expect(verifier.verify(token, "bots")).rejects.toThrow(/"aud" claim/);
  });

  it("an exp past the latest Date a token may name still gives a valid expiresAt", async () => {
    const keys = ecKeys();
    const token = await new SignJWT({}).setProtectedHeader({ alg: "ES256" }).setSubject("bot-1").setAudience("bots").setExpirationTime(1e20).sign(await importPKCS8(keys.privateKey, "ES256"));
    const { expiresAt } = await createTokenVerifier({ publicKey: keys.publicKey }).verify(token, "bots");
    expect(expiresAt.getTime()).toBe(8.64e15);
  });

  it("refuses a short secret, two key sources, and none", () => {
    expect(() => createTokenVerifier({ secret: "short" })).toThrow(/at least 32 bytes, got 5/);
    expect(() => createTokenVerifier({ secret, publicKey: ecKeys().publicKey })).toThrow(/exactly one of/);
    expect(() => createTokenVerifier({})).toThrow(/exactly one of/);
    expect(() => createTokenVerifier({ secret, algorithms: ["none"] })).toThrow(/"none" is not an algorithm/);
  });

  it("a JWKS file: the token's kid picks the key, so two keys can live side by side during a rotation", async () => {
    const [old, next] = [ecKeys(), ecKeys()];
    const jwk = async (publicKey: string, kid: string) => ({ ...(await exportJWK(await importSPKI(publicKey, "ES256"))), kid, alg: "ES256" });
    const path = join(dir, "keys.json");
    writeFileSync(path, JSON.stringify({ keys: [await jwk(old.publicKey, "2026-10"), await jwk(next.publicKey, "2026-11")] }));
    const verifier = createTokenVerifier({ jwksFile: path });
    for (const [keys, kid] of [[old, "2026-10"], [next, "2026-11"]] as const) {
      const token = await mintToken({ key: keys.privateKey, subject: "bot-1", audience: "bots", keyId: kid });
      expect((await verifier.verify(token, "bots")).subject).toBe("bot-1");
    }
    const stranger = await mintToken({ key: ecKeys().privateKey, subject: "bot-1", audience: "bots", keyId: "2026-11" });
    await expect(verifier.verify(stranger, "bots")).rejects.toBeInstanceOf(UnauthenticatedError);
  });

  it("a JWKS file that is not one is refused when the verifier is made", () => {
    const path = join(dir, "not-keys.json");
    writeFileSync(path, JSON.stringify({ hello: 1 }));
    expect(() => createTokenVerifier({ jwksFile: path })).toThrow(/not a JSON Web Key Set/);
    expect(() => createTokenVerifier({ jwksFile: join(dir, "missing.json") })).toThrow(/not a readable JSON file/);
  });

  it("an issuer, when set, must match", async () => {
    const keys = ecKeys();
    const verifier = createTokenVerifier({ publicKey: keys.publicKey, issuer: "streamcmd-demo" });
    const right = await mintToken({ key: keys.privateKey, subject: "bot-1", audience: "bots", issuer: "streamcmd-demo" });
    const wrong = await mintToken({ key: keys.privateKey, subject: "bot-1", audience: "bots", issuer: "someone-else" });
    expect((await verifier.verify(right, "bots")).subject).toBe("bot-1");
    await expect(verifier.verify(wrong, "bots")).rejects.toThrow(/"iss" claim/);
  });

  it("reads a bearer token from the authorization header, and nothing else", () => {
    expect(bearerToken(new Headers({ authorization: "Bearer abc.def.ghi" }))).toBe("abc.def.ghi");
    expect(bearerToken(new Headers({ authorization: "Basic dXNlcjpwYXNz" }))).toBeUndefined();
    expect(bearerToken(new Headers())).toBeUndefined();
  });
});
