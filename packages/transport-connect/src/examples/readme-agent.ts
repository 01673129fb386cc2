import { connectAgent } from "@streamcmd/transport-connect";
import { botAgent, BotStatus } from "@streamcmd/demo-protocol";

export function runBot(options: { baseUrl: string; ca: string; botId: string; token: string }) {
  const { botId } = options;
  return connectAgent({
    baseUrl: options.baseUrl, // https://…
    tls: { ca: options.ca }, // the CA that issued the server's certificate
    token: options.token, // sub = botId, aud = botService.name ("demo.bot.v1.BotService"); a function here can hand out a fresh one on each reconnect
    clientId: botId,
    metadata: { version: "1.0.0" },
    // The generated protocol half: the bidi method, the binding (hello, welcome, results, heartbeats) and
    // a dispatcher to one handler per command; a missing handler does not compile.
    ...botAgent({
      start: ({ reason }) => ({ status: BotStatus.RUNNING, detail: `${botId} started: ${reason}` }),
      stop: ({ graceful }) => ({ status: BotStatus.STOPPED, detail: graceful ? "closed positions" : "halted" }),
      configUpdate: ({ fieldPaths }) => ({ status: BotStatus.RUNNING, detail: `applied ${fieldPaths.length || "all"} fields` }),
      ping: () => ({ status: BotStatus.RUNNING, version: "1.0.0" }),
    }),
    heartbeatIntervalMs: 5_000,
    reconnect: { initialDelayMs: 200, maxDelayMs: 10_000, jitter: 0.2 },
  });
}
