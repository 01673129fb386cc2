// Internal test support (not built, not exported): a nats-server of the machine's own, started on a
// free port for one test file and stopped after it, so no test depends on a shared server's state.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";

/** The `nats-server` binary: $NATS_SERVER, on PATH, or in the system sbin folders (Debian's package). */
export function findNatsServer(): string {
  const candidates = [
    ...(process.env.NATS_SERVER ? [process.env.NATS_SERVER] : []),
    ...(process.env.PATH ?? "").split(delimiter).filter(Boolean).map((dir) => join(dir, "nats-server")),
    "/usr/sbin/nats-server",
    "/usr/local/sbin/nats-server",
    "/usr/local/bin/nats-server",
  ];
  const found = candidates.find((path) => existsSync(path));
  if (found === undefined) {
    throw new Error("nats-server not found (looked on PATH and in /usr/sbin, /usr/local/sbin): install it with `apt-get install nats-server` (Debian), or set NATS_SERVER to its path");
  }
  return found;
}

export interface NatsServer {
  /** `nats://127.0.0.1:<port>` */
  readonly url: string;
  readonly port: number;
  readonly process: ChildProcess;
  /** Stops it (SIGTERM) and waits for it to exit. */
  stop(): Promise<void>;
}

/**
 * Starts a nats-server on 127.0.0.1: on `port`, or a free one it picks (read from its log); with
 * `auth`, only that user may connect; `config` is extra configuration-file text (e.g. `ping_interval`).
 */
export async function startNatsServer(options: { port?: number; auth?: { user: string; pass: string }; config?: string } = {}): Promise<NatsServer> {
  const auth = options.auth === undefined ? [] : ["--user", options.auth.user, "--pass", options.auth.pass];
  const config: string[] = [];
  if (options.config !== undefined) {
    const file = join(mkdtempSync(join(tmpdir(), "nats-")), "nats.conf");
    writeFileSync(file, options.config);
    config.push("-c", file);
  }
  const child = spawn(findNatsServer(), [...config, "-a", "127.0.0.1", "-p", String(options.port ?? -1), ...auth], { stdio: ["ignore", "ignore", "pipe"] });
  const port = await new Promise<number>((resolve, reject) => {
    let log = "";
    const timer = setTimeout(() => reject(new Error(`nats-server did not start within 10 s:\n${log}`)), 10_000);
    child.once("exit", (code) => reject(new Error(`nats-server exited (${code}):\n${log}`)));
    child.stderr!.setEncoding("utf8").on("data", (chunk: string) => {
      log += chunk;
      const match = /Listening for client connections on [^:\s]+:(\d+)/.exec(log);
      if (match !== null) {
        clearTimeout(timer);
        resolve(Number(match[1]));
      }
    });
  });
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    process: child,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      await exited;
    },
  };
}
