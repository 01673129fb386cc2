import { createRegistry, type DescMessage, type Message, type Registry } from "@bufbuild/protobuf";
import type { GenMessage } from "@bufbuild/protobuf/codegenv2";
import { InvalidArgumentError, type ServiceKey } from "@streamcmd/core";

/**
 * The protobuf message types of a service's commands and replies: what this transport needs to
 * carry them across processes (packed in `google.protobuf.Any`). They live on the service's
 * definition — `defineStreamingService({ name, binding, schemas: { command, reply } })` — so they
 * cannot be missing on one side and present on the other; the core never reads them.
 */
export interface ProtobufSchemas<TCommand, TReply> {
  readonly command: GenMessage<TCommand & Message>;
  readonly reply: GenMessage<TReply & Message>;
}

/** A service key whose definition carries its protobuf schemas. */
export type ProtobufServiceKey<TCommand, TReply> = ServiceKey<TCommand, TReply> & { readonly schemas: ProtobufSchemas<TCommand, TReply> };

function isMessageDesc(value: unknown): value is DescMessage {
  return typeof value === "object" && value !== null && (value as { kind?: unknown }).kind === "message";
}

/**
 * Whether `service` carries protobuf schemas for its command and reply (checked at run time:
 * both are message descriptors).
 */
export function hasSchemas<TCommand, TReply>(service: ServiceKey<TCommand, TReply>): service is ProtobufServiceKey<TCommand, TReply> {
  const schemas = (service as { schemas?: { command?: unknown; reply?: unknown } }).schemas;
  return isMessageDesc(schemas?.command) && isMessageDesc(schemas.reply);
}

/** The schemas of `service`, or a clear `InvalidArgumentError` saying how to add them. */
export function schemasOf<TCommand, TReply>(service: ServiceKey<TCommand, TReply>): ProtobufSchemas<TCommand, TReply> {
  if (hasSchemas(service)) return service.schemas;
  throw new InvalidArgumentError(
    `streaming service "${service.name}" has no protobuf schemas, so it cannot be reached across processes: ` +
      `define it with defineStreamingService({ name, binding, schemas: { command: YourCommandSchema, reply: YourReplySchema } })`,
    { service: service.name },
  );
}

/**
 * A type registry of the services' commands and replies, for the Connect JSON format (curl):
 * `startServer({ adapter: { jsonOptions: { registry: schemaRegistry(botService) } } })`.
 */
export function schemaRegistry(...services: ServiceKey<unknown, unknown>[]): Registry {
  return createRegistry(...services.flatMap((service) => {
    const { command, reply } = schemasOf(service);
    return [command, reply];
  }));
}
