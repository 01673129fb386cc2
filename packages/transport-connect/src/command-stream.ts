import type { MessageInitShape, Registry } from "@bufbuild/protobuf";
import { Code, ConnectError, type Client } from "@connectrpc/connect";
import { CommandCancelledError, CommandTimeoutError, InternalError, RouterUnavailableError, type CommandError } from "@streamcmd/core";
import { streamBatchSize } from "./command-router.js";
import { fromConnectError, fromErrorDetail } from "./error-mapping.js";
import type { CommandRouterService, ExecuteRequestSchema, ExecuteResponse, ExecuteStreamCallSchema } from "./gen/streamcmd/v1/command_router_pb.js";
import { Mailbox } from "./mailbox.js";

type Call = MessageInitShape<typeof ExecuteStreamCallSchema>;

interface PendingCall {
  /** The execute message, while it may still be waiting in the mailbox (then a give-up just removes it). */
  readonly message: Call;
  resolve(response: ExecuteResponse): void;
  reject(error: CommandError): void;
}

interface OpenStream {
  readonly requests: Mailbox<Call>;
  readonly pending: Map<bigint, PendingCall>;
  readonly controller: AbortController;
  idleTimer: ReturnType<typeof setTimeout> | undefined;
}

/** Internal: the server has no ExecuteStream (an older deploy); the router falls back to unary calls. */
export class StreamUnsupportedError extends Error {
  override name = "StreamUnsupportedError";
}

/** Calls one stream carries at once; more wait here (the server refuses beyond its own limit, 4096 by default). */
const maxInFlight = 4096;
/** A stream with no call for this long is closed (and reopened by the next call), so it never keeps a process alive. */
const idleCloseMs = 2_000;

