import { createStreamingService, type ClientIdentity, type StreamingService, type StreamingServiceOptions } from "@streamcmd/core";
import { delay } from "@streamcmd/core/internal";
import type { Protocol, ReceivedCommand } from "./protocol.js";
import { createPushStream, type PushStream } from "./push-stream.js";

/** What a scripted fake client does with one command. */
export type FakeAction<TReply> =
  | { reply: TReply }
  | { fail: { code: string; message: string } }
  | { delayMs: number; then: FakeAction<TReply> }
  /** Say nothing: the command times out on the server. */
  | { ignore: true }
  /** Hang up while the command is pending. */
  | { disconnect: true }
  /** Answer with a message the binding refuses. */
  | { malformed: true };

/** A fake client's script: called once per command, may be async. */
export type Behaviour<TCommand, TReply> = (
  command: TCommand,
  received: ReceivedCommand<TCommand>,
) => FakeAction<TReply> | Promise<FakeAction<TReply>>;

/** How a connection of the harness ended. */
export interface StreamEnd {
  /** The error the hub ended the stream with (protocol error, replaced, …); absent when it ended cleanly. */
  error?: unknown;
}

/** One raw stream into the hub: push anything, see everything the hub writes. */
export interface RawStream<TIn, TOut> {
  readonly incoming: PushStream<TIn>;
  /** Every message the hub wrote to this stream. */
  readonly written: TOut[];
  /** Settles when the hub's side of the stream ended. */
  readonly ended: Promise<StreamEnd>;
  /** Stops reading the hub's messages (a slow consumer) until `resumeReading`. */
  pauseReading(): void;
  resumeReading(): void;
  /** Cancels the stream from the transport's side (like a reset HTTP/2 stream). */
  cancel(): void;
}

/** A scriptable fake client connected to the harness's hub. */
export interface FakeClient<TIn, TOut, TCommand, TReply> {
  readonly clientId: string;
  readonly stream: RawStream<TIn, TOut>;
  /** Every command received, in order. */
  readonly received: ReceivedCommand<TCommand>[];
  /** Replaces the script. */
  behave(behaviour: Behaviour<TCommand, TReply>): void;
  /** The next command to arrive (or the oldest one not yet taken). */
  nextCommand(): Promise<ReceivedCommand<TCommand>>;
  reply(commandId: string, reply: TReply): void;
  fail(commandId: string, code: string, message: string): void;
  /** Sends a message that is neither hello nor reply (heartbeat, status). */
  sendEvent(): void;
  /** Sends any message. */
  send(message: TIn): void;
  /** Hangs up cleanly. */
  disconnect(): void;
  /** Breaks the stream with a transport error. */
  breakStream(error?: unknown): void;
}

/** Options of `connect`. */
export interface ConnectFakeOptions<TCommand, TReply> {
  behaviour?: Behaviour<TCommand, TReply>;
  metadata?: Record<string, string>;
  /** Connect with a transport-established identity instead of (or before) the hello. */
  identity?: ClientIdentity;
  /** Skip the hello (only meaningful with `identity`). */
  skipHello?: boolean;
}

