// Run by cross-process.test.ts as a separate OS process, against the built packages (dist/):
// a caller with no streaming service of its own, reaching the server's bots through the router
// it installs (the server's URL comes in STREAMCMD_URL). Prints one JSON line per scenario.
import { create } from "@bufbuild/protobuf";
import { createCommandClient } from "@streamcmd/core";
import * as demoBot from "@streamcmd/demo-protocol";
import { installRemoteRouter } from "@streamcmd/transport-connect";

const uninstall = installRemoteRouter({ baseUrl: process.env.STREAMCMD_URL });
const start = demoBot.botCommands.start({ reason: "from another process" });
const client = (clientId, service = demoBot.botService) => createCommandClient(service, { clientId });
const elsewhere = { ...demoBot.botService, name: "no-such-service" };

async function outcome(run) {
  try {
    const reply = await run();
    // A CommandResult names its reply member; a typed client's reply is that member itself.
    const member = reply.reply?.value ?? reply;
    return { outcome: "reply", reply: reply.reply?.case ?? null, detail: member.detail ?? null, typeName: reply.$typeName };
  } catch (error) {
    return {
      outcome: "error",
      name: error.name,
      code: error.code,
      message: error.message,
      clientErrorCode: error.clientErrorCode,
      clientId: error.clientId,
      // Where it was raised: a ConnectError cause means it came off the wire from the server.
      causeName: error.cause?.name,
      causeCode: error.cause?.code,
      // And whose stack it carries: this script's scenario, not a timer's.
      stackHasCaller: (error.stack ?? "").includes("remote-caller.mjs"),
    };
  }
}

const scenarios = {
  mode: async () => ({ outcome: "mode", mode: client("bot-ok").mode }),
  ok: () => outcome(() => client("bot-ok").send(start)),
  // The generated typed client: resolves with the start command's own reply.
  typed: () => outcome(() => demoBot.createBotClient({ clientId: "bot-ok" }).start({ reason: "typed, from another process" })),
  failed: () => outcome(() => client("bot-failing").send(start)),
  timeout: () => outcome(() => client("bot-silent").send(start, { timeoutMs: 150 })),
  notConnected: () => outcome(() => client("ghost").send(start)),
  disconnected: () => outcome(() => client("bot-quitter").send(start)),
  queueFull: () => outcome(() => client("bot-slow-reader").send(start)),
  cancelled: () => outcome(() => client("bot-silent").send(start, { signal: AbortSignal.timeout(100), timeoutMs: 10_000 })),
  serviceNotFound: () => outcome(() => client("bot-ok", elsewhere).send(start)),
  // Refused here, before anything is sent: the command is not a ConnectResponse.
  wrongType: () => outcome(() => client("bot-ok").send(create(demoBot.HelloSchema, { botId: "not a command" }))),
  // Refused here too: an empty client id is a bad argument of this process's own call.
  emptyClientId: () => outcome(async () => createCommandClient(demoBot.botService, { clientId: "" }).send(start)),
};

for (const name of process.argv.slice(2)) {
  const result = await scenarios[name]();
  process.stdout.write(`${JSON.stringify({ scenario: name, ...result })}\n`);
}
await uninstall();
