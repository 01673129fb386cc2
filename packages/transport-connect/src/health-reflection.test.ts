import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import * as grpc from "@grpc/grpc-js";
import { afterEach, describe, expect, it } from "vitest";
import { ServingStatus } from "./index.js";
import { HealthCheckRequestSchema, HealthCheckResponseSchema, type HealthCheckResponse } from "./gen/grpc/health/v1/health_pb.js";
import * as v1 from "./gen/grpc/reflection/v1/reflection_pb.js";
import * as v1alpha from "./gen/grpc/reflection/v1alpha/reflection_pb.js";
import { testScope } from "./test-support/bot-server.js";

const scope = testScope();
afterEach(() => scope.closeAll());

/** A @grpc/grpc-js client of grpc.health.v1.Health, as probes use it. */
function grpcJsHealth(url: string) {
  const client = new grpc.Client(new URL(url).host, grpc.credentials.createInsecure());
  scope.defer(() => client.close());
  const serialize = (service: string) => Buffer.from(toBinary(HealthCheckRequestSchema, create(HealthCheckRequestSchema, { service })));
  const deserialize = (bytes: Buffer) => fromBinary(HealthCheckResponseSchema, bytes);
  return {
    check: (service: string) =>
      new Promise<HealthCheckResponse>((resolve, reject) =>
        client.makeUnaryRequest("/grpc.health.v1.Health/Check", serialize, deserialize, service, (error, response) => (error ? reject(error) : resolve(response as HealthCheckResponse))),
      ),
    watch: (service: string) => client.makeServerStreamRequest("/grpc.health.v1.Health/Watch", serialize, deserialize, service),
  };
}

describe("gRPC health checking", () => {
  it("a grpc-js health client sees SERVING for the server and its services, NOT_FOUND for another", async () => {
    const bots = await scope.server();
    const health = grpcJsHealth(bots.url);
    expect((await health.check("")).status).toBe(ServingStatus.SERVING);
    expect((await health.check("demo.bot.v1.BotService")).status).toBe(ServingStatus.SERVING);
    expect((await health.check("streamcmd.v1.CommandRouterService")).status).toBe(ServingStatus.SERVING);
    await expect(health.check("no.such.Service")).rejects.toMatchObject({ code: grpc.status.NOT_FOUND });
  });

  it("Watch sees SERVING, then NOT_SERVING as soon as the server starts closing, before its connections go", async () => {
    const bots = await scope.server();
    const seen: ServingStatus[] = [];
    const watch = grpcJsHealth(bots.url).watch("");
    watch.on("data", (response: HealthCheckResponse) => seen.push(response.status));
    watch.on("error", () => {}); // the server going away ends it
    await expect.poll(() => seen).toEqual([ServingStatus.SERVING]);
    const closing = bots.server.close({ graceMs: 2_000 });
    await expect.poll(() => seen).toEqual([ServingStatus.SERVING, ServingStatus.NOT_SERVING]);
    expect(bots.server.health?.get("")).toBe(ServingStatus.NOT_SERVING);
    watch.cancel();
    await closing;
  });

  it("the application sets a service's status; a watcher of an unknown service hears SERVICE_UNKNOWN", async () => {
    const bots = await scope.server();
    const health = grpcJsHealth(bots.url);
    bots.server.health?.set("demo.bot.v1.BotService", ServingStatus.NOT_SERVING);
    expect((await health.check("demo.bot.v1.BotService")).status).toBe(ServingStatus.NOT_SERVING);
    const seen: ServingStatus[] = [];
    const watch = health.watch("later.Service");
    watch.on("data", (response: HealthCheckResponse) => seen.push(response.status));
    watch.on("error", () => {});
    await expect.poll(() => seen).toEqual([ServingStatus.SERVICE_UNKNOWN]);
    bots.server.health?.set("later.Service", ServingStatus.SERVING);
    await expect.poll(() => seen).toEqual([ServingStatus.SERVICE_UNKNOWN, ServingStatus.SERVING]);
    watch.cancel();
  });
});

