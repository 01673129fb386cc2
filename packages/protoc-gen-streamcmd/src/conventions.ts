import { ScalarType, type DescField, type DescMessage, type DescMethod, type DescOneof, type DescService } from "@bufbuild/protobuf";
import { FeatureSet_FieldPresence } from "@bufbuild/protobuf/wkt";

/**
 * A proto that does not follow streamcmd's conventions. The message names the file, the message
 * and the field, and says what to change.
 */
export class ConventionError extends Error {
  override name = "ConventionError";
}

/** A string field of a message (singular, not in a oneof). */
type StringField = DescField & { fieldKind: "scalar" };

/** One command: its member in the server message's oneof and its reply's member in the result's oneof. */
export interface CommandShape {
  readonly command: DescField & { fieldKind: "message" };
  readonly reply: DescField & { fieldKind: "message" };
}

/**
 * What a service's bidi method means to streamcmd, read from its messages by the conventions in
 * the package README. Everything the generator prints comes from here.
 */
export interface StreamProtocol {
  readonly service: DescService;
  readonly method: DescMethod & { methodKind: "bidi_streaming" };
  /** What a client sends (the method's input) and its oneof. */
  readonly client: { readonly message: DescMessage; readonly oneof: DescOneof };
  readonly hello: { readonly member: DescField & { fieldKind: "message" }; readonly id: StringField; readonly metadata: readonly StringField[] };
  readonly result: {
    readonly member: DescField & { fieldKind: "message" };
    readonly commandId: StringField;
    readonly oneof: DescOneof;
    readonly failure: DescField & { fieldKind: "message" };
  };
  readonly heartbeat: (DescField & { fieldKind: "message" }) | undefined;
  /** What the server sends (the method's output) and its oneof of commands. */
  readonly server: {
    readonly message: DescMessage;
    readonly commandId: StringField;
    readonly oneof: DescOneof;
    /** `google.protobuf.Timestamp deadline`: when the caller stops waiting; the agent refuses a command past it. */
    readonly deadline: DescField | undefined;
    /** `string traceparent` (and optionally `string tracestate`): the command's W3C trace context. */
    readonly trace: { readonly traceparent: StringField; readonly tracestate: StringField | undefined } | undefined;
  };
  readonly welcome: { readonly member: DescField & { fieldKind: "message" }; readonly id: StringField | undefined } | undefined;
  /** `cancel`: the server telling the client to stop the command `command_id` (its caller gave up, or it timed out). */
  readonly cancel: (DescField & { fieldKind: "message" }) | undefined;
  readonly commands: readonly CommandShape[];
}

/**
 * Command names that would clash with a member of the generated command client
 * (`StreamingCommandClient`), with what every object has (`toString`, …: `String(client)` would
 * send the command), with TypeScript syntax (`new`), make an object thenable, or with the result's
 * `failure` member.
 */
const reservedCommandNames = new Set([
  ...["clientId", "service", "defaults", "mode", "send", "post", "isConnected", "close", "then", "new", "failure"],
  ...Object.getOwnPropertyNames(Object.prototype),
]);

function where(message: DescMessage, field?: DescField | DescOneof): string {
  const at = `${message.file.proto.name}: message ${message.typeName}`;
  return field === undefined ? at : `${at}, ${field.kind === "oneof" ? "oneof" : "field"} "${field.name}"`;
}

/** A plain string: singular, outside any oneof, without explicit presence (`optional`), so never undefined. */
function isString(field: DescField): field is StringField {
  return field.fieldKind === "scalar" && field.scalar === ScalarType.STRING && field.oneof === undefined && field.presence === FeatureSet_FieldPresence.IMPLICIT;
}

/** A field `name` that, when present, must be a plain string (see `stringField`). */
function optionalString(message: DescMessage, name: string, role: string): StringField | undefined {
  return message.fields.some((f) => f.name === name) ? stringField(message, name, role) : undefined;
}

function stringField(message: DescMessage, name: string, role: string): StringField {
  const field = message.fields.find((f) => f.name === name);
  if (field === undefined) throw new ConventionError(`${where(message)} needs a field "string ${name} = N;" (${role})`);
  if (!isString(field)) throw new ConventionError(`${where(message, field)} must be a singular string outside any oneof, not optional (${role})`);
  return field;
}

function onlyOneof(message: DescMessage, role: string): DescOneof {
  if (message.oneofs.length !== 1) {
    throw new ConventionError(`${where(message)} must have exactly one oneof (${role}); it has ${message.oneofs.length}`);
  }
  return message.oneofs[0]!;
}

function messageMember(oneof: DescOneof, name: string, role: string): (DescField & { fieldKind: "message" }) | undefined {
  const field = oneof.fields.find((f) => f.name === name);
  if (field === undefined) return undefined;
  if (field.fieldKind !== "message") throw new ConventionError(`${where(oneof.parent, field)} must be a message (${role})`);
  return field;
}

function requiredMember(oneof: DescOneof, name: string, role: string): DescField & { fieldKind: "message" } {
  const field = messageMember(oneof, name, role);
  if (field === undefined) throw new ConventionError(`${where(oneof.parent, oneof)} needs a member "${name}" (${role})`);
  return field;
}

