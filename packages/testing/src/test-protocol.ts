import { defineStreamingService, ProtocolError, type StreamBinding } from "@streamcmd/core";
import type { Protocol } from "./protocol.js";

/** A command of the plain-object test protocol. */
export interface TestCommand {
  op: string;
  payload?: unknown;
}

/** What a test client sends. */
export type TestClientMessage =
  | { kind: "hello"; clientId: string; metadata?: Record<string, string> }
  | { kind: "reply"; commandId: string; ok: true; value: unknown }
  | { kind: "reply"; commandId: string; ok: false; code: string; message: string }
  | { kind: "event"; data: unknown };

/** What the server sends a test client: a command, the welcome, or the cancel of a command it was sent. */
export type TestServerMessage =
  | { kind: "command"; commandId: string; command: TestCommand; deadline?: number }
  | { kind: "welcome"; clientId: string }
  | { kind: "cancel"; commandId: string };

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null;
}

/**
 * The server side of the test protocol, written the way a user writes a binding: it validates
 * what the client sent and throws on anything it cannot read.
 */
export const testBinding: StreamBinding<TestClientMessage, TestServerMessage, TestCommand, unknown> = {
  identify(message) {
    if (!isObject(message) || message.kind !== "hello") return undefined;
    return message.metadata === undefined ? { clientId: message.clientId } : { clientId: message.clientId, metadata: message.metadata };
  },
  wrapCommand: (commandId, command, deadline) => (deadline === undefined ? { kind: "command", commandId, command } : { kind: "command", commandId, command, deadline }),
  readReply(message) {
    if (!isObject(message) || typeof message.kind !== "string") throw new ProtocolError("a test message must be an object with a kind");
    if (message.kind !== "reply") return undefined;
    return message.ok
      ? { commandId: message.commandId, ok: true, reply: message.value }
      : { commandId: message.commandId, ok: false, code: message.code, message: message.message };
  },
  welcome: (client) => ({ kind: "welcome", clientId: client.clientId }),
  wrapCancel: (commandId) => ({ kind: "cancel", commandId }),
};

/** The test protocol's streaming service, named "test". */
export const testService = defineStreamingService({ name: "test", binding: testBinding });

/** The plain-object protocol most core tests use: commands `{ op, payload }`, replies echo them. */
export const testProtocol: Protocol<TestClientMessage, TestServerMessage, TestCommand, unknown> = {
  definition: testService,
  client: {
    hello: (identity) => ({ kind: "hello", ...identity }),
    readCommand: (message) => {
      if (message.kind !== "command") return undefined;
      const read = { commandId: message.commandId, command: message.command };
      return message.deadline === undefined ? read : { ...read, deadline: message.deadline };
    },
    isWelcome: (message) => message.kind === "welcome",
    readCancel: (message) => (message.kind === "cancel" ? message.commandId : undefined),
    success: (commandId, value) => ({ kind: "reply", commandId, ok: true, value }),
    failure: (commandId, code, message) => ({ kind: "reply", commandId, ok: false, code, message }),
  },
  event: () => ({ kind: "event", data: { at: Date.now() } }),
  malformed: () => ({ garbage: true }) as unknown as TestClientMessage,
  defaultReply: (command) => ({ echo: command }),
};
