import type { DescField } from "@bufbuild/protobuf";
import type { GeneratedFile, Printable, Schema } from "@bufbuild/protoplugin";
import { ConventionError, readProtocol, type StreamProtocol } from "./conventions.js";

/** The plugin's own options (beside protoplugin's `target`, `import_extension`, …). */
export interface StreamcmdPluginOptions {
  /** Full names of the services to generate for; empty: every service with a bidi streaming method. */
  services: readonly string[];
}

/** The names of what is generated for one service: `Gateway` → `gatewayService`, `createGatewayClient`, … */
export function exportNames(serviceName: string) {
  const base = serviceName.endsWith("Service") && serviceName !== "Service" ? serviceName.slice(0, -"Service".length) : serviceName;
  const lower = base.charAt(0).toLowerCase() + base.slice(1);
  return {
    service: `${lower}Service`,
    hubBinding: `${lower}HubBinding`,
    agentBinding: `${lower}AgentBinding`,
    commands: `${lower}Commands`,
    methods: `${base}CommandMethods`,
    client: `${base}Client`,
    clientOptions: `${base}ClientOptions`,
    createClient: `create${base}Client`,
    handlers: `${base}Handlers`,
    agent: `${lower}Agent`,
  };
}

/** Internal: generates `<file>_streamcmd.ts` for every proto file with a selected service. */
export function generateTs(schema: Schema<StreamcmdPluginOptions>): void {
  const wanted = new Set(schema.options.services);
  const seen = new Set<string>();
  for (const file of schema.files) {
    const protocols: StreamProtocol[] = [];
    const exported = new Map<string, string>();
    for (const service of file.services) {
      if (wanted.size > 0 && !wanted.has(service.typeName)) continue;
      seen.add(service.typeName);
      const protocol = readProtocol(service);
      if (protocol === undefined) {
        if (wanted.has(service.typeName)) throw new ConventionError(`option service=${service.typeName}: ${file.proto.name}: service ${service.typeName} has no bidi streaming method`);
        continue;
      }
      const name = exportNames(service.name).service;
      const clash = exported.get(name);
      if (clash !== undefined) {
        throw new ConventionError(`${file.proto.name}: services ${clash} and ${service.typeName} would both generate ${name}: rename one, or generate one per run with service=`);
      }
      exported.set(name, service.typeName);
      protocols.push(protocol);
    }
    if (protocols.length === 0) continue;
    const f = schema.generateFile(`${file.name}_streamcmd.ts`);
    f.preamble(file);
    for (const protocol of protocols) printService(f, protocol);
  }
  const missing = [...wanted].filter((name) => !seen.has(name));
  if (missing.length > 0) throw new Error(`option service=${missing.join(",")}: no such service in the files to generate`);
}

function quote(f: GeneratedFile, text: string): Printable {
  return f.string(text);
}

