// GET /metrics on the demo server (TLS, tokens), as the README shows it with curl: the counters move.
import * as https from "node:https";
import { afterEach, expect, it } from "vitest";
import { botCommands, botService } from "@streamcmd/demo-protocol";
import { createRemoteRouter } from "@streamcmd/transport-connect";
import { demoScope } from "./test-support/demo.js";

const demos = demoScope();
afterEach(() => demos.closeAll());

/** GET over HTTPS (HTTP/1.1, as curl does), trusting `ca`. */
function get(url: string, ca: string): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    https
      .get(url, { ca }, (response) => {
        let body = "";
        response.setEncoding("utf8").on("data", (chunk: string) => (body += chunk));
        response.on("end", () => resolve({ status: response.statusCode ?? 0, type: String(response.headers["content-type"]), body }));
      })
      .on("error", reject);
  });
}

/** A sample's value in Prometheus text: the line that starts with `series`. */
function sample(text: string, series: string): number | undefined {
  const line = text.split("\n").find((candidate) => candidate.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

it("GET /metrics shows clients, commands by outcome, round trips and router calls moving", async () => {
  const { server, ca, token, bots } = await demos.start(["bot-1"]);
  const service = 'service="demo.bot.v1.BotService"';

  const before = await get(`${server.url}/metrics`, ca);
  expect(before.status).toBe(200);
  expect(before.type).toMatch(/^text\/plain; version=0\.0\.4/);
  expect(sample(before.body, `streamcmd_connected_clients{${service}}`)).toBe(1);
  expect(sample(before.body, `streamcmd_client_connects_total{${service}}`)).toBe(1);

  await server.hub.send("bot-1", botCommands.ping({}));
  await server.hub.send("absent", botCommands.ping({})).catch(() => {});
  const router = createRemoteRouter({ baseUrl: server.url, tls: { ca }, token });
  demos.defer(() => router.close());
  // Straight through the router (a client in this process would take the hub's fast path).
  await router.execute(botService, { clientId: "bot-1", command: botCommands.ping({}), timeoutMs: 5_000, waitForConnectMs: 0, queueTimeoutMs: 0 });

  const after = (await get(`${server.url}/metrics`, ca)).body;
  expect(sample(after, `streamcmd_commands_total{${service},outcome="ok"}`)).toBe(2);
  expect(sample(after, `streamcmd_commands_total{${service},outcome="client_not_connected"}`)).toBe(1);
  expect(sample(after, `streamcmd_command_duration_seconds_count{${service}}`)).toBe(3);
  expect(sample(after, `streamcmd_pending_commands{${service}}`)).toBe(0);
  expect(after).toMatch(/^streamcmd_router_calls_total\{caller="[^"]+",action="execute",outcome="ok"\} 1$/m);
  expect(sample(after, "streamcmd_process_resident_memory_bytes")).toBeGreaterThan(0);
  expect((await get(`${server.url}/nothing-here`, ca)).status).toBe(404);

  await bots.close();
  await expect.poll(async () => sample((await get(`${server.url}/metrics`, ca)).body, `streamcmd_connected_clients{${service}}`)).toBe(0);
  expect((await get(`${server.url}/metrics`, ca)).body).toMatch(/^streamcmd_client_disconnects_total\{service="demo\.bot\.v1\.BotService",reason="[a-z_]+"\} 1$/m);
});
