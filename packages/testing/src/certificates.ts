// @peculiar/x509 resolves its parts through tsyringe, which needs the Reflect metadata polyfill first.
import "reflect-metadata";
import type { webcrypto } from "node:crypto";
import * as x509 from "@peculiar/x509";

/** A certificate and its private key, both PEM. */
export interface IssuedCertificate {
  readonly cert: string;
  readonly key: string;
}

/** What a certificate is for and who it names. */
export interface CertificateRequest {
  /** The subject's common name (for a client certificate, also a place an identity can be read from). */
  commonName: string;
  /** DNS names and IP addresses it is valid for (a server's `localhost`, `127.0.0.1`). */
  dnsNames?: readonly string[];
  ipAddresses?: readonly string[];
  /** URIs in the subject alternative name (a client's identity, e.g. `spiffe://streamcmd/bots/bot-1`). */
  uris?: readonly string[];
  /** `server` (default) or `client` (for mutual TLS). */
  usage?: "server" | "client";
  /** Validity, in days from now. Default 365. */
  days?: number;
}

/** A development certificate authority: its certificate (to trust) and a way to issue certificates. */
export interface CertificateAuthority extends IssuedCertificate {
  issue(request: CertificateRequest): Promise<IssuedCertificate>;
}

const algorithm = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;
x509.cryptoProvider.set(globalThis.crypto);

async function keyPem(key: webcrypto.CryptoKey): Promise<string> {
  return x509.PemConverter.encode(await globalThis.crypto.subtle.exportKey("pkcs8", key), "PRIVATE KEY");
}

function serial(): string {
  return Buffer.from(globalThis.crypto.getRandomValues(new Uint8Array(16))).toString("hex").replace(/^[89a-f]/, "1");
}

function validity(days: number): { notBefore: Date; notAfter: Date } {
  const notBefore = new Date(Date.now() - 60_000); // a minute of slack for clocks
  return { notBefore, notAfter: new Date(notBefore.getTime() + days * 86_400_000) };
}

function quote(value: string): string {
  return value.replace(/([,=+<>#;"\\])/g, "\\$1");
}

/**
 * Creates a development certificate authority (ECDSA P-256, made with `@peculiar/x509` on
 * WebCrypto: pure JavaScript, no openssl needed) that issues server and client certificates.
 * For development, tests and the demo; production certificates come from your own PKI.
 */
export async function createCertificateAuthority(options: { commonName?: string; days?: number } = {}): Promise<CertificateAuthority> {
  const keys = await globalThis.crypto.subtle.generateKey(algorithm, true, ["sign", "verify"]);
  const caCert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: `CN=${quote(options.commonName ?? "streamcmd development CA")}`,
    ...validity(options.days ?? 3650),
    signingAlgorithm: algorithm,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return {
    cert: caCert.toString("pem"),
    key: await keyPem(keys.privateKey),
    async issue(request) {
      const leafKeys = await globalThis.crypto.subtle.generateKey(algorithm, true, ["sign", "verify"]);
      const names: x509.JsonGeneralName[] = [
        ...(request.dnsNames ?? []).map((value) => ({ type: "dns" as const, value })),
        ...(request.ipAddresses ?? []).map((value) => ({ type: "ip" as const, value })),
        ...(request.uris ?? []).map((value) => ({ type: "url" as const, value })),
      ];
      const client = request.usage === "client";
      const cert = await x509.X509CertificateGenerator.create({
        serialNumber: serial(),
        subject: `CN=${quote(request.commonName)}`,
        issuer: caCert.subject,
        ...validity(request.days ?? 365),
        signingAlgorithm: algorithm,
        publicKey: leafKeys.publicKey,
        signingKey: keys.privateKey,
        extensions: [
          new x509.BasicConstraintsExtension(false, undefined, true),
          new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyAgreement, true),
          new x509.ExtendedKeyUsageExtension([client ? x509.ExtendedKeyUsage.clientAuth : x509.ExtendedKeyUsage.serverAuth]),
          ...(names.length > 0 ? [new x509.SubjectAlternativeNameExtension(names)] : []),
          await x509.AuthorityKeyIdentifierExtension.create(caCert),
        ],
      });
      return { cert: cert.toString("pem"), key: await keyPem(leafKeys.privateKey) };
    },
  };
}
