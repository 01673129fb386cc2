// Run by faults.test.ts as a separate OS process, against the built packages (dist/), so a test can
// SIGSTOP / SIGCONT / kill it: a demo bot that prints "connected" once admitted and "executed <command>"
// for every command its handlers run (a start whose reason begins with "hang" never finishes).
// Arguments: the server's URL and the bot's id.
import { BotStatus, botAgent } from "@streamcmd/demo-protocol";
import { connectAgent } from "@streamcmd/transport-connect";

const [url, botId] = process.argv.slice(2);
const ran = (what) => {
  console.log(`executed ${what}`);
  return { status: BotStatus.RUNNING, detail: what };
};
const agent = connectAgent({
  baseUrl: url,
  clientId: botId,
  heartbeatIntervalMs: 200,
  reconnect: { initialDelayMs: 50, maxDelayMs: 200 },
  ...botAgent({
    start: ({ reason }) => (reason.startsWith("hang") ? new Promise(() => console.log(`executing start ${reason}`)) : ran(`start ${reason}`)),
    stop: ({ reason }) => ran(`stop ${reason}`),
    configUpdate: () => ran("configUpdate"),
    ping: () => ({ status: BotStatus.RUNNING, version: "agent-process" }),
  }),
});
agent.on("connected", () => console.log("connected"));
