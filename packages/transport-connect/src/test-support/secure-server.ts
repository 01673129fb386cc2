// Internal test support: a bot server over TLS that requires tokens (bots and callers) or client
// certificates, with an audit log the tests can read, and the credentials to talk to it.
import { generateKeyPairSync } from "node:crypto";
import { createStreamingService, type Logger, type StreamingServiceOf, type StreamingServiceOptions } from "@streamcmd/core";
import * as demoBot from "@streamcmd/demo-protocol";
import { botAgentBinding, botService } from "@streamcmd/demo-protocol";
import { createCertificateAuthority, type CertificateAuthority, type IssuedCertificate } from "@streamcmd/testing";
import {
  certificateAuthenticator,
  CommandRouterService,
  connectAgent,
  createCommandRouter,
  createStreamHandler,
  createTokenVerifier,
  mintToken,
  startServer,
  streamRouteOptions,
  tokenAuthenticator,
  tokenCallerAuthenticator,
  type Agent,
  type AgentOptions,
  type RunningServer,
  type ServerLimits,
} from "../index.js";
import { resultFor } from "./bot-server.js";

/** What a secure test server was made with, for tests to make good and bad credentials. */
export interface Credentials {
  ca: CertificateAuthority;
  serverCert: IssuedCertificate;
  signing: { publicKey: string; privateKey: string };
  /** A bot's token: its audience is the bot service's name (what the stream handler checks), unless given. */
  botToken(botId: string, options?: { audience?: string; expiresInSeconds?: number }): Promise<string>;
  callerToken(scopes: readonly string[], subject?: string, expiresInSeconds?: number): Promise<string>;
}

let shared: Promise<Credentials> | undefined;

/** One CA and one signing key for a test file (making them takes a few ms each). */
export function credentials(): Promise<Credentials> {
  shared ??= (async () => {
    const ca = await createCertificateAuthority();
    const serverCert = await ca.issue({ commonName: "localhost", dnsNames: ["localhost"], ipAddresses: ["127.0.0.1"] });
    const signing = generateKeyPairSync("ec", { namedCurve: "P-256", publicKeyEncoding: { type: "spki", format: "pem" }, privateKeyEncoding: { type: "pkcs8", format: "pem" } });
    return {
      ca,
      serverCert,
      signing,
      botToken: (botId, options = {}) =>
        mintToken({ key: signing.privateKey, subject: botId, audience: options.audience ?? botService.name, ...(options.expiresInSeconds !== undefined ? { expiresInSeconds: options.expiresInSeconds } : {}) }),
      callerToken: (scopes, subject = "caller", expiresInSeconds) =>
        mintToken({ key: signing.privateKey, subject, audience: "streamcmd-router", scopes, ...(expiresInSeconds !== undefined ? { expiresInSeconds } : {}) }),
    };
  })();
  return shared;
}

export interface SecureServer {
  hub: StreamingServiceOf<typeof botService>;
  server: RunningServer;
  url: string;
  /** Every audit entry the router wrote. */
  audit: Record<string, unknown>[];
  close(): Promise<void>;
}

/** A TLS bot server: tokens for bots and callers, or (`mtls`) client certificates for bots. */
export async function startSecureServer(
  options: { serviceOptions?: StreamingServiceOptions; limits?: ServerLimits; mtls?: { uriPrefix: string } } = {},
): Promise<SecureServer> {
  const creds = await credentials();
  const tokens = createTokenVerifier({ publicKey: creds.signing.publicKey });
  const hub = createStreamingService(botService, options.serviceOptions);
  const audit: Record<string, unknown>[] = [];
  const record = (fields: Record<string, unknown>) => void audit.push(fields);
  const auditLog: Logger = { debug: record, info: record, warn: record, error: record };
  const authenticate = options.mtls === undefined ? tokenAuthenticator(tokens) : certificateAuthenticator({ uriPrefix: options.mtls.uriPrefix });
  const server = await startServer({
    tls: { ...creds.serverCert, ...(options.mtls === undefined ? {} : { clientCa: creds.ca.cert }) },
    ...(options.limits === undefined ? {} : { limits: options.limits }),
    routes(router) {
      router.service(demoBot.BotService, { connect: createStreamHandler(hub, { authenticate }) }, streamRouteOptions());
      router.service(CommandRouterService, createCommandRouter({ services: [hub], authenticate: tokenCallerAuthenticator(tokens), audit: auditLog }));
    },
  });
  return {
    hub,
    server,
    url: server.url,
    audit,
    async close() {
      await hub.close();
      await server.close({ graceMs: 0 });
    },
  };
}

/** A well-behaved agent over TLS with a token of its own (or the options given). */
export async function secureAgent(
  url: string,
  botId: string,
  overrides: Partial<AgentOptions<typeof demoBot.ConnectRequestSchema, typeof demoBot.ConnectResponseSchema, demoBot.ConnectResponse, demoBot.CommandResult>> = {},
): Promise<Agent<demoBot.ConnectRequest>> {
  const creds = await credentials();
  return connectAgent({
    baseUrl: url,
    tls: { ca: creds.ca.cert },
    token: await creds.botToken(botId),
    method: demoBot.BotService.method.connect,
    clientId: botId,
    binding: botAgentBinding,
    onCommand: (command) => resultFor(command, botId),
    heartbeatIntervalMs: 0,
    reconnect: { initialDelayMs: 20, maxDelayMs: 200, jitter: 0.1 },
    ...overrides,
  });
}
