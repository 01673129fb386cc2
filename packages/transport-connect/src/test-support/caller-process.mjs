// Run by faults.test.ts as a separate OS process, against the built packages (dist/), so a test can
// kill -9 it mid-command: sends `count` commands (a minute's timeout each) to `clientId` through the
// router at `url`, prints "sent" once they are on their way, and waits.
import { createCommandClient } from "@streamcmd/core";
import { botCommands, botService } from "@streamcmd/demo-protocol";
import { createRemoteRouter } from "@streamcmd/transport-connect";

const [url, clientId, count, executeVia] = process.argv.slice(2);
const router = createRemoteRouter({ baseUrl: url, executeVia });
const client = createCommandClient(botService, { clientId, router, defaultTimeoutMs: 60_000 });
for (let i = 0; i < Number(count); i++) void client.send(botCommands.start({ reason: `call ${i}` })).catch(() => {});
console.log("sent");
