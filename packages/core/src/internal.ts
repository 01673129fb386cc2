/**
 * @streamcmd/core/internal — the toolkit streamcmd's own packages share: a bounded push queue,
 * the deadline watcher, a concurrency limit, listener sets, option validators, restacking errors for their caller,
 * trace spans.
 *
 * NOT part of the public API and NOT covered by semver: anything here may change in any release.
 * Applications should not import it; transports and test kits in this repository do.
 *
 * @packageDocumentation
 */

export { restack } from "./caller-stack.js";
export { deadlineSignal, delay, watchDeadline, type Deadline, type DeadlineCause, type DeadlineOptions } from "./deadline.js";
export { createLimiter, type Limiter } from "./limiter.js";
export { createListeners, type Listeners } from "./listeners.js";
export { PushQueue, type BatchBudget } from "./push-queue.js";
export { TokenBucket } from "./rate-limiter.js";
export { checkCount, checkDuration, checkName, checkOneOf, describe, errorMessage, maxDurationMs } from "./validate.js";
export { activeTraceContext, childSpan, type ChildSpan } from "./tracing.js";