/** An in-memory hub plus fake clients: no sockets, real hub. */
export interface Harness<TIn, TOut, TCommand, TReply> {
  readonly service: StreamingService<TIn, TOut, TCommand, TReply>;
  readonly protocol: Protocol<TIn, TOut, TCommand, TReply>;
  /** Connects a fake client and resolves once the hub lists it; rejects with the hub's refusal. */
  connect(clientId: string, options?: ConnectFakeOptions<TCommand, TReply>): Promise<FakeClient<TIn, TOut, TCommand, TReply>>;
  /** Connects `count` fake clients named `${prefix}${i}`. */
  connectMany(count: number, prefix?: string, options?: ConnectFakeOptions<TCommand, TReply>): Promise<FakeClient<TIn, TOut, TCommand, TReply>[]>;
  /** Opens a stream and sends nothing: for tests of hellos, garbage and floods. */
  openStream(options?: { identity?: ClientIdentity }): RawStream<TIn, TOut>;
  /** Closes the hub (unless it was passed in) and every stream. */
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Options of `createHarness`. */
export interface HarnessOptions<TIn, TOut, TCommand, TReply> {
  /** Use this hub instead of creating one; it is not closed by the harness. */
  service?: StreamingService<TIn, TOut, TCommand, TReply>;
  /** Options for the hub the harness creates. */
  serviceOptions?: StreamingServiceOptions;
}

/** Creates a harness over `protocol`: a real hub driven by in-memory streams. */
export function createHarness<TIn, TOut, TCommand, TReply>(
  protocol: Protocol<TIn, TOut, TCommand, TReply>,
  options: HarnessOptions<TIn, TOut, TCommand, TReply> = {},
): Harness<TIn, TOut, TCommand, TReply> {
  const ownsService = options.service === undefined;
  const service = options.service ?? createStreamingService(protocol.definition, options.serviceOptions);
  const streams = new Set<RawStream<TIn, TOut>>();
  const { client } = protocol;

  function openStream(
    streamOptions: { identity?: ClientIdentity } = {},
    onMessage?: (message: TOut) => void,
  ): RawStream<TIn, TOut> {
    const incoming = createPushStream<TIn>();
    const cancelController = new AbortController();
    const written: TOut[] = [];
    let paused: { promise: Promise<void>; resume: () => void } | undefined;
    const outgoing = service.handleStream(incoming, {
      signal: cancelController.signal,
      ...(streamOptions.identity ? { identity: streamOptions.identity } : {}),
    });
    const ended = (async (): Promise<StreamEnd> => {
      try {
        for await (const message of outgoing) {
          if (paused !== undefined) await paused.promise;
          written.push(message);
          onMessage?.(message);
        }
        return {};
      } catch (error) {
        return { error };
      } finally {
        incoming.end();
      }
    })();
    const stream: RawStream<TIn, TOut> = {
      incoming,
      written,
      ended,
      pauseReading() {
        if (paused !== undefined) return;
        let resume!: () => void;
        const promise = new Promise<void>((resolve) => (resume = resolve));
        paused = { promise, resume };
      },
      resumeReading() {
        const current = paused;
        paused = undefined;
        current?.resume();
      },
      cancel() {
        stream.resumeReading();
        cancelController.abort();
        incoming.end();
      },
    };
    streams.add(stream);
    void ended.then(() => streams.delete(stream));
    return stream;
  }

  async function connect(
    clientId: string,
    connectOptions: ConnectFakeOptions<TCommand, TReply> = {},
  ): Promise<FakeClient<TIn, TOut, TCommand, TReply>> {
    let behaviour: Behaviour<TCommand, TReply> =
      connectOptions.behaviour ?? ((command, received) => ({ reply: protocol.defaultReply(command, received.commandId) }));
    const received: ReceivedCommand<TCommand>[] = [];
    const backlog: ReceivedCommand<TCommand>[] = [];
    const takers: ((command: ReceivedCommand<TCommand>) => void)[] = [];
    let stream!: RawStream<TIn, TOut>;

    const perform = async (action: FakeAction<TReply>, command: ReceivedCommand<TCommand>): Promise<void> => {
      if ("delayMs" in action) {
        await delay(action.delayMs);
        return perform(action.then, command);
      }
      if ("reply" in action) stream.incoming.push(client.success(command.commandId, action.reply));
      else if ("fail" in action) stream.incoming.push(client.failure(command.commandId, action.fail.code, action.fail.message));
      else if ("disconnect" in action) stream.incoming.end();
      else if ("malformed" in action) stream.incoming.push(protocol.malformed());
    };

    const onMessage = (message: TOut): void => {
      const command = client.readCommand(message);
      if (command === undefined) return; // the welcome, or anything else that is not a command
      received.push(command);
      const taker = takers.shift();
      if (taker !== undefined) taker(command);
      else backlog.push(command);
      // Each command is handled on its own, so slow answers do not hold up the others.
      void (async () => perform(await behaviour(command.command, command), command))().catch(() => {});
    };

    // Subscribe before opening: with a transport identity the hub admits the client at once.
    let markConnected!: () => void;
    const connected = new Promise<void>((resolve) => (markConnected = resolve));
    const unsubscribe = service.onConnect((connected) => {
      if (connected.clientId === clientId) {
        unsubscribe();
        markConnected();
      }
    });
    stream = openStream(connectOptions.identity ? { identity: connectOptions.identity } : {}, onMessage);
    const ended = stream.ended;
    void ended.then(unsubscribe);
    if (connectOptions.skipHello !== true) {
      const identity: ClientIdentity = connectOptions.metadata ? { clientId, metadata: connectOptions.metadata } : { clientId };
      stream.incoming.push(client.hello(identity));
    }
    const outcome = await Promise.race([connected.then(() => undefined), ended.then((end) => end)]);
    if (outcome !== undefined) {
      throw outcome.error ?? new Error(`fake client ${clientId}: the hub ended the stream before it connected`);
    }

    return {
      clientId,
      stream,
      received,
      behave(next) {
        behaviour = next;
      },
      nextCommand() {
        const first = backlog.shift();
        if (first !== undefined) return Promise.resolve(first);
        return new Promise((resolve) => takers.push(resolve));
      },
      reply: (commandId, reply) => stream.incoming.push(client.success(commandId, reply)),
      fail: (commandId, code, message) => stream.incoming.push(client.failure(commandId, code, message)),
      sendEvent: () => stream.incoming.push(protocol.event()),
      send: (message) => stream.incoming.push(message),
      disconnect: () => stream.incoming.end(),
      breakStream: (error = new Error("connection reset")) => stream.incoming.fail(error),
    };
  }

  async function close(): Promise<void> {
    for (const stream of [...streams]) stream.cancel();
    if (ownsService) await service.close();
    await Promise.all([...streams].map((stream) => stream.ended));
  }

  return {
    service,
    protocol,
    connect,
    async connectMany(count, prefix = "client-", connectOptions) {
      const clients = [];
      for (let i = 0; i < count; i++) clients.push(await connect(`${prefix}${i}`, connectOptions));
      return clients;
    },
    openStream: (streamOptions) => openStream(streamOptions),
    close,
    [Symbol.asyncDispose]: close,
  };
}

/** Behaviour: answer every command with `reply(command)`. */
export function replyWith<TCommand, TReply>(reply: (command: TCommand) => TReply): Behaviour<TCommand, TReply> {
  return (command) => ({ reply: reply(command) });
}

/** Behaviour: fail every command with `code` and `message`. */
export function failWith<TCommand, TReply>(code: string, message: string): Behaviour<TCommand, TReply> {
  return () => ({ fail: { code, message } });
}

/** Behaviour: do what `behaviour` does, `delayMs` later. */
export function delayed<TCommand, TReply>(delayMs: number, behaviour: Behaviour<TCommand, TReply>): Behaviour<TCommand, TReply> {
  return async (command, received) => ({ delayMs, then: await behaviour(command, received) });
}

/** Behaviour: never answer. */
export function neverReply<TCommand, TReply>(): Behaviour<TCommand, TReply> {
  return () => ({ ignore: true });
}

/** Behaviour: hang up on the first command, leaving it (and any others) pending. */
export function disconnectOnCommand<TCommand, TReply>(): Behaviour<TCommand, TReply> {
  return () => ({ disconnect: true });
}

/** Behaviour: answer with a message the binding refuses. */
export function replyMalformed<TCommand, TReply>(): Behaviour<TCommand, TReply> {
  return () => ({ malformed: true });
}
