import { readFileSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { exportNames } from "./generate.js";
import { protoModule, runPlugin } from "./test-support/run-plugin.js";

const repo = join(dirname(fileURLToPath(import.meta.url)), "../../..");
const modules: string[] = [];
afterEach(() => {
  for (const root of modules.splice(0)) rmSync(root, { recursive: true, force: true });
});

function gateway(extra = ""): string {
  return `syntax = "proto3";
package sensor.v1;
service Gateway {
  rpc Connect(stream ConnectRequest) returns (stream ConnectResponse);
  rpc Describe(DescribeRequest) returns (DescribeResponse);
}
message DescribeRequest {}
message DescribeResponse {}
message ConnectRequest { oneof message { Hello hello = 1; Result result = 2; Heartbeat heartbeat = 3; } }
message Hello { string gateway_id = 1; string firmware = 2; int32 slots = 3; }
message Heartbeat {}
message Result { string command_id = 1; oneof reply { RebootReply reboot = 2; ReadSensorReply read_sensor = 3; Failure failure = 4; } }
message Failure { string code = 1; string message = 2; }
message ConnectResponse { string command_id = 1; oneof command { Reboot reboot = 2; ReadSensor read_sensor = 3; } }
message Reboot { uint32 delay_seconds = 1; }
message RebootReply { bool scheduled = 1; }
message ReadSensor { string sensor = 1; }
message ReadSensorReply { double value = 1; }
${extra}`;
}

function generate(source: string): string {
  const root = protoModule({ "sensor/v1/gateway.proto": source });
  modules.push(root);
  return runPlugin(root, ["sensor/v1/gateway.proto"]).get("sensor/v1/gateway_streamcmd.ts") ?? "";
}

function conventionError(source: string): string {
  try {
    generate(source);
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
  throw new Error("the plugin accepted a proto that breaks the conventions");
}

describe("protoc-gen-streamcmd", () => {
  it("generates the demo protocol exactly as committed (golden file)", () => {
    const files = runPlugin(join(repo, "proto"), ["demo/bot/v1/bot.proto"]);
    expect([...files.keys()]).toEqual(["demo/bot/v1/bot_streamcmd.ts"]);
    const committed = readFileSync(join(repo, "packages/demo-protocol/src/gen/demo/bot/v1/bot_streamcmd.ts"), "utf8");
    // A difference means the generator changed without `pnpm generate`, or the file was edited by hand.
    expect(files.get("demo/bot/v1/bot_streamcmd.ts")).toBe(committed);
  });

  it("generates one client method and one handler per command, typed by its own reply", () => {
    const code = generate(gateway());
    expect(code).toContain('name: "sensor.v1.Gateway"');
    expect(code).toContain("reboot(command?: MessageInitShape<typeof RebootSchema>, options?: CallOptions): Promise<RebootReply>;");
    expect(code).toContain("readSensor(command?: MessageInitShape<typeof ReadSensorSchema>, options?: CallOptions): Promise<ReadSensorReply>;");
    expect(code).toContain("readSensor(command: ReadSensor, context: CommandContext): MessageInitShape<typeof ReadSensorReplySchema>");
    expect(code).toContain("export function createGatewayClient(options: GatewayClientOptions): GatewayClient {");
    expect(code).toContain("export function gatewayAgent(handlers: GatewayHandlers)");
    // The hello's id field names the client; its other string fields are metadata.
    expect(code).toContain("return { clientId: hello.gatewayId, metadata };");
    expect(code).toContain('if (hello.firmware) metadata["firmware"] = hello.firmware;');
    expect(code).not.toContain("slots");
    // No welcome member: no welcome function, and the agent reports connected without one.
    expect(code).not.toContain("welcome(");
    // A welcome without an id field takes no parameter (noUnusedParameters).
    const withWelcome = generate(gateway("message Welcome {}").replace("Reboot reboot = 2;", "Welcome welcome = 9; Reboot reboot = 2;"));
    expect(withWelcome).toContain("  welcome() {");
  });

  it("a cancel member is the server's cancel, not a command: wrapCancel and readCancel, and readCommand skips it", () => {
    const code = generate(gateway("message Cancel {}").replace("Reboot reboot = 2;", "Cancel cancel = 9; Reboot reboot = 2;"));
    expect(code).toContain("  wrapCancel(commandId) {");
    expect(code).toContain('return message.command.case === "cancel" ? message.commandId : undefined;');
    expect(code).toContain('|| message.command.case === "cancel") return undefined;');
    expect(code).not.toContain("cancel(command"); // no client method, no handler
    expect(generate(gateway())).not.toContain("wrapCancel");
    const withFields = gateway("message Cancel { string why = 1; }").replace("Reboot reboot = 2;", "Cancel cancel = 9; Reboot reboot = 2;");
    expect(conventionError(withFields)).toBe('sensor/v1/gateway.proto: message sensor.v1.ConnectResponse, field "cancel" must be an empty message (the command_id beside it says which command to stop)');
  });

  it("traceparent and tracestate on the server message carry the command's trace context; tracestate alone is refused", () => {
    const traced = (fields: string) => gateway().replace("message ConnectResponse { string command_id = 1;", `message ConnectResponse { string command_id = 1; ${fields}`);
    const code = generate(traced("string traceparent = 8; string tracestate = 9;"));
    expect(code).toContain("  wrapCommand(commandId, command, _deadline, trace) {");
    expect(code).toContain('if (trace !== undefined) sent = { ...sent, traceparent: trace.traceparent, tracestate: trace.tracestate ?? "" };');
    expect(code).toContain('if (message.traceparent !== "") {');
    expect(generate(gateway())).not.toContain("trace");
    expect(conventionError(traced("string tracestate = 9;"))).toBe('sensor/v1/gateway.proto: message sensor.v1.ConnectResponse, field "tracestate" needs "string traceparent" beside it (the W3C trace context)');
    expect(conventionError(traced("int32 traceparent = 8;"))).toMatch(/field "traceparent" must be a singular string outside any oneof/);
  });

  it("names exports after the service, without a trailing Service", () => {
    expect(exportNames("BotService")).toMatchObject({ service: "botService", client: "BotClient", createClient: "createBotClient", agent: "botAgent" });
    expect(exportNames("Gateway")).toMatchObject({ service: "gatewayService", handlers: "GatewayHandlers", commands: "gatewayCommands" });
  });

  it("skips services without a bidi method and generates nothing for their files", () => {
    const root = protoModule({ "plain/v1/plain.proto": 'syntax = "proto3";\npackage plain.v1;\nservice Plain { rpc Get(GetRequest) returns (GetResponse); }\nmessage GetRequest {}\nmessage GetResponse {}\n' });
    modules.push(root);
    expect(runPlugin(root, ["plain/v1/plain.proto"]).size).toBe(0);
  });

  it("generates only the services named by the service option", () => {
    const root = protoModule({ "sensor/v1/gateway.proto": gateway() });
    modules.push(root);
    expect(() => runPlugin(root, ["sensor/v1/gateway.proto"], "target=ts,service=sensor.v1.Nope")).toThrow(
      "option service=sensor.v1.Nope: no such service in the files to generate",
    );
    expect(runPlugin(root, ["sensor/v1/gateway.proto"], "target=ts,service=sensor.v1.Gateway").size).toBe(1);
  });

  it("refuses to emit JavaScript", () => {
    const root = protoModule({ "sensor/v1/gateway.proto": gateway() });
    modules.push(root);
    expect(() => runPlugin(root, ["sensor/v1/gateway.proto"], "target=js")).toThrow("protoc-gen-streamcmd generates TypeScript only");
  });
});

describe("convention errors name the file, the message and the field", () => {
  it("a command without a reply member", () => {
    const source = gateway().replace("ReadSensorReply read_sensor = 3; ", "");
    expect(conventionError(source)).toBe(
      'sensor/v1/gateway.proto: message sensor.v1.Result, oneof "reply" needs a member "read_sensor" (the reply to command "read_sensor" of sensor.v1.ConnectResponse)',
    );
  });

  it("a reply member that answers no command", () => {
    const source = gateway("message Extra {}").replace("Failure failure = 4;", "Failure failure = 4; Extra extra = 5;");
    expect(conventionError(source)).toBe(
      'sensor/v1/gateway.proto: message sensor.v1.Result, field "extra" answers no command: sensor/v1/gateway.proto: message sensor.v1.ConnectResponse, oneof "command" has no member "extra"',
    );
  });

  it("a client message without hello", () => {
    const source = gateway().replace("Hello hello = 1;", "Hello greeting = 1;");
    expect(conventionError(source)).toBe('sensor/v1/gateway.proto: message sensor.v1.ConnectRequest, oneof "message" needs a member "hello" (the client\'s first message)');
  });

  it("a hello without an id field", () => {
    const source = gateway().replace("string gateway_id = 1;", "string name = 1;");
    expect(conventionError(source)).toContain('sensor/v1/gateway.proto: message sensor.v1.Hello (the hello) needs one string field naming the client: "client_id", or a single string field ending in "_id" (found none)');
  });

  it("a server message without command_id", () => {
    const source = gateway().replace("message ConnectResponse { string command_id = 1;", "message ConnectResponse { string id = 1;");
    expect(conventionError(source)).toBe('sensor/v1/gateway.proto: message sensor.v1.ConnectResponse needs a field "string command_id = N;" (the command\'s id, echoed in the result)');
  });

  it("a command_id that is not a string", () => {
    const source = gateway().replace("message Result { string command_id = 1;", "message Result { int64 command_id = 1;");
    expect(conventionError(source)).toBe('sensor/v1/gateway.proto: message sensor.v1.Result, field "command_id" must be a singular string outside any oneof, not optional (the id of the command it answers)');
  });

  it("a failure without code", () => {
    const source = gateway().replace("message Failure { string code = 1;", "message Failure { string reason = 1;");
    expect(conventionError(source)).toBe('sensor/v1/gateway.proto: message sensor.v1.Failure needs a field "string code = N;" (the failure\'s machine-readable code)');
  });

  it("a command that is not a message", () => {
    const source = gateway().replace("ReadSensor read_sensor = 3; } }", "ReadSensor read_sensor = 3; string note = 4; } }");
    expect(conventionError(source)).toBe('sensor/v1/gateway.proto: message sensor.v1.ConnectResponse, field "note" must be a message (a command)');
  });

  it("a command named like a member of the command client", () => {
    const source = gateway()
      .replace("ReadSensor read_sensor = 3; } }", "ReadSensor read_sensor = 3; Reboot close = 4; } }")
      .replace("Failure failure = 4;", "Failure failure = 4; RebootReply close = 5;");
    expect(conventionError(source)).toBe(
      'sensor/v1/gateway.proto: message sensor.v1.ConnectResponse, field "close": a command may not be called "close" (a member of the generated command client); rename it',
    );
  });

  it("two oneofs in the server message", () => {
    const source = gateway().replace("ReadSensor read_sensor = 3; } }", "ReadSensor read_sensor = 3; } oneof other { string x = 9; } }");
    expect(conventionError(source)).toBe(
      "sensor/v1/gateway.proto: message sensor.v1.ConnectResponse must have exactly one oneof (one member per command, plus an optional welcome and cancel); it has 2",
    );
  });

  it("two bidi methods in one service", () => {
    const source = gateway().replace("rpc Describe(", "rpc Again(stream ConnectRequest) returns (stream ConnectResponse);\n  rpc Describe(");
    expect(conventionError(source)).toBe("sensor/v1/gateway.proto: service sensor.v1.Gateway has 2 bidi streaming methods; streamcmd serves one per service (Connect, Again)");
  });

  it("an optional id or code (it could be undefined)", () => {
    const source = gateway().replace("string gateway_id = 1;", "optional string client_id = 1;");
    expect(conventionError(source)).toBe('sensor/v1/gateway.proto: message sensor.v1.Hello, field "client_id" must be a singular string outside any oneof, not optional (the client\'s id)');
  });

  it("commands named like what every object has, or like the failure member", () => {
    for (const name of ["to_string", "failure", "constructor"]) {
      const source = gateway()
        .replace("ReadSensor read_sensor = 3; } }", `ReadSensor read_sensor = 3; Reboot ${name} = 4; } }`)
        .replace("Failure failure = 4;", `Failure failure = 4; RebootReply ${name === "failure" ? "failed" : name} = 5;`);
      expect(conventionError(source)).toMatch(/field "(to_string|failure|constructor)": a command may not be called/);
    }
  });

  it("two services that would generate the same names", () => {
    const source = gateway(`service GatewayService { rpc Connect(stream ConnectRequest) returns (stream ConnectResponse); }`);
    expect(conventionError(source)).toBe(
      "sensor/v1/gateway.proto: services sensor.v1.Gateway and sensor.v1.GatewayService would both generate gatewayService: rename one, or generate one per run with service=",
    );
  });

  it("a service named by the service option without a bidi method", () => {
    const root = protoModule({ "sensor/v1/gateway.proto": gateway("service Plain { rpc Get(DescribeRequest) returns (DescribeResponse); }") });
    modules.push(root);
    expect(() => runPlugin(root, ["sensor/v1/gateway.proto"], "target=ts,service=sensor.v1.Plain")).toThrow(
      "option service=sensor.v1.Plain: sensor/v1/gateway.proto: service sensor.v1.Plain has no bidi streaming method",
    );
  });
});
