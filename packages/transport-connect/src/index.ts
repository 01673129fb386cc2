/**
 * @streamcmd/transport-connect — streamcmd over Connect/gRPC (HTTP/2):
 *
 * - `createStreamHandler(hub)`: the server side of your own bidi method;
 * - `createCommandRouter({ services })`: the cross-process `streamcmd.v1.CommandRouterService`;
 * - `createRemoteRouter()` / `installRemoteRouter()`: the caller side of it, one HTTP/2 session per target;
 * - `connectAgent()`: the client (bot, agent, device) side, with heartbeats and reconnects;
 * - `startServer()`: HTTP/2 over TLS (+ HTTP/1.1 for unary through ALPN), or plaintext on loopback, with connection limits,
 *   gRPC health checking (`registerHealth`) and, when asked, server reflection (`registerReflection`);
 * - authentication: `tokenAuthenticator` / `certificateAuthenticator` (bots), `tokenCallerAuthenticator` (callers),
 *   `createTokenVerifier`, `mintToken`, scopes for the router's policy;
 * - `toConnectError` / `fromConnectError`: typed errors on the wire and back.
 *
 * Commands and replies cross processes packed with the protobuf `schemas` of the service's
 * definition: `defineStreamingService({ name, binding, schemas: { command, reply } })`.
 *
 * @packageDocumentation
 */

export { createStreamHandler, streamRouteOptions, type StreamHandlerOptions, type StreamRouteLimits } from "./stream-handler.js";
export { createCommandRouter, type CommandRouterOptions } from "./command-router.js";
export type { RouterCallRecord, RouterRequest, RouterSecurityOptions } from "./router-guard.js";
export {
  certificateAuthenticator,
  certificateCallerAuthenticator,
  markAuthenticated,
  peerCertificateKey,
  tokenAuthenticator,
  tokenCallerAuthenticator,
  type CallerAuthenticator,
  type CallerIdentity,
  type CertificateIdentityOptions,
  type PeerCertificate,
  type StreamAuthenticator,
} from "./authenticators.js";
export { bearerToken, createTokenVerifier, mintToken, type MintTokenOptions, type TokenVerifier, type TokenVerifierOptions, type VerifiedToken } from "./tokens.js";
export { scopeAllows, type RouterAction } from "./scopes.js";
export { isLoopbackHost, type ClientTlsOptions } from "./tls-options.js";
export type { TokenSource } from "./grpc-connection.js";
export type { ServerLimits } from "./connection-guard.js";
export { createRemoteRouter, installRemoteRouter, type ConnectRemoteRouter, type RemoteRouterOptions } from "./remote-router.js";
export { hasSchemas, schemaRegistry, type ProtobufSchemas, type ProtobufServiceKey } from "./protobuf-schemas.js";
export {
  connectAgent,
  type Agent,
  type AgentEvents,
  type AgentOptions,
  type AgentState,
  type ReconnectOptions,
} from "./agent.js";
/** Re-exported from the core, where the generated handler interfaces find it. */
export type { CommandContext } from "@streamcmd/core";
export { startServer, type RunningServer, type ServerTlsOptions, type StartServerOptions } from "./server.js";
export { registerHealth, ServingStatus, type HealthStatuses } from "./health.js";
export { registerReflection } from "./reflection.js";
export { connectCodeOf, fromConnectError, toConnectError } from "./error-mapping.js";
export {
  CommandErrorDetailSchema,
  CommandRouterService,
  ConnectedClientSchema,
  ExecuteRequestSchema,
  ExecuteResponseSchema,
  ListClientsRequestSchema,
  ListClientsResponseSchema,
  PostRequestSchema,
  PostResponseSchema,
  type CommandErrorDetail,
  type ConnectedClient,
  type ExecuteRequest,
  type ExecuteResponse,
} from "./gen/streamcmd/v1/command_router_pb.js";
