import type { ClientIdentity, StreamBinding } from "@streamcmd/core";

/** A command as a fake client receives it. */
export interface ReceivedCommand<TCommand> {
  commandId: string;
  command: TCommand;
}

/**
 * The client side of a protocol, for fake clients: how to say hello, read a command, answer it,
 * and how to build a message the server side must reject.
 */
export interface ClientCodec<TIn, TOut, TCommand, TReply> {
  hello(identity: ClientIdentity): TIn;
  readCommand(message: TOut): ReceivedCommand<TCommand>;
  success(commandId: string, reply: TReply): TIn;
  failure(commandId: string, code: string, message: string): TIn;
  /** A message that is neither hello nor reply (a heartbeat, a status report). */
  event(): TIn;
  /** A message the binding must refuse (the hub then drops the client with a ProtocolError). */
  malformed(): TIn;
}

/** Both ends of one protocol: the server's binding and the fake clients' codec. */
export interface Protocol<TIn, TOut, TCommand, TReply> {
  readonly binding: StreamBinding<TIn, TOut, TCommand, TReply>;
  readonly codec: ClientCodec<TIn, TOut, TCommand, TReply>;
  /** What a fake client answers when its test scripts nothing. */
  defaultReply(command: TCommand, commandId: string): TReply;
}
