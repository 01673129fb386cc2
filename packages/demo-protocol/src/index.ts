/**
 * @streamcmd/demo-protocol — the demo bot protocol (`proto/demo/bot/v1`), generated as a user of
 * streamcmd generates theirs: protoc-gen-es for the messages and the service, protoc-gen-streamcmd
 * for the streaming service definition (`botService`), the hub and agent bindings, the command
 * builders (`botCommands`), the typed command client (`createBotClient`) and the agent's handlers
 * (`botAgent`). Nothing in it is written by hand but `statusName`. The examples, the demo app and
 * the tests share it.
 *
 * @packageDocumentation
 */

export * from "./gen/demo/bot/v1/bot_pb.js";
export * from "./gen/demo/bot/v1/bot_streamcmd.js";
export { statusName } from "./status.js";
