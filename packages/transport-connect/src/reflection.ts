import { create, fromBinary, toBinary, type DescExtension, type DescFile, type DescMessage, type DescService, type MessageInitShape } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { Code, type ConnectRouter } from "@connectrpc/connect";
import * as v1 from "./gen/grpc/reflection/v1/reflection_pb.js";
import * as v1alpha from "./gen/grpc/reflection/v1alpha/reflection_pb.js";

/** What the server can say about its schema: files by name, the file of each symbol, extensions by the type they extend. */
interface SchemaIndex {
  readonly services: readonly string[];
  readonly files: ReadonlyMap<string, DescFile>;
  readonly fileOfSymbol: ReadonlyMap<string, DescFile>;
  readonly extensionsOf: ReadonlyMap<string, readonly DescExtension[]>;
}

/** The files `services` are defined in and every file they import, indexed. */
function indexSchema(services: readonly DescService[]): SchemaIndex {
  const files = new Map<string, DescFile>();
  const fileOfSymbol = new Map<string, DescFile>();
  const extensionsOf = new Map<string, DescExtension[]>();
  const addExtension = (extension: DescExtension, file: DescFile): void => {
    fileOfSymbol.set(extension.typeName, file);
    extensionsOf.set(extension.extendee.typeName, [...(extensionsOf.get(extension.extendee.typeName) ?? []), extension]);
  };
  const addMessage = (message: DescMessage, file: DescFile): void => {
    fileOfSymbol.set(message.typeName, file);
    for (const nested of message.nestedMessages) addMessage(nested, file);
    for (const nested of message.nestedEnums) fileOfSymbol.set(nested.typeName, file);
    for (const extension of message.nestedExtensions) addExtension(extension, file);
  };
  const addFile = (file: DescFile): void => {
    if (files.has(file.proto.name)) return;
    files.set(file.proto.name, file);
    for (const message of file.messages) addMessage(message, file);
    for (const enumeration of file.enums) fileOfSymbol.set(enumeration.typeName, file);
    for (const extension of file.extensions) addExtension(extension, file);
    for (const service of file.services) {
      fileOfSymbol.set(service.typeName, file);
      for (const method of service.methods) fileOfSymbol.set(`${service.typeName}.${method.name}`, file);
    }
    for (const dependency of file.dependencies) addFile(dependency);
  };
  for (const service of services) addFile(service.file);
  return { services: [...new Set(services.map((service) => service.typeName))].sort(), files, fileOfSymbol, extensionsOf };
}

type Request = v1.ServerReflectionRequest;
type Answer = MessageInitShape<typeof v1.ServerReflectionResponseSchema>["messageResponse"];

/**
 * One stream's answers: a file comes with the files it imports that this stream has not been sent
 * yet (as grpc-go does), so a client asking for a service's file gets everything it needs to decode.
 */
function answerer(index: SchemaIndex): (request: Request) => Answer {
  const sent = new Set<string>();
  const withImports = (file: DescFile): Uint8Array[] => {
    const out: Uint8Array[] = [];
    const visit = (current: DescFile, requested: boolean): void => {
      if (!requested && sent.has(current.proto.name)) return;
      sent.add(current.proto.name);
      out.push(toBinary(FileDescriptorProtoSchema, current.proto));
      for (const dependency of current.dependencies) visit(dependency, false);
    };
    visit(file, true);
    return out;
  };
  const notFound = (what: string): Answer => ({ case: "errorResponse", value: { errorCode: Code.NotFound, errorMessage: `${what} not found` } });
  const files = (file: DescFile | undefined, what: string): Answer =>
    file === undefined ? notFound(what) : { case: "fileDescriptorResponse", value: { fileDescriptorProto: withImports(file) } };
  return (request) => {
    const asked = request.messageRequest;
    switch (asked.case) {
      case "listServices":
        return { case: "listServicesResponse", value: { service: index.services.map((name) => ({ name })) } };
      case "fileByFilename":
        return files(index.files.get(asked.value), `file "${asked.value}"`);
      case "fileContainingSymbol":
        return files(index.fileOfSymbol.get(asked.value), `symbol "${asked.value}"`);
      case "fileContainingExtension": {
        const { containingType, extensionNumber } = asked.value;
        const extension = index.extensionsOf.get(containingType)?.find((candidate) => candidate.number === extensionNumber);
        return files(extension === undefined ? undefined : index.fileOfSymbol.get(extension.typeName), `extension ${extensionNumber} of "${containingType}"`);
      }
      case "allExtensionNumbersOfType":
        if (!index.fileOfSymbol.has(asked.value)) return notFound(`type "${asked.value}"`);
        return { case: "allExtensionNumbersResponse", value: { baseTypeName: asked.value, extensionNumber: (index.extensionsOf.get(asked.value) ?? []).map((extension) => extension.number) } };
      default:
        return { case: "errorResponse", value: { errorCode: Code.Unimplemented, errorMessage: "unknown reflection request" } };
    }
  };
}

/**
 * Registers gRPC server reflection, v1 and v1alpha, on `router`: `grpcurl`, `buf curl --reflect` and
 * other tools list the services and fetch their schemas without the .proto files. `services` are
 * what it lists (with the two reflection services); their files and all they import can be fetched.
 * `startServer({ reflection: true })` calls it with every service the server registers.
 */
export function registerReflection(router: ConnectRouter, services: readonly DescService[]): void {
  const index = indexSchema([...services, v1.ServerReflection, v1alpha.ServerReflection]);
  router.service(v1.ServerReflection, {
    async *serverReflectionInfo(requests) {
      const answer = answerer(index);
      for await (const request of requests) {
        yield create(v1.ServerReflectionResponseSchema, { validHost: request.host, originalRequest: request, messageResponse: answer(request) });
      }
    },
  });
  router.service(v1alpha.ServerReflection, {
    async *serverReflectionInfo(requests) {
      const answer = answerer(index);
      // The two versions are the same fields under another package name: the bytes of one read as the other.
      for await (const request of requests) {
        const asV1 = fromBinary(v1.ServerReflectionRequestSchema, toBinary(v1alpha.ServerReflectionRequestSchema, request));
        const response = create(v1.ServerReflectionResponseSchema, { validHost: asV1.host, originalRequest: asV1, messageResponse: answer(asV1) });
        yield fromBinary(v1alpha.ServerReflectionResponseSchema, toBinary(v1.ServerReflectionResponseSchema, response));
      }
    },
  });
}
