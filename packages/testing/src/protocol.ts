import type { ClientBinding, StreamingServiceDefinition } from "@streamcmd/core";

/** A command as a fake client receives it. */
export interface ReceivedCommand<TCommand> {
  commandId: string;
  command: TCommand;
  /** The deadline the server put on the wire, if the protocol carries one (ms since the epoch). */
  deadline?: number;
}

/**
 * Both ends of one protocol, for the harness: the server's definition, the clients' binding (the
 * same `ClientBinding` an agent runtime takes), and what only tests need — a message that is
 * neither hello nor reply, a message the server must refuse, a default answer.
 */
export interface Protocol<TIn, TOut, TCommand, TReply> {
  readonly definition: StreamingServiceDefinition<TIn, TOut, TCommand, TReply>;
  readonly client: ClientBinding<TIn, TOut, TCommand, TReply>;
  /** A message that is neither hello nor reply (a heartbeat, a status report). */
  event(): TIn;
  /** A message the binding must refuse (the hub then drops the client with a ProtocolError). */
  malformed(): TIn;
  /** What a fake client answers when its test scripts nothing. */
  defaultReply(command: TCommand, commandId: string): TReply;
}