type Reflection = Client<typeof v1.ServerReflection>;
/** A request stream of the given messages. */
async function* requestsOf<T>(...messages: T[]): AsyncIterable<T> {
  yield* messages;
}
/** One request on a reflection stream of its own, and its answer. */
async function ask(client: Reflection, request: v1.ServerReflectionRequest["messageRequest"]): Promise<v1.ServerReflectionResponse> {
  for await (const response of client.serverReflectionInfo(requestsOf({ messageRequest: request }))) return response;
  throw new Error("no answer");
}

describe("gRPC server reflection", () => {
  it("is off unless asked for", async () => {
    const bots = await scope.server();
    const client = createClient(v1.ServerReflection, createGrpcTransport({ baseUrl: bots.url }));
    await expect(ask(client, { case: "listServices", value: "" })).rejects.toMatchObject({ code: 12 }); // Unimplemented
  });

  it("v1 lists the services and gives a service's file with everything it imports; an unknown symbol is NOT_FOUND", async () => {
    const bots = await scope.server({ reflection: true });
    const client = createClient(v1.ServerReflection, createGrpcTransport({ baseUrl: bots.url }));
    const listed = await ask(client, { case: "listServices", value: "" });
    expect(listed.messageResponse.case === "listServicesResponse" && listed.messageResponse.value.service.map((s) => s.name)).toEqual([
      "demo.bot.v1.BotService",
      "grpc.health.v1.Health",
      "grpc.reflection.v1.ServerReflection",
      "grpc.reflection.v1alpha.ServerReflection",
      "streamcmd.v1.CommandRouterService",
    ]);
    const files = await ask(client, { case: "fileContainingSymbol", value: "streamcmd.v1.CommandRouterService.ExecuteStream" });
    if (files.messageResponse.case !== "fileDescriptorResponse") throw new Error(`expected files, got ${files.messageResponse.case}`);
    const names = files.messageResponse.value.fileDescriptorProto.map((bytes) => fromBinary(FileDescriptorProtoSchema, bytes).name);
    expect(names[0]).toBe("streamcmd/v1/command_router.proto");
    expect(names).toEqual(expect.arrayContaining(["google/protobuf/any.proto", "google/protobuf/timestamp.proto"]));
    const unknown = await ask(client, { case: "fileContainingSymbol", value: "no.Such" });
    expect(unknown.messageResponse).toMatchObject({ case: "errorResponse", value: { errorCode: 5 } });
  });

  it("v1alpha answers the same, for older clients", async () => {
    const bots = await scope.server({ reflection: true });
    const client = createClient(v1alpha.ServerReflection, createGrpcTransport({ baseUrl: bots.url }));
    const responses: v1alpha.ServerReflectionResponse[] = [];
    for await (const response of client.serverReflectionInfo(requestsOf({ messageRequest: { case: "fileByFilename" as const, value: "demo/bot/v1/bot.proto" } }))) responses.push(response);
    expect(responses).toHaveLength(1);
    expect(responses[0]?.messageResponse.case).toBe("fileDescriptorResponse");
    expect(responses[0]?.originalRequest?.messageRequest).toEqual({ case: "fileByFilename", value: "demo/bot/v1/bot.proto" });
  });

  it("buf curl --reflect lists the router's methods and calls ListClients without the .proto files", async () => {
    const bots = await scope.server({ reflection: true });
    scope.agent(bots.url, "bot-1");
    await bots.hub.waitForClient("bot-1", { timeoutMs: 5_000 });
    const buf = fileURLToPath(new URL("../../../node_modules/.bin/buf", import.meta.url));
    const curl = (args: string[]) =>
      new Promise<string>((resolve, reject) =>
        execFile(buf, ["curl", "--reflect", "--protocol", "grpc", "--http2-prior-knowledge", ...args], { timeout: 15_000 }, (error, stdout, stderr) => (error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve(stdout))),
      );
    expect((await curl(["--list-methods", bots.url])).split("\n")).toContain("streamcmd.v1.CommandRouterService/ListClients");
    const listed = JSON.parse(await curl(["--data", JSON.stringify({ service: "demo.bot.v1.BotService" }), `${bots.url}/streamcmd.v1.CommandRouterService/ListClients`])) as { clients: { id: string }[] };
    expect(listed.clients.map((client) => client.id)).toEqual(["bot-1"]);
  });
});
