/**
 * @streamcmd/testing — a real hub driven by in-memory streams: scriptable fake clients (reply,
 * fail, delay, never reply, hang up mid-command, send garbage, stall reading), an in-memory
 * cross-process router, and protocol fixtures (a plain-object test protocol, and the demo bot
 * protocol of `@streamcmd/demo-protocol` for fake bots).
 *
 * @packageDocumentation
 */

export {
  createHarness,
  delayed,
  disconnectOnCommand,
  failWith,
  neverReply,
  replyMalformed,
  replyWith,
  type Behaviour,
  type ConnectFakeOptions,
  type FakeAction,
  type FakeClient,
  type Harness,
  type HarnessOptions,
  type RawStream,
  type StreamEnd,
} from "./harness.js";
export { createLoopbackRouter, type LoopbackRouter } from "./loopback-router.js";
export { createPushStream, type PushStream } from "./push-stream.js";
export type { Protocol, ReceivedCommand } from "./protocol.js";
export { testBinding, testProtocol, testService, type TestClientMessage, type TestCommand, type TestServerMessage } from "./test-protocol.js";
export { demoBotProtocol } from "./demo-bot-protocol.js";
export { createCertificateAuthority, type CertificateAuthority, type CertificateRequest, type IssuedCertificate } from "./certificates.js";
export { findNatsServer, startNatsServer, type NatsServer } from "./nats-server.js";
