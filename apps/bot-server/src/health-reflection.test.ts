// The README's buf curl --reflect lines, against the demo server as `./dev demo` runs it (TLS, tokens).
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterEach, expect, it } from "vitest";
import { ServingStatus } from "@streamcmd/transport-connect";
import { demoScope } from "./test-support/demo.js";

const demos = demoScope();
afterEach(() => demos.closeAll());
const buf = fileURLToPath(new URL("../../../node_modules/.bin/buf", import.meta.url));
const bufCurl = (args: string[]) =>
  new Promise<string>((resolve, reject) =>
    execFile(buf, ["curl", ...args], { timeout: 15_000 }, (error, stdout, stderr) => (error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve(stdout))),
  );

it("the demo server answers buf curl --reflect (no .proto files) and health checks, NOT_SERVING once it closes", async () => {
  const { server, caPath: ca, token } = await demos.start(["bot-1"]);
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
