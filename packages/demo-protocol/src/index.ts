/**
 * @streamcmd/demo-protocol — the demo bot protocol (`proto/demo/bot/v1`), as a user of streamcmd
 * would write theirs: the generated messages and service, the streaming service definition
 * (`botService`: name, hub binding, schemas), the bot-side binding and command builders. The
 * examples, the demo app and the tests share it.
 *
 * @packageDocumentation
 */

export * from "./gen/demo/bot/v1/bot_pb.js";
export { botService, demoBotBinding } from "./bot-service.js";
export {
  botCommands,
  demoBotClientBinding,
  helloMessage,
  statusName,
  successResult,
} from "./bindings.js";
