import type { DescMessage, MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { ClosedError, CommandCancelledError, CommandTimeoutError, InternalError, RouterUnavailableError, UnauthenticatedError, type CommandError } from "@streamcmd/core";
import { createLimiter, PushQueue, watchDeadline, type Deadline } from "@streamcmd/core/internal";
import { streamBatchSize } from "./command-router.js";
import { connectCodeOf, fromConnectError, fromErrorDetail } from "./error-mapping.js";
import type { BidiCall } from "./grpc-stream.js";
import type { CommandRouterService, ExecuteRequestSchema, ExecuteResponse, ExecuteStreamCallSchema } from "./gen/streamcmd/v1/command_router_pb.js";
import { describeTlsFailure } from "./tls-options.js";

type Call = MessageInitShape<typeof ExecuteStreamCallSchema>;
/** How a call on the stream can fail: typed, or "this server has no stream" (the router then falls back to unary). */
type CallFailure = CommandError | StreamUnsupportedError;

interface PendingCall {
  /** The execute message, while it may still be waiting in the queue (then a give-up just takes it back). */
  readonly message: Call;
  readonly replySchema: DescMessage;
  /** Sends the call again on a new stream, once: set while it has not been resent. */
  readonly resend: (() => void) | undefined;
  resolve(response: ExecuteResponse): void;
  reject(error: CallFailure): void;
}

interface OpenStream {
  readonly requests: PushQueue<Call>;
  readonly pending: Map<bigint, PendingCall>;
  readonly controller: AbortController;
  idleTimer: Deadline | undefined;
  /** Whether the server has answered on it: a stream it refused at once never has. */
  answered: boolean;
}

/** Internal: the server has no ExecuteStream (an older deploy); the router falls back to unary calls. */
export class StreamUnsupportedError extends Error {
  override name = "StreamUnsupportedError";
}

/**
 * Bytes of commands one stream message carries at most (a call heavier than this goes alone), well
 * under a server's message limit (`startServer`'s `readMaxBytes`, 1 MiB by default).
 */
const batchBytes = 256 * 1024;
/** What a call weighs on the wire: its packed command plus room for the call's other fields. */
function weigh(call: Call): number {
  const kind = call.kind;
  return kind?.case === "execute" ? (kind.value.command?.value?.byteLength ?? 0) + 256 : 32;
}

/** Calls one stream carries at once; more wait here (the server refuses beyond its own limit, 4096 by default). */
const maxInFlight = 4096;
/** A stream with no call for this long is closed (and reopened by the next call), so it never keeps a process alive. */
const idleCloseMs = 2_000;

/** Stream failures that say nothing about the calls themselves: the router is (for now) unreachable. */
const brokenCodes: ReadonlySet<Code> = new Set([Code.Unavailable, Code.Canceled, Code.Unknown, Code.Internal, Code.Aborted, Code.DeadlineExceeded]);

/** What one call on the stream needs besides the request. */
export interface StreamCallOptions {
  signal?: AbortSignal | undefined;
  /** The caller gives up after this long (the server's wait plus a margin). */
  deadlineMs?: number | undefined;
  /** Decodes the reply carried by a failure. */
  replySchema: DescMessage;
}

/**
 * Internal: the caller's side of `ExecuteStream` — many Execute calls multiplexed on one stream,
 * matched by call id, several per message under load. Opened on first use, closed after a quiet
 * spell, reopened on the next call; when it breaks, its calls in flight fail with
 * `RouterUnavailableError` (or the stream's own typed error, e.g. unauthenticated). A caller's
 * abort or deadline cancels the call on the server too, or never sends it if it had not left yet.
 */
export class CommandStream {
  private stream: OpenStream | undefined;
  private nextCallId = 1n;
  private closed = false;
  private readonly slots = createLimiter(maxInFlight);

  /** `call` opens an `ExecuteStream`. */
  constructor(private readonly call: BidiCall<(typeof CommandRouterService.method.executeStream)["input"], (typeof CommandRouterService.method.executeStream)["output"]>) {}

  execute(request: MessageInitShape<typeof ExecuteRequestSchema>, options: StreamCallOptions): Promise<ExecuteResponse> {
    const { signal, deadlineMs, replySchema } = options;
    const where = { service: request.service ?? "", clientId: request.clientId ?? "" };
    if (this.closed) return Promise.reject(new ClosedError("the remote router is closed", where));
    if (signal?.aborted) return Promise.reject(new CommandCancelledError("the call was cancelled before it started", { ...where, cause: signal.reason }));
    return new Promise<ExecuteResponse>((resolve, reject) => {
      const callId = this.nextCallId++;
      const message: Call = { callId, kind: { case: "execute", value: request } };
      let stream: OpenStream | undefined;
      let release: (() => void) | undefined;
      let slotWait: AbortController | undefined;
      const finish = (): void => {
        deadline.dispose();
        slotWait?.abort();
        if (stream !== undefined && stream.pending.delete(callId)) this.afterCall(stream);
        release?.();
        release = undefined;
      };
      const giveUp = (error: CallFailure): void => {
        const current = stream;
        if (current !== undefined && current.pending.has(callId)) {
          // Not sent yet: take it back. Sent: tell the server to drop it.
          if (!current.requests.remove((item) => item === message)) current.requests.tryPush({ callId, kind: { case: "cancel", value: {} } });
        }
        finish();
        reject(error);
      };
      const deadline = watchDeadline({ timeoutMs: deadlineMs, signal }, (cause) =>
        giveUp(
          cause === "timeout"
            ? new CommandTimeoutError(`no answer from the command router within ${deadlineMs} ms`, where)
            : new CommandCancelledError("the call was cancelled", { ...where, cause: signal?.reason }),
        ),
      );
      const ride = (resent: boolean): void => {
        stream = this.stream ??= this.open();
        stream.idleTimer?.dispose();
        stream.idleTimer = undefined;
        stream.pending.set(callId, {
          message,
          replySchema,
          resend: resent ? undefined : () => ride(true),
          resolve: (response) => (finish(), resolve(response)),
          reject: (error) => (finish(), reject(error)),
        });
        stream.requests.tryPush(message);
      };
      const send = (slot: () => void): void => {
        release = slot;
        slotWait = undefined;
        ride(false);
      };
      const slot = this.slots.tryAcquire();
      if (slot !== undefined) return send(slot);
      slotWait = new AbortController();
      this.slots.acquire(slotWait.signal).then(send, () => {}); // refused only when the call gave up first
    });
  }

  /** Ends the stream; calls in flight fail with `CommandCancelledError` (cause `ClosedError`), later calls with `ClosedError`. */
  close(): void {
    this.closed = true;
    const closedError = new ClosedError("the remote router was closed");
    this.slots.clear(closedError);
    const stream = this.stream;
    this.stream = undefined;
    if (stream === undefined) return;
    this.failAll(stream, new CommandCancelledError("the remote router was closed", { cause: closedError }));
    stream.controller.abort();
  }

  /** No new call goes on `stream`; it half-closes, and ends once the server has answered its calls. */
  private retire(stream: OpenStream): void {
    if (this.stream !== stream) return;
    this.stream = undefined;
    stream.requests.end();
  }

  /** A call on `stream` ended: close the stream once it has been idle a while. */
  private afterCall(stream: OpenStream): void {
    if (stream.pending.size > 0 || stream.idleTimer !== undefined || this.stream !== stream) return;
    stream.idleTimer = watchDeadline({ timeoutMs: idleCloseMs, ref: false }, () => {
      stream.idleTimer = undefined;
      if (stream.pending.size === 0) this.retire(stream); // nothing in flight: the server ends it at once
    });
  }

  private open(): OpenStream {
    const stream: OpenStream = { requests: new PushQueue(), pending: new Map(), controller: new AbortController(), idleTimer: undefined, answered: false };
    void (async () => {
      let failure: CallFailure | undefined;
      try {
        const requests = stream.requests.batches(streamBatchSize, (calls) => ({ calls }), { weigh, max: batchBytes });
        for await (const response of this.call(requests, { signal: stream.controller.signal })) {
          stream.answered = true;
          for (const result of response.results) {
            const call = stream.pending.get(result.callId);
            if (call === undefined) continue; // cancelled or timed out here: nobody is listening
            if (result.outcome.case === "error" && result.outcome.value.code === "unauthenticated" && call.resend !== undefined) {
              // Refused before it started (the router checks the caller first): the stream's credential
              // expired. New calls go on a new stream (a fresh token); this one ends once its calls are answered.
              stream.pending.delete(result.callId);
              this.retire(stream);
              call.resend();
              continue;
            }
            if (result.outcome.case === "reply") call.resolve(result.outcome.value);
            else if (result.outcome.case === "error") {
              const detail = result.outcome.value;
              // The cause is the status as it came off the wire, as on the unary path.
              const cause = new ConnectError(result.message, connectCodeOf[detail.code as keyof typeof connectCodeOf] ?? Code.Unknown);
              call.reject(fromErrorDetail(detail, result.message, call.replySchema, cause) ?? new InternalError(result.message, { cause }));
            } else call.reject(new InternalError("the command router answered a call with neither a reply nor an error"));
          }
        }
      } catch (error) {
        failure = this.streamFailure(error);
      }
      stream.idleTimer?.dispose();
      // The stream is over: the next call opens a new one; these cannot be answered any more.
      if (this.stream === stream) this.stream = undefined;
      stream.requests.end();
      if (failure instanceof UnauthenticatedError && stream.answered && !this.closed) {
        // The credential the stream was opened with expired: the server answered every call it had
        // started (it refuses the rest before starting them), so the rest go once more on a new stream.
        const calls = [...stream.pending.values()];
        stream.pending.clear();
        for (const call of calls) call.resend === undefined ? call.reject(failure) : call.resend();
        return;
      }
      this.failAll(stream, failure ?? new RouterUnavailableError("the command router closed the command stream"));
    })();
    return stream;
  }

  /** What the calls riding a failed stream are told. */
  private streamFailure(error: unknown): CallFailure {
    const connectError = ConnectError.from(error);
    if (connectError.code === Code.Unimplemented) return new StreamUnsupportedError(connectError.rawMessage);
    // A status that is about the caller (unauthenticated, permission denied, …) keeps its class;
    // a stream that just broke (reset, server gone) means the router is unavailable.
    if (!brokenCodes.has(connectError.code)) return fromConnectError(connectError);
    const tls = describeTlsFailure(connectError);
    if (tls !== undefined) return new RouterUnavailableError(`cannot reach the command router over TLS: ${tls}`, { cause: error });
    return new RouterUnavailableError(`the command router is unavailable: ${connectError.rawMessage}`, { cause: error });
  }

  private failAll(stream: OpenStream, error: CallFailure): void {
    for (const call of [...stream.pending.values()]) call.reject(error);
  }
}