/** Stream failures that say nothing about the calls themselves: the router is (for now) unreachable. */
const brokenCodes: ReadonlySet<Code> = new Set([Code.Unavailable, Code.Canceled, Code.Unknown, Code.Internal, Code.Aborted, Code.DeadlineExceeded]);

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
  /** Calls over `maxInFlight`, in order, until a slot frees. */
  private readonly waiting: (() => void)[] = [];

  constructor(
    private readonly client: Client<typeof CommandRouterService>,
    private readonly registry: Registry,
  ) {}

  execute(
    request: MessageInitShape<typeof ExecuteRequestSchema>,
    options: { signal?: AbortSignal | undefined; deadlineMs?: number | undefined },
  ): Promise<ExecuteResponse> {
    const { signal, deadlineMs } = options;
    const where = { service: request.service ?? "", clientId: request.clientId ?? "" };
    if (this.closed) return Promise.reject(new CommandCancelledError("the remote router is closed", where));
    if (signal?.aborted) return Promise.reject(new CommandCancelledError("the call was cancelled before it started", { ...where, cause: signal.reason }));
    return new Promise<ExecuteResponse>((resolve, reject) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      let stream: OpenStream | undefined;
      let queuedForSlot: (() => void) | undefined;
      const callId = this.nextCallId++;
      const message: Call = { callId, kind: { case: "execute", value: request } };
      const done = (): void => {
        if (timer !== undefined) clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        if (queuedForSlot !== undefined) {
          const index = this.waiting.indexOf(queuedForSlot);
          if (index >= 0) this.waiting.splice(index, 1);
        }
        if (stream !== undefined && stream.pending.delete(callId)) this.afterCall(stream);
      };
      const giveUp = (error: CommandError): void => {
        const current = stream;
        if (current !== undefined && current.pending.has(callId)) {
          // Not sent yet: take it back. Sent: tell the server to drop it.
          if (!current.requests.remove((item) => item === message)) current.requests.push({ callId, kind: { case: "cancel", value: {} } });
        }
        done();
        reject(error);
      };
      const onAbort = (): void => giveUp(new CommandCancelledError("the call was cancelled", { ...where, cause: signal?.reason }));
      const send = (): void => {
        queuedForSlot = undefined;
        stream = this.stream ??= this.open();
        if (stream.idleTimer !== undefined) clearTimeout(stream.idleTimer);
        stream.idleTimer = undefined;
        stream.pending.set(callId, {
          message,
          resolve: (response) => (done(), resolve(response)),
          reject: (error) => (done(), reject(error)),
        });
        stream.requests.push(message);
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      if (deadlineMs !== undefined) {
        timer = setTimeout(() => giveUp(new CommandTimeoutError(`no answer from the command router within ${deadlineMs} ms`, where)), deadlineMs);
      }
      if ((this.stream?.pending.size ?? 0) < maxInFlight && this.waiting.length === 0) send();
      else {
        queuedForSlot = send;
        this.waiting.push(send);
      }
    });
  }

  /** Ends the stream; calls in flight fail with `CommandCancelledError`, and so does any later call. */
  close(): void {
    this.closed = true;
    const stream = this.stream;
    this.stream = undefined;
    for (const wake of this.waiting.splice(0)) wake(); // they find the stream gone and fail below
    if (stream === undefined) return;
    this.failAll(stream, new CommandCancelledError("the remote router was closed"));
    stream.controller.abort();
  }

  /** A call on `stream` ended: let a waiting call in, or close the stream once it has been idle a while. */
  private afterCall(stream: OpenStream): void {
    const next = this.waiting.shift();
    if (next !== undefined) {
      next();
      return;
    }
    if (stream.pending.size === 0 && stream.idleTimer === undefined && this.stream === stream) {
      stream.idleTimer = setTimeout(() => {
        stream.idleTimer = undefined;
        if (stream.pending.size > 0 || this.stream !== stream) return;
        this.stream = undefined;
        stream.requests.end(); // a clean half-close: the server ends the stream once its calls drained (none)
      }, idleCloseMs);
      stream.idleTimer.unref?.();
    }
  }

  private open(): OpenStream {
    if (this.closed) {
      // close() woke a waiting call: give it a stream that is already over.
      const over: OpenStream = { requests: new Mailbox(), pending: new Map(), controller: new AbortController(), idleTimer: undefined };
      queueMicrotask(() => this.failAll(over, new CommandCancelledError("the remote router was closed")));
      return over;
    }
    const stream: OpenStream = { requests: new Mailbox(), pending: new Map(), controller: new AbortController(), idleTimer: undefined };
    void (async () => {
      let failure: Error | undefined;
      try {
        const requests = stream.requests.batches(streamBatchSize, (calls) => ({ calls }));
        for await (const response of this.client.executeStream(requests, { signal: stream.controller.signal })) {
          for (const result of response.results) {
            const call = stream.pending.get(result.callId);
            if (call === undefined) continue; // cancelled or timed out here: nobody is listening
            if (result.outcome.case === "reply") call.resolve(result.outcome.value);
            else if (result.outcome.case === "error") {
              call.reject(fromErrorDetail(result.outcome.value, result.message, this.registry) ?? new InternalError(result.message));
            } else call.reject(new InternalError("the command router answered a call with neither a reply nor an error"));
          }
        }
      } catch (error) {
        failure = this.streamFailure(error);
      }
      if (stream.idleTimer !== undefined) clearTimeout(stream.idleTimer);
      // The stream is over: the next call opens a new one; these cannot be answered any more.
      if (this.stream === stream) this.stream = undefined;
      stream.requests.end();
      this.failAll(stream, failure ?? new RouterUnavailableError("the command router closed the command stream"));
    })();
    return stream;
  }

  /** What the calls riding a failed stream are told. */
  private streamFailure(error: unknown): Error {
    const connectError = ConnectError.from(error);
    if (connectError.code === Code.Unimplemented) return new StreamUnsupportedError(connectError.rawMessage);
    // A status that is about the caller (unauthenticated, permission denied, …) keeps its class;
    // a stream that just broke (reset, server gone) means the router is unavailable.
    if (!brokenCodes.has(connectError.code)) return fromConnectError(connectError, this.registry);
    return new RouterUnavailableError(`the command router is unavailable: ${connectError.rawMessage}`, { cause: error });
  }

  private failAll(stream: OpenStream, error: Error): void {
    for (const call of [...stream.pending.values()]) call.reject(error as CommandError);
  }
}
