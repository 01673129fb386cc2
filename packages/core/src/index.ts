/**
 * @streamcmd/core — send typed commands to long-lived clients connected over bidirectional
 * streams and get their replies. Transport-agnostic: no HTTP, no Connect. A transport package
 * (e.g. `@streamcmd/transport-connect`) feeds streams into a streaming service and provides the
 * cross-process router.
 *
 * @packageDocumentation
 */

export {
  createStreamingService,
  type AnyStreamingService,
  type BroadcastOutcome,
  type ClientIdentity,
  type ClientInfo,
  type DisconnectEvent,
  type DisconnectReason,
  type DuplicatePolicy,
  type HandleStreamOptions,
  type ReplyEnvelope,
  type SendOptions,
  type StreamBinding,
  type StreamingService,
  type StreamingServiceOptions,
  type StreamingServiceStats,
} from "./streaming-service.js";

export {
  createCommandClient,
  type CommandClientMode,
  type CommandClientOptions,
  type CommandOptions,
  type StreamingCommandClient,
} from "./command-client.js";

export {
  clearRegistry,
  getStreamingService,
  isRegistered,
  listStreamingServices,
  registerStreamingService,
  unregisterStreamingService,
  type RegisterOptions,
} from "./registry.js";

export {
  getRemoteRouterFactory,
  setRemoteRouterFactory,
  type RemoteCommandRequest,
  type RemoteRouter,
  type RemoteRouterFactory,
} from "./remote-router.js";

export {
  createCommandClientConfig,
  defaultCommandClientConfig,
  maxDurationMs,
  validateDuration,
  withOverrides,
  type CommandClientConfig,
} from "./config.js";

export { silentLogger, type Logger } from "./logger.js";

export {
  ClientDisconnectedError,
  ClientNotConnectedError,
  ClientReplacedError,
  CommandCancelledError,
  CommandError,
  CommandFailedError,
  CommandTimeoutError,
  DuplicateClientError,
  HeartbeatTimeoutError,
  InternalError,
  InvalidArgumentError,
  PermissionDeniedError,
  ProtocolError,
  QueueFullError,
  RateLimitedError,
  RouterUnavailableError,
  ServiceAlreadyRegisteredError,
  ServiceClosedError,
  ServiceNotFoundError,
  UnauthenticatedError,
  errorFromInfo,
  isCommandErrorCode,
  toErrorInfo,
  type CommandErrorCode,
  type CommandErrorContext,
  type CommandErrorInfo,
  type CommandErrorOptions,
} from "./errors.js";
