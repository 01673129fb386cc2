// Internal test support (not built): the demo server as `./dev demo` runs it (TLS, tokens, SQLite in a
// temporary folder) with a simulated fleet, and everything closed after each test.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { clearRegistry, silentLogger } from "@streamcmd/core";
import { parseFailure, startFleet } from "../fleet.js";
import { startDemoServer, type DemoServer } from "../server.js";

/** A started demo: its server, its folder, and the credentials it made there. */
export interface TestDemo {
  server: DemoServer;
  dir: string;
  dbPath: string;
  /** The admin caller token (data/tokens/botctl-admin.jwt). */
  token: string;
  /** The CA that issued the server's certificate (PEM) and its path. */
  ca: string;
  caPath: string;
  /** The simulated bots the demo started with. */
  bots: ReturnType<typeof startFleet>;
  /** Starts more simulated bots (closed after the test). */
  fleet(botIds: string[]): ReturnType<typeof startFleet>;
}

/** Demos started in a test, closed (and the registry cleared) by `closeAll`: call it in afterEach. */
export function demoScope() {
  const closers: (() => Promise<unknown>)[] = [];
  return {
    defer(close: () => Promise<unknown>): void {
      closers.push(close);
    },
    /** A demo server with `botIds` connected (`failures`: `--fail` specs, e.g. "bot-2:start:margin_call"). */
    async start(botIds: string[], failures: string[] = []): Promise<TestDemo> {
      const dir = mkdtempSync(join(tmpdir(), "streamcmd-demo-"));
      closers.push(async () => rmSync(dir, { recursive: true, force: true }));
      const dbPath = join(dir, "data/bots.db");
      const server = await startDemoServer({ host: "127.0.0.1", port: 0, dbPath, logger: silentLogger });
      closers.push(() => server.close(0));
      const fleet = (ids: string[], fails: string[] = []) => {
        const started = startFleet({ url: server.url, dataDir: join(dir, "data"), botIds: ids, failures: fails.map(parseFailure), logger: silentLogger });
        closers.push(() => started.close());
        return started;
      };
      const bots = fleet(botIds, failures);
      for (const id of botIds) await server.hub.waitForClient(id, { timeoutMs: 10_000 });
      const caPath = join(dir, "data/tls/ca.pem");
      const token = readFileSync(join(dir, "data/tokens/botctl-admin.jwt"), "utf8").trim();
      return { server, dir, dbPath, token, ca: readFileSync(caPath, "utf8"), caPath, bots, fleet: (ids) => fleet(ids) };
    },
    async closeAll(): Promise<void> {
      for (const close of closers.splice(0).reverse()) await close();
      clearRegistry();
    },
  };
}
