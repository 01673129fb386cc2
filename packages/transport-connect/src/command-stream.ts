import type { MessageInitShape, Registry } from "@bufbuild/protobuf";
import { ConnectError, type Client } from "@connectrpc/connect";
import { CommandCancelledError, CommandTimeoutError, InternalError, RouterUnavailableError, type CommandError } from "@streamcmd/core";
import { fromConnectError, fromErrorDetail } from "./error-mapping.js";
import {
  CommandErrorDetailSchema,
  type CommandRouterService,
  type ExecuteRequestSchema,
  type ExecuteResponse,
  type ExecuteStreamCallSchema,
} from "./gen/streamcmd/v1/command_router_pb.js";
import { streamBatchSize } from "./command-router.js";
import { Mailbox } from "./mailbox.js";

type Call = MessageInitShape<typeof ExecuteStreamCallSchema>;

interface PendingCall {
  resolve(response: ExecuteResponse): void;
  reject(error: CommandError): void;
}

interface OpenStream {
  readonly requests: Mailbox<Call>;
  readonly pending: Map<bigint, PendingCall>;
  readonly controller: AbortController;
}

/**
 * Internal: the caller's side of `ExecuteStream` — many Execute calls multiplexed on one long-lived
 * stream, matched by call id. Opened on first use, reopened on the next call after it breaks (its
 * calls in flight fail with the stream's error). A caller's abort or deadline cancels the call on
 * the server too.
 */
export class CommandStream {
  private stream: OpenStream | undefined;
  private nextCallId = 1n;

  constructor(
    private readonly client: Client<typeof CommandRouterService>,
    private readonly registry: Registry,
  ) {}

  execute(
    request: MessageInitShape<typeof ExecuteRequestSchema>,
    options: { signal?: AbortSignal | undefined; deadlineMs?: number | undefined },
  ): Promise<ExecuteResponse> {
    const { signal, deadlineMs } = options;
    if (signal?.aborted) return Promise.reject(new CommandCancelledError("the call was cancelled before it started", { cause: signal.reason }));
    const stream = (this.stream ??= this.open());
    const callId = this.nextCallId++;
    return new Promise<ExecuteResponse>((resolve, reject) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const done = (): void => {
        stream.pending.delete(callId);
        if (timer !== undefined) clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
      };
      const giveUp = (error: CommandError): void => {
        if (!stream.pending.has(callId)) return;
        done();
        stream.requests.push({ callId, kind: { case: "cancel", value: {} } });
        reject(error);
      };
      const onAbort = (): void => giveUp(new CommandCancelledError("the call was cancelled", { cause: signal?.reason }));
      stream.pending.set(callId, {
        resolve: (response) => (done(), resolve(response)),
        reject: (error) => (done(), reject(error)),
      });
      signal?.addEventListener("abort", onAbort, { once: true });
      if (deadlineMs !== undefined) {
        timer = setTimeout(() => giveUp(new CommandTimeoutError(`no answer from the command router within ${deadlineMs} ms`)), deadlineMs);
      }
      stream.requests.push({ callId, kind: { case: "execute", value: request } });
    });
  }

  /** Ends the stream; calls in flight fail with `CommandCancelledError`. */
  close(): void {
    const stream = this.stream;
    this.stream = undefined;
    if (stream === undefined) return;
    this.failAll(stream, new CommandCancelledError("the remote router was closed"));
    stream.controller.abort();
  }

  private open(): OpenStream {
    const stream: OpenStream = { requests: new Mailbox(), pending: new Map(), controller: new AbortController() };
    void (async () => {
      let failure: CommandError | undefined;
      try {
        // Calls queued together travel in one message.
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
        // A status with a detail (say, unauthenticated) keeps its class; a stream that just broke
        // (reset, server gone) means the router is unavailable to the calls that were riding it.
        const typed = fromConnectError(error, this.registry);
        failure =
          typed.cause instanceof ConnectError && typed.cause.findDetails(CommandErrorDetailSchema).length > 0
            ? typed
            : new RouterUnavailableError(`the command stream to the router broke: ${typed.message}`, { cause: error });
      }
      // The stream is over: the next call opens a new one, these cannot be answered any more.
      if (this.stream === stream) this.stream = undefined;
      stream.requests.end();
      this.failAll(stream, failure ?? new RouterUnavailableError("the command router closed the command stream"));
    })();
    return stream;
  }

  private failAll(stream: OpenStream, error: CommandError): void {
    for (const call of [...stream.pending.values()]) call.reject(error);
  }
}