function printService(f: GeneratedFile, p: StreamProtocol): void {
  const n = exportNames(p.service.name);
  const core = (name: string, typeOnly = false) => f.import(name, "@streamcmd/core", typeOnly);
  const create = f.runtime.create;
  const initShape = f.import("MessageInitShape", "@bufbuild/protobuf", true);
  const [In, Out, Result] = [f.importShape(p.client.message), f.importShape(p.server.message), f.importShape(p.result.member.message)];
  const [InSchema, OutSchema, ResultSchema] = [f.importSchema(p.client.message), f.importSchema(p.server.message), f.importSchema(p.result.member.message)];
  const clientOneof = p.client.oneof.localName;
  const commandOneof = p.server.oneof.localName;
  const replyOneof = p.result.oneof.localName;
  const commandNames = p.commands.map((c) => c.command.name).join(", ");
  const clientMembers = p.client.oneof.fields.filter((m) => m !== p.result.member).map((m) => m.name).join(", ");
  const idField = p.hello.id.localName;
  const types = [In, ", ", Out, ", ", Out, ", ", Result] as const;
  const ServiceKey = core("ServiceKey", true);

  f.print(f.jsDoc(`The hub side of ${p.service.typeName}.${p.method.name}: reads the hello and results, wraps commands.`));
  f.print(f.export("const", n.hubBinding), ": ", core("StreamBinding", true), "<", ...types, "> = {");
  f.print("  identify(message) {");
  f.print("    if (message.", clientOneof, ".case !== ", quote(f, p.hello.member.localName), ") return undefined;");
  f.print("    const hello = message.", clientOneof, ".value;");
  f.print("    const metadata: Record<string, string> = {};");
  for (const field of p.hello.metadata) f.print("    if (hello.", field.localName, ") metadata[", quote(f, field.name), "] = hello.", field.localName, ";");
  f.print("    return { clientId: hello.", idField, ", metadata };");
  f.print("  },");
  const deadlineField = p.server.deadline?.localName;
  const trace = p.server.trace;
  const deadlineParam = deadlineField !== undefined ? ", deadline" : trace !== undefined ? ", _deadline" : "";
  f.print("  wrapCommand(commandId, command", deadlineParam, trace === undefined ? "" : ", trace", ") {");
  const notCommands = [p.welcome?.member, p.cancel].filter((m) => m !== undefined).map((m) => ` || command.${commandOneof}.case === ${JSON.stringify(m.localName)}`);
  const notCommand = notCommands.join("");
  f.print("    if (command.", commandOneof, ".case === undefined", notCommand, ") {");
  f.print("      throw new ", core("ProtocolError"), "(", quote(f, `a ${p.service.name} command must set one of ${commandNames}`), ");");
  f.print("    }");
  f.print("    // A copy: the caller's message may be sent again (or to many clients) with other ids.");
  f.print("    ", deadlineField === undefined && trace === undefined ? "const" : "let", " sent = { ...command, ", p.server.commandId.localName, ": commandId };");
  if (deadlineField !== undefined) f.print("    if (deadline !== undefined) sent = { ...sent, ", deadlineField, ": ", f.import("timestampFromMs", "@bufbuild/protobuf/wkt"), "(deadline) };");
  if (trace !== undefined) {
    const state = trace.tracestate === undefined ? "" : `, ${trace.tracestate.localName}: trace.tracestate ?? ""`;
    f.print("    if (trace !== undefined) sent = { ...sent, ", trace.traceparent.localName, ": trace.traceparent", state, " };");
  }
  f.print("    return ", create, "(", OutSchema, ", sent);");
  f.print("  },");
  f.print("  readReply(message) {");
  f.print("    // Anything but a result (", clientMembers, ", or a member this side does not know yet) goes to onMessage.");
  f.print("    if (message.", clientOneof, ".case !== ", quote(f, p.result.member.localName), ") return undefined;");
  f.print("    const result = message.", clientOneof, ".value;");
  f.print("    const commandId = result.", p.result.commandId.localName, ";");
  f.print("    if (result.", replyOneof, ".case === ", quote(f, p.result.failure.localName), ") {");
  f.print("      const { code, message: text } = result.", replyOneof, ".value;");
  f.print("      return { commandId, ok: false, code, message: text, reply: result };");
  f.print("    }");
  f.print("    if (result.", replyOneof, ".case === undefined) throw new ", core("ProtocolError"), "(`the result of command ${commandId} sets no reply`);");
  f.print("    return { commandId, ok: true, reply: result };");
  f.print("  },");
  if (p.welcome !== undefined) {
    const value = p.welcome.id === undefined ? "{}" : `{ ${p.welcome.id.localName}: client.clientId }`;
    f.print(p.welcome.id === undefined ? "  welcome() {" : "  welcome(client) {");
    f.print("    return ", create, "(", OutSchema, ", { ", commandOneof, ": { case: ", quote(f, p.welcome.member.localName), ", value: ", value, " } });");
    f.print("  },");
  }
  if (p.cancel !== undefined) {
    f.print("  wrapCancel(commandId) {");
    f.print("    return ", create, "(", OutSchema, ", { ", p.server.commandId.localName, ": commandId, ", commandOneof, ": { case: ", quote(f, p.cancel.localName), ", value: {} } });");
    f.print("  },");
  }
  f.print("};");
  f.print();

  f.print(f.jsDoc(`The streaming service ${p.service.typeName}: its name, hub binding and schemas, for createStreamingService,\ncreateCommandRouter, the remote router and ${n.createClient}.`));
  f.print(f.export("const", n.service), " = ", core("defineStreamingService"), "({");
  f.print("  name: ", quote(f, p.service.typeName), ",");
  f.print("  binding: ", n.hubBinding, ",");
  f.print("  schemas: { command: ", OutSchema, ", reply: ", ResultSchema, " },");
  f.print("});");
  f.print();

  const metadataInit = p.hello.metadata.map((field) => `, ${field.localName}: identity.metadata?.[${JSON.stringify(field.name)}] ?? ""`).join("");
  f.print(f.jsDoc(`The client side of ${p.service.typeName}.${p.method.name}, for connectAgent and for fake clients in tests.`));
  f.print(f.export("const", n.agentBinding), ": ", core("ClientBinding", true), "<", ...types, "> = {");
  f.print("  hello(identity) {");
  f.print("    return ", create, "(", InSchema, ", { ", clientOneof, ": { case: ", quote(f, p.hello.member.localName), ", value: { ", idField, ": identity.clientId", metadataInit, " } } });");
  f.print("  },");
  f.print("  readCommand(message) {");
  const welcomeCheck = [p.welcome?.member, p.cancel].filter((m) => m !== undefined).map((m) => ` || message.${commandOneof}.case === ${JSON.stringify(m.localName)}`).join("");
  f.print("    if (message.", p.server.commandId.localName, " === \"\"", welcomeCheck, ") return undefined;");
  if (deadlineField === undefined && trace === undefined) f.print("    return { commandId: message.", p.server.commandId.localName, ", command: message };");
  else {
    const traceType = trace === undefined ? [] : ["; trace?: ", core("TraceContext", true)];
    f.print("    let read: { commandId: string; command: typeof message; deadline?: number", ...traceType, " } = { commandId: message.", p.server.commandId.localName, ", command: message };");
  }
  if (deadlineField !== undefined) f.print("    if (message.", deadlineField, " !== undefined) read = { ...read, deadline: ", f.import("timestampMs", "@bufbuild/protobuf/wkt"), "(message.", deadlineField, ") };");
  if (trace !== undefined) {
    f.print("    if (message.", trace.traceparent.localName, " !== \"\") {");
    if (trace.tracestate === undefined) f.print("      read = { ...read, trace: { traceparent: message.", trace.traceparent.localName, " } };");
    else {
      f.print("      const tracestate = message.", trace.tracestate.localName, ";");
      f.print("      read = { ...read, trace: tracestate === \"\" ? { traceparent: message.", trace.traceparent.localName, " } : { traceparent: message.", trace.traceparent.localName, ", tracestate } };");
    }
    f.print("    }");
  }
  if (deadlineField !== undefined || trace !== undefined) f.print("    return read;");
  f.print("  },");
  if (p.cancel !== undefined) {
    f.print("  readCancel(message) {");
    f.print("    return message.", commandOneof, ".case === ", quote(f, p.cancel.localName), " ? message.", p.server.commandId.localName, " : undefined;");
    f.print("  },");
  }
  if (p.welcome !== undefined) {
    f.print("  isWelcome(message) {");
    f.print("    return message.", commandOneof, ".case === ", quote(f, p.welcome.member.localName), ";");
    f.print("  },");
  }
  f.print("  success(commandId, reply) {");
  f.print("    return ", create, "(", InSchema, ", { ", clientOneof, ": { case: ", quote(f, p.result.member.localName), ", value: { ...reply, ", p.result.commandId.localName, ": commandId } } });");
  f.print("  },");
  f.print("  failure(commandId, code, message) {");
  f.print("    const failure = { case: ", quote(f, p.result.failure.localName), " as const, value: { code, message } };");
  f.print("    return ", create, "(", InSchema, ", { ", clientOneof, ": { case: ", quote(f, p.result.member.localName), ", value: { ", p.result.commandId.localName, ": commandId, ", replyOneof, ": failure } } });");
  f.print("  },");
  if (p.heartbeat !== undefined) {
    f.print("  heartbeat() {");
    f.print("    return ", create, "(", InSchema, ", { ", clientOneof, ": { case: ", quote(f, p.heartbeat.localName), ", value: {} } });");
    f.print("  },");
  }
  f.print("};");
  f.print();

  printCommands(f, p, n, { create, initShape, Out, OutSchema });
  printClient(f, p, n, { core, initShape, Out, Result, ServiceKey });
  printAgent(f, p, n, { core, create, initShape, Out, Result, ResultSchema, types });
}

