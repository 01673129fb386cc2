import { createStreamingService, registerStreamingService } from "@streamcmd/core";
import {
  CommandRouterService,
  createCommandRouter,
  createStreamHandler,
  createTokenVerifier,
  startServer,
  streamRouteOptions,
  tokenAuthenticator,
  tokenCallerAuthenticator,
  type ServerTlsOptions,
} from "@streamcmd/transport-connect";
// The demo bot protocol (proto/demo/bot/v1) and its service definition; yours would be your own.
import { BotService, botService } from "@streamcmd/demo-protocol";

export async function startBotServer(options: { port: number; tls: ServerTlsOptions; tokenPublicKey: string }) {
  // Bots and callers present tokens signed with your key: sub = who, aud = the service name (a bot) or "streamcmd-router" (a caller).
  const tokens = createTokenVerifier({ publicKey: options.tokenPublicKey });
  // The hub of connected bots, reachable from anywhere in this process.
  const bots = createStreamingService(botService, { heartbeatTimeoutMs: 30_000 });
  registerStreamingService(bots);

  const server = await startServer({
    port: options.port,
    tls: options.tls, // HTTP/2 over TLS (plaintext is for loopback only)
    routes(router) {
      // Bots connect here, each as the client its token names, with a small message limit.
      router.service(BotService, { connect: createStreamHandler(bots, { authenticate: tokenAuthenticator(tokens) }) }, streamRouteOptions());
      // Other processes call here, within their token's scopes (e.g. "execute:demo.bot.v1.BotService list:*").
      router.service(CommandRouterService, createCommandRouter({ services: [bots], authenticate: tokenCallerAuthenticator(tokens) }));
    },
  });
  return { bots, server };
}