/** The hello's id field: `client_id`, or else its only string field whose name ends in `_id`. */
function helloId(hello: DescMessage): StringField {
  const named = hello.fields.find((f) => f.name === "client_id");
  // Metadata and the id are plain strings; an optional one would be undefined when unset.
  if (named !== undefined) return stringField(hello, "client_id", "the client's id");
  const ids = hello.fields.filter((f): f is StringField => isString(f) && f.name.endsWith("_id"));
  if (ids.length !== 1) {
    const found = ids.length === 0 ? "none" : ids.map((f) => f.name).join(", ");
    throw new ConventionError(`${where(hello)} (the hello) needs one string field naming the client: "client_id", or a single string field ending in "_id" (found ${found})`);
  }
  return ids[0]!;
}

function bidiMethod(service: DescService): (DescMethod & { methodKind: "bidi_streaming" }) | undefined {
  const bidi = service.methods.filter((m): m is DescMethod & { methodKind: "bidi_streaming" } => m.methodKind === "bidi_streaming");
  if (bidi.length > 1) {
    throw new ConventionError(`${service.file.proto.name}: service ${service.typeName} has ${bidi.length} bidi streaming methods; streamcmd serves one per service (${bidi.map((m) => m.name).join(", ")})`);
  }
  return bidi[0];
}

/**
 * Reads the streamcmd protocol of `service`: undefined when it has no bidi streaming method
 * (nothing to generate); a `ConventionError` when its bidi method breaks a convention.
 */
export function readProtocol(service: DescService): StreamProtocol | undefined {
  const method = bidiMethod(service);
  if (method === undefined) return undefined;
  const clientMessage = method.input;
  const clientOneof = onlyOneof(clientMessage, "hello, result and the client's other messages");
  const helloMember = requiredMember(clientOneof, "hello", "the client's first message");
  const id = helloId(helloMember.message);
  const metadata = helloMember.message.fields.filter((f): f is StringField => isString(f) && f !== id);

  const resultMember = requiredMember(clientOneof, "result", "the client's answer to one command");
  const result = resultMember.message;
  const resultCommandId = stringField(result, "command_id", "the id of the command it answers");
  const replyOneof = onlyOneof(result, "one reply member per command, plus failure");
  const failure = requiredMember(replyOneof, "failure", "a failed command");
  stringField(failure.message, "code", "the failure's machine-readable code");
  stringField(failure.message, "message", "the failure's human-readable message");
  const heartbeat = messageMember(clientOneof, "heartbeat", "the client's liveness message");

  const serverMessage = method.output;
  const serverCommandId = stringField(serverMessage, "command_id", "the command's id, echoed in the result");
  const commandOneof = onlyOneof(serverMessage, "one member per command, plus an optional welcome and cancel");
  const deadline = serverMessage.fields.find((f) => f.name === "deadline");
  if (deadline !== undefined && (deadline.fieldKind !== "message" || deadline.message.typeName !== "google.protobuf.Timestamp" || deadline.oneof !== undefined)) {
    throw new ConventionError(`${where(serverMessage, deadline)} must be a google.protobuf.Timestamp outside the oneof (the command's deadline)`);
  }
  const traceparent = optionalString(serverMessage, "traceparent", "the command's W3C trace context");
  const tracestate = optionalString(serverMessage, "tracestate", "the command's W3C trace state, beside traceparent");
  if (tracestate !== undefined && traceparent === undefined) throw new ConventionError(`${where(serverMessage, tracestate)} needs "string traceparent" beside it (the W3C trace context)`);
  const welcomeMember = messageMember(commandOneof, "welcome", "the server's admission of a client");
  const welcomeId = welcomeMember?.message.fields.find((f): f is StringField => isString(f) && (f.name === id.name || f.name === "client_id"));

  const cancelMember = messageMember(commandOneof, "cancel", "the server's cancel of a command it sent: command_id says which");
  if (cancelMember !== undefined && cancelMember.message.fields.length > 0) {
    throw new ConventionError(`${where(serverMessage, cancelMember)} must be an empty message (the command_id beside it says which command to stop)`);
  }
  const commands: CommandShape[] = [];
  for (const command of commandOneof.fields) {
    if (command === welcomeMember || command === cancelMember) continue;
    if (command.fieldKind !== "message") throw new ConventionError(`${where(serverMessage, command)} must be a message (a command)`);
    if (reservedCommandNames.has(command.localName)) {
      throw new ConventionError(`${where(serverMessage, command)}: a command may not be called "${command.localName}" (a member of the generated command client); rename it`);
    }
    const reply = replyOneof.fields.find((f) => f.name === command.name);
    if (reply === undefined) {
      throw new ConventionError(`${where(result, replyOneof)} needs a member "${command.name}" (the reply to command "${command.name}" of ${serverMessage.typeName})`);
    }
    if (reply.fieldKind !== "message") throw new ConventionError(`${where(result, reply)} must be a message (the reply to command "${command.name}")`);
    commands.push({ command, reply });
  }
  if (commands.length === 0) throw new ConventionError(`${where(serverMessage, commandOneof)} has no command: add one member per command`);
  for (const reply of replyOneof.fields) {
    if (reply !== failure && !commands.some((c) => c.reply === reply)) {
      throw new ConventionError(`${where(result, reply)} answers no command: ${where(serverMessage, commandOneof)} has no member "${reply.name}"`);
    }
  }
  return {
    service,
    method,
    client: { message: clientMessage, oneof: clientOneof },
    hello: { member: helloMember, id, metadata },
    result: { member: resultMember, commandId: resultCommandId, oneof: replyOneof, failure },
    heartbeat,
    server: { message: serverMessage, commandId: serverCommandId, oneof: commandOneof, deadline, trace: traceparent === undefined ? undefined : { traceparent, tracestate } },
    welcome: welcomeMember === undefined ? undefined : { member: welcomeMember, id: welcomeId },
    cancel: cancelMember,
    commands,
  };
}