type Names = ReturnType<typeof exportNames>;
type Sym = ReturnType<GeneratedFile["import"]>;

function initOf(f: GeneratedFile, initShape: Sym, field: DescField & { fieldKind: "message" }): Printable {
  return [initShape, "<typeof ", f.importSchema(field.message), ">"];
}

function printCommands(f: GeneratedFile, p: StreamProtocol, n: Names, s: { create: Sym; initShape: Sym; Out: Sym; OutSchema: Sym }): void {
  f.print(f.jsDoc(`The commands of ${p.service.typeName}, each wrapped in a ${p.server.message.name} ready for a hub's send or broadcast.`));
  f.print(f.export("const", n.commands), " = {");
  for (const { command } of p.commands) {
    f.print(f.jsDoc(command, "  "));
    f.print("  ", command.localName, ": (command: ", initOf(f, s.initShape, command), " = {}): ", s.Out, " =>");
    f.print("    ", s.create, "(", s.OutSchema, ", { ", p.server.oneof.localName, ": { case: ", f.string(command.localName), ", value: command } }),");
  }
  f.print("};");
  f.print();
}

function printClient(f: GeneratedFile, p: StreamProtocol, n: Names, s: { core: (name: string, typeOnly?: boolean) => Sym; initShape: Sym; Out: Sym; Result: Sym; ServiceKey: Sym }): void {
  const CallOptions = s.core("CallOptions", true);
  f.print(f.jsDoc(`One method per command of ${p.service.typeName}: sends it and resolves with its own reply.`));
  f.print(f.export("interface", n.methods), " {");
  for (const { command, reply } of p.commands) {
    f.print(f.jsDoc(command, "  "));
    f.print("  ", command.localName, "(command?: ", initOf(f, s.initShape, command), ", options?: ", CallOptions, "): Promise<", f.importShape(reply.message), ">;");
  }
  f.print("}");
  f.print();
  f.print(f.jsDoc(`A command client for one ${p.service.name} client: the typed methods, plus send, post, isConnected and close.`));
  f.print(f.export("interface", n.client), " extends ", s.core("StreamingCommandClient", true), "<", s.Out, ", ", s.Result, ">, ", n.methods, " {}");
  f.print();
  f.print(f.jsDoc(`Options of ${n.createClient}.`));
  f.print(f.export("interface", n.clientOptions), " extends ", s.core("CommandClientOptions", true), " {");
  f.print("  /** A hub of this protocol to call directly (e.g. one not registered); default: routed by name. */");
  f.print("  service?: ", s.ServiceKey, "<", s.Out, ", ", s.Result, ">;");
  f.print("}");
  f.print();
  f.print(f.jsDoc(
    `Creates a typed command client for one client of ${p.service.typeName}: same-process when its hub is\n` +
      `registered here, otherwise through the remote router. A reply of another command than the one\n` +
      `sent rejects with ProtocolError; a failure with CommandFailedError.`,
  ));
  f.print(f.export("function", n.createClient), "(options: ", n.clientOptions, "): ", n.client, " {");
  f.print("  const client = ", s.core("createCommandClient"), "(options.service ?? ", n.service, ", options);");
  f.print("  const methods: ", n.methods, " = {");
  for (const { command, reply } of p.commands) {
    f.print("    async ", command.localName, "(command, callOptions) {");
    f.print("      const result = await client.send(", n.commands, ".", command.localName, "(command), callOptions);");
    f.print("      if (result.", p.result.oneof.localName, ".case === ", f.string(reply.localName), ") return result.", p.result.oneof.localName, ".value;");
    f.print("      throw new ", s.core("ProtocolError"), "(`client ${client.clientId} answered command ", command.name, " with ${result.", p.result.oneof.localName, ".case ?? \"nothing\"}`);");
    f.print("    },");
  }
  f.print("  };");
  f.print("  return ", s.core("withCommandMethods"), "(client, methods);");
  f.print("}");
  f.print();
}

