// Internal test support: a bot written with @grpc/grpc-js, an independent gRPC implementation,
// using protobuf-es only to (de)serialise the demo protocol.
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import * as demoBot from "@streamcmd/demo-protocol";

export interface GrpcJsBot {
  call: grpc.ClientDuplexStream<demoBot.ConnectRequest, demoBot.ConnectResponse>;
  /** The server's welcome, once it came (always the first message). */
  welcome: demoBot.ConnectResponse | undefined;
  /** Every command received (the welcome is not one). */
  received: demoBot.ConnectResponse[];
  /** How the call ended: the status code and message the server sent. */
  ended: Promise<{ code: grpc.status; details: string }>;
  close(): void;
}

/** Opens the Connect stream; `answer` decides the reply to each command (none: no reply). */
export function grpcJsBot(
  url: string,
  options: {
    answer?: (command: demoBot.ConnectResponse) => demoBot.ConnectRequest | undefined;
    serialize?: (message: demoBot.ConnectRequest) => Buffer;
  } = {},
): GrpcJsBot {
  const client = new grpc.Client(new URL(url).host, grpc.credentials.createInsecure());
  const call = client.makeBidiStreamRequest(
    "/demo.bot.v1.BotService/Connect",
    options.serialize ?? ((message: demoBot.ConnectRequest) => Buffer.from(toBinary(demoBot.ConnectRequestSchema, message))),
    (bytes: Buffer) => fromBinary(demoBot.ConnectResponseSchema, bytes),
  );
  const ended = new Promise<{ code: grpc.status; details: string }>((resolve) => {
    call.on("status", (status: grpc.StatusObject) => resolve({ code: status.code, details: status.details }));
  });
  call.on("error", () => {}); // the status above carries it
  const received: demoBot.ConnectResponse[] = [];
  const bot: GrpcJsBot = {
    call,
    welcome: undefined,
    received,
    ended,
    close() {
      call.cancel();
      client.close();
    },
  };
  call.on("data", (command: demoBot.ConnectResponse) => {
    if (command.command.case === "welcome") {
      if (bot.welcome === undefined && received.length === 0) bot.welcome = command;
      return;
    }
    received.push(command);
    const reply = options.answer?.(command);
    if (reply !== undefined) call.write(reply);
  });
  return bot;
}

export function hello(botId: string): demoBot.ConnectRequest {
  return create(demoBot.ConnectRequestSchema, { message: { case: "hello", value: { botId, version: "grpc-js" } } });
}
