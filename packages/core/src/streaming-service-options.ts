import { silentLogger, type Logger } from "./logger.js";
import type { DuplicatePolicy, StreamingServiceOptions } from "./streaming-service-types.js";
import { checkCount, checkDuration, checkOneOf } from "./validate.js";

/** Internal: a hub's options, validated, with every default applied. */
export interface ResolvedServiceOptions {
  readonly duplicatePolicy: DuplicatePolicy;
  readonly maxQueueSize: number;
  readonly defaultTimeoutMs: number;
  readonly heartbeatTimeoutMs: number;
  readonly helloTimeoutMs: number;
  readonly maxPendingPerClient: number;
  readonly maxConnectWaiters: number;
  readonly idempotencyWindowMs: number;
  readonly maxIdempotencyKeys: number;
  readonly maxMessagesPerSecond: number;
  readonly maxMetadataEntries: number;
  readonly maxMetadataBytes: number;
  readonly logger: Logger;
  readonly now: () => number;
}

/** Internal: validates a hub's options (an `InvalidArgumentError` naming the first bad one) and fills in the defaults. */
export function resolveServiceOptions(options: StreamingServiceOptions): ResolvedServiceOptions {
  return {
    duplicatePolicy: checkOneOf("duplicatePolicy", options.duplicatePolicy ?? "replace", ["replace", "reject"]),
    maxQueueSize: checkCount("maxQueueSize", options.maxQueueSize ?? 256, 1),
    defaultTimeoutMs: checkDuration("defaultTimeoutMs", options.defaultTimeoutMs ?? 5_000, 1),
    heartbeatTimeoutMs: checkDuration("heartbeatTimeoutMs", options.heartbeatTimeoutMs ?? 45_000),
    helloTimeoutMs: checkDuration("helloTimeoutMs", options.helloTimeoutMs ?? 10_000, 1),
    maxPendingPerClient: checkCount("maxPendingPerClient", options.maxPendingPerClient ?? 1024, 1),
    maxConnectWaiters: checkCount("maxConnectWaiters", options.maxConnectWaiters ?? 10_000),
    idempotencyWindowMs: checkDuration("idempotencyWindowMs", options.idempotencyWindowMs ?? 60_000),
    maxIdempotencyKeys: checkCount("maxIdempotencyKeys", options.maxIdempotencyKeys ?? 10_000, 1),
    maxMessagesPerSecond: checkCount("maxMessagesPerSecond", options.maxMessagesPerSecond ?? 0),
    maxMetadataEntries: checkCount("maxMetadataEntries", options.maxMetadataEntries ?? 16),
    maxMetadataBytes: checkCount("maxMetadataBytes", options.maxMetadataBytes ?? 4096),
    logger: options.logger ?? silentLogger,
    now: options.now ?? Date.now,
  };
}