function printAgent(
  f: GeneratedFile,
  p: StreamProtocol,
  n: Names,
  s: { core: (name: string, typeOnly?: boolean) => Sym; create: Sym; initShape: Sym; Out: Sym; Result: Sym; ResultSchema: Sym; types: readonly Printable[] },
): void {
  const Context = s.core("CommandContext", true);
  f.print(f.jsDoc(`What a ${p.service.name} client does with each command: one handler per command, all required.\nA throw answers with a failure (a CommandFailedError keeps its code).`));
  f.print(f.export("interface", n.handlers), " {");
  for (const { command, reply } of p.commands) {
    const init = initOf(f, s.initShape, reply);
    f.print(f.jsDoc(command, "  "));
    f.print("  ", command.localName, "(command: ", f.importShape(command.message), ", context: ", Context, "): ", init, " | Promise<", init, ">;");
  }
  f.print("}");
  f.print();
  const oneof = p.server.oneof.localName;
  f.print(f.jsDoc(`The protocol half of connectAgent's options for a ${p.service.name} client: spread it into them.`));
  f.print(f.export("function", n.agent), "(handlers: ", n.handlers, "): {");
  f.print("  method: typeof ", f.importSchema(p.service), ".method.", p.method.localName, ";");
  f.print("  binding: ", s.core("ClientBinding", true), "<", ...s.types, ">;");
  f.print("  onCommand(command: ", s.Out, ", context: ", Context, "): Promise<", s.Result, ">;");
  f.print("} {");
  f.print("  return {");
  f.print("    method: ", f.importSchema(p.service), ".method.", p.method.localName, ",");
  f.print("    binding: ", n.agentBinding, ",");
  f.print("    async onCommand(command, context) {");
  f.print("      switch (command.", oneof, ".case) {");
  for (const { command, reply } of p.commands) {
    f.print("        case ", f.string(command.localName), ":");
    f.print("          return ", s.create, "(", s.ResultSchema, ", { ", p.result.oneof.localName, ": { case: ", f.string(reply.localName), ", value: await handlers.", command.localName, "(command.", oneof, ".value, context) } });");
  }
  f.print("      }");
  f.print("      throw new ", s.core("CommandFailedError"), "(\"unknown_command\", `this client does not know command ${command.", oneof, ".case ?? \"(a newer one)\"}`);");
  f.print("    },");
  f.print("  };");
  f.print("}");
  f.print();
}
