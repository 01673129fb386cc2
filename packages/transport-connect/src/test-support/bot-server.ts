// Internal test support (not built, not exported): a demo bot server and agents over real HTTP/2.
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { createStreamingService, type StreamingServiceOf, type StreamingServiceOptions } from "@streamcmd/core";
import * as demoBot from "@streamcmd/demo-protocol";
import { botAgentBinding, botService } from "@streamcmd/demo-protocol";
import {
  connectAgent,
  createCommandRouter,
  createStreamHandler,
  startServer,
  CommandRouterService,
  type Agent,
  type AgentOptions,
  type CommandRouterOptions,
  type RunningServer,
} from "../index.js";

type BotHub = StreamingServiceOf<typeof botService>;

export interface BotServer {
  hub: BotHub;
  server: RunningServer;
  url: string;
  close(): Promise<void>;
}

export async function startBotServer(
  options: {
    hub?: BotHub;
    serviceOptions?: StreamingServiceOptions;
    routerOptions?: Omit<CommandRouterOptions, "services">;
    readMaxBytes?: number;
    port?: number;
    /** startServer's `leanStreams` (default true): false serves every stream through connect-node. */
    leanStreams?: boolean;
    /** startServer's `reflection` (default false). */
    reflection?: boolean;
  } = {},
): Promise<BotServer> {
  const hub = options.hub ?? createStreamingService(botService, options.serviceOptions);
  // Plaintext on loopback and no credentials: these tests are about commands, not security (see security.test.ts).
  const server = await startServer({
    ...(options.port !== undefined ? { port: options.port } : {}),
    ...(options.readMaxBytes !== undefined ? { readMaxBytes: options.readMaxBytes } : {}),
    ...(options.leanStreams !== undefined ? { leanStreams: options.leanStreams } : {}),
    ...(options.reflection !== undefined ? { reflection: options.reflection } : {}),
    routes(router) {
      router.service(demoBot.BotService, { connect: createStreamHandler(hub, { allowUnauthenticated: true }) });
      router.service(CommandRouterService, createCommandRouter({ allowUnauthenticated: true, ...options.routerOptions, services: [hub] }));
    },
  });
  return {
    hub,
    server,
    url: server.url,
    async close() {
      await hub.close();
      await server.close({ graceMs: 0 });
    },
  };
}

/**
 * A reply naming what was done (`bot-1:start:why`), so tests can check each command got its own
 * answer: the command's own reply member, RUNNING (STOPPED after stop). A ping's reply has no
 * detail, so its version carries the note.
 */
export function resultFor(command: demoBot.ConnectResponse, botId: string): demoBot.CommandResult {
  const what = command.command.case === "start" ? `start:${command.command.value.reason}` : (command.command.case ?? "none");
  const detail = `${botId}:${what}`;
  const { RUNNING, STOPPED } = demoBot.BotStatus;
  const result = (reply: MessageInitShape<typeof demoBot.CommandResultSchema>["reply"]) =>
    create(demoBot.CommandResultSchema, { commandId: command.commandId, reply });
  switch (command.command.case) {
    case "start":
      return result({ case: "start", value: { status: RUNNING, detail } });
    case "stop":
      return result({ case: "stop", value: { status: STOPPED, detail } });
    case "configUpdate":
      return result({ case: "configUpdate", value: { status: RUNNING, detail } });
    case "ping":
      return result({ case: "ping", value: { status: RUNNING, version: detail } });
    default:
      return result({ case: "failure", value: { code: "unknown_command", message: detail } });
  }
}

export function startCommand(reason: string): demoBot.ConnectResponse {
  return demoBot.botCommands.start({ reason });
}

export function startAgent(
  url: string | readonly string[],
  botId: string,
  overrides: Partial<AgentOptions<typeof demoBot.ConnectRequestSchema, typeof demoBot.ConnectResponseSchema, demoBot.ConnectResponse, demoBot.CommandResult>> = {},
): Agent {
  return connectAgent({
    baseUrl: url,
    method: demoBot.BotService.method.connect,
    clientId: botId,
    metadata: { version: "test" },
    binding: botAgentBinding,
    onCommand: (command) => resultFor(command, botId),
    heartbeatIntervalMs: 0,
    reconnect: { initialDelayMs: 20, maxDelayMs: 200, jitter: 0.1 },
    ...overrides,
  });
}

/** What a test opened, closed after it (newest first): servers, agents, anything with a close. */
export function testScope() {
  const closers: (() => unknown)[] = [];
  return {
    defer(close: () => unknown): void {
      closers.push(close);
    },
    async server(options: Parameters<typeof startBotServer>[0] = {}): Promise<BotServer> {
      const started = await startBotServer(options);
      closers.push(() => started.close());
      return started;
    },
    agent(...args: Parameters<typeof startAgent>): Agent {
      const started = startAgent(...args);
      closers.push(() => started.close());
      return started;
    },
    async closeAll(): Promise<void> {
      for (const close of closers.splice(0).reverse()) await close();
    },
  };
}
