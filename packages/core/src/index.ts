/**
 * @streamcmd/core — send typed commands to long-lived clients connected over bidirectional
 * streams and get their replies. Transport-agnostic: no HTTP, no Connect. A transport package
 * (e.g. `@streamcmd/transport-connect`) feeds streams into a streaming service and provides the
 * cross-process router.
 *
 * What users call: `defineStreamingService` (a protocol's name and binding), `createStreamingService`
 * (the hub), `registerStreamingService`, `createCommandClient`, and the typed errors.
 *
 * @packageDocumentation
 */

export {
  defineStreamingService,
  type ClientBinding,
  type ClientIdentity,
  type CommandContext,
  type CommandOf,
  type ReplyEnvelope,
  type ReplyOf,
  type ServiceKey,
  type StreamBinding,
  type StreamingServiceDefinition,
  type TraceContext,
} from "./service-definition.js";

export { createStreamingService } from "./streaming-service.js";
export type {
  BroadcastOptions,
  BroadcastOutcome,
  CallOptions,
  ClientInfo,
  CommandSettledEvent,
  CommandTarget,
  DisconnectEvent,
  DisconnectReason,
  DuplicatePolicy,
  HandleStreamOptions,
  PostOptions,
  StreamEndpoint,
  StreamingService,
  StreamingServiceOf,
  StreamingServiceOptions,
  StreamingServiceStats,
} from "./streaming-service-types.js";

export {
  createCommandClient,
  withCommandMethods,
  type CommandClientMode,
  type CommandClientOptions,
  type StreamingCommandClient,
} from "./command-client.js";

export {
  clearRegistry,
  getStreamingService,
  isRegistered,
  listStreamingServices,
  registerStreamingService,
  unregisterStreamingService,
  type RegisteredService,
  type RegisterOptions,
} from "./registry.js";

export { getRemoteRouter, setRemoteRouter, type RemoteCommandRequest, type RemoteRouter } from "./remote-router.js";

export { silentLogger, type Logger } from "./logger.js";

export {
  ClientDisconnectedError,
  ClientNotConnectedError,
  ClientReplacedError,
  ClosedError,
  CommandCancelledError,
  CommandError,
  CommandFailedError,
  CommandTimeoutError,
  DuplicateClientError,
  HeartbeatTimeoutError,
  InternalError,
  InvalidArgumentError,
  isCommandError,
  isCommandErrorCode,
  PermissionDeniedError,
  ProtocolError,
  QueueFullError,
  RateLimitedError,
  RouterUnavailableError,
  NodeLostError,
  ServiceAlreadyRegisteredError,
  ServiceClosedError,
  ServiceNotFoundError,
  UnauthenticatedError,
  type CommandErrorCode,
  type CommandErrorContext,
  type CommandErrorOptions,
} from "./errors.js";
export { errorFromInfo, toErrorInfo, type CommandErrorInfo } from "./error-info.js";
