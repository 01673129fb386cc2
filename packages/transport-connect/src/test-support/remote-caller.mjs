// Run by cross-process.test.ts as a separate OS process, against the built packages (dist/):
// a caller with no streaming service of its own, reaching the server's bots through STREAMCMD_URL.
// Prints one JSON line per scenario.
import { create } from "@bufbuild/protobuf";
import { createCommandClient } from "@streamcmd/core";
import * as demoBot from "@streamcmd/demo-protocol";
import { installRemoteRouter } from "@streamcmd/transport-connect";

const uninstall = installRemoteRouter({
  schemas: [demoBot.ConnectResponseSchema, demoBot.CommandResultSchema, demoBot.HelloSchema],
});
const start = create(demoBot.ConnectResponseSchema, { command: { case: "start", value: { reason: "from another process" } } });
const client = (clientId, service = "bots") => createCommandClient({ clientId, service });

async function outcome(run) {
  try {
    const reply = await run();
    return { outcome: "reply", detail: reply.outcome?.value?.detail ?? null, typeName: reply.$typeName };
  } catch (error) {
    return {
      outcome: "error",
      name: error.name,
      code: error.code,
      message: error.message,
      clientErrorCode: error.clientErrorCode,
      clientId: error.clientId,
      causeName: error.cause?.name,
    };
  }
}

const scenarios = {
  mode: async () => ({ outcome: "mode", mode: client("bot-ok").mode }),
  ok: () => outcome(() => client("bot-ok").send(start)),
  failed: () => outcome(() => client("bot-failing").send(start)),
  timeout: () => outcome(() => client("bot-silent").send(start, { timeoutMs: 150 })),
  notConnected: () => outcome(() => client("ghost").send(start)),
  disconnected: () => outcome(() => client("bot-quitter").send(start)),
  queueFull: () => outcome(() => client("bot-slow-reader").send(start)),
  cancelled: () => outcome(() => client("bot-silent").send(start, { signal: AbortSignal.timeout(100), timeoutMs: 10_000 })),
  serviceNotFound: () => outcome(() => client("bot-ok", "no-such-service").send(start)),
  wrongType: () =>
    outcome(() => client("bot-ok").send(create(demoBot.HelloSchema, { botId: "not a command" }))),
  emptyClientId: () => outcome(() => createCommandClient({ clientId: "x", service: "bots" }).send(start, { waitForConnectMs: -1 })),
};

for (const name of process.argv.slice(2)) {
  const result = await scenarios[name]();
  process.stdout.write(`${JSON.stringify({ scenario: name, ...result })}\n`);
}
await uninstall();
