/**
 * protoc-gen-streamcmd — a buf/protoc plugin that turns a proto's bidi streaming service into
 * streamcmd's typed pieces: hub and agent bindings, the streaming service definition, command
 * builders, a command client with one method per command and the agent's handler interface.
 * The conventions it reads are in the README; a proto that breaks one fails with a
 * `ConventionError` naming the file, message and field.
 *
 * @packageDocumentation
 */

export { protocGenStreamcmd, pluginVersion } from "./plugin.js";
export { readProtocol, ConventionError, type StreamProtocol, type CommandShape } from "./conventions.js";
export { exportNames, type StreamcmdPluginOptions } from "./generate.js";
