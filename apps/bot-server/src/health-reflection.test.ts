// The README's buf curl --reflect lines, against the demo server as `./dev demo` runs it (TLS, tokens).
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, expect, it } from "vitest";
import { clearRegistry, silentLogger } from "@streamcmd/core";
import { ServingStatus } from "@streamcmd/transport-connect";
import { startFleet } from "./fleet.js";
import { startDemoServer } from "./server.js";

const closers: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
  clearRegistry();
});
const buf = fileURLToPath(new URL("../../../node_modules/.bin/buf", import.meta.url));
const bufCurl = (args: string[]) =>
  new Promise<string>((resolve, reject) =>
    execFile(buf, ["curl", ...args], { timeout: 15_000 }, (error, stdout, stderr) => (error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve(stdout))),
  );

it("the demo server answers buf curl --reflect (no .proto files) and health checks, NOT_SERVING once it closes", async () => {
  const dir = mkdtempSync(join(tmpdir(), "streamcmd-demo-"));
  closers.push(async () => rmSync(dir, { recursive: true, force: true }));
  const server = await startDemoServer({ host: "127.0.0.1", port: 0, dbPath: join(dir, "data/bots.db"), logger: silentLogger });
  closers.push(() => server.close(0));
  const fleet = startFleet({ url: server.url, dataDir: join(dir, "data"), botIds: ["bot-1"], failures: [], logger: silentLogger });
  closers.push(() => fleet.close());
  await server.hub.waitForClient("bot-1", { timeoutMs: 10_000 });
  const ca = join(dir, "data/tls/ca.pem");
  const token = readFileSync(join(dir, "data/tokens/botctl-admin.jwt"), "utf8").trim();
  // As in the README:
  const methods = await bufCurl(["--reflect", "--cacert", ca, "--list-methods", server.url]);
  expect(methods.split("\n")).toEqual(expect.arrayContaining(["streamcmd.v1.CommandRouterService/Execute", "demo.bot.v1.BotService/Connect", "grpc.health.v1.Health/Check"]));
  const listed = await bufCurl([
    "--reflect", "--cacert", ca, "-H", `Authorization: Bearer ${token}`,
    "-d", '{"service":"demo.bot.v1.BotService"}', `${server.url}/streamcmd.v1.CommandRouterService/ListClients`,
  ]);
  expect((JSON.parse(listed) as { clients: { id: string }[] }).clients.map((client) => client.id)).toEqual(["bot-1"]);
  const health = await bufCurl(["--reflect", "--cacert", ca, "-d", '{"service":""}', `${server.url}/grpc.health.v1.Health/Check`]);
  expect(JSON.parse(health)).toEqual({ status: "SERVING" });
  const closing = server.close(0);
  expect(server.server.health?.get("")).toBe(ServingStatus.NOT_SERVING);
  await closing;
});
