import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";

/**
 * The machine's `nats-server` binary: `$NATS_SERVER`, on PATH, or in the system sbin folders
 * (where Debian's package puts it). Throws, saying how to get one, when there is none.
 */
export function findNatsServer(): string {
  const dirs = (process.env["PATH"] ?? "").split(delimiter).filter(Boolean);
  const candidates = [process.env["NATS_SERVER"], ...dirs.map((dir) => join(dir, "nats-server")), "/usr/sbin/nats-server", "/usr/local/sbin/nats-server"];
  const found = candidates.find((path): path is string => path !== undefined && path !== "" && existsSync(path));
  if (found !== undefined) return found;
  throw new Error(
    "no nats-server found (looked on PATH and in /usr/sbin, /usr/local/sbin): install Debian's with `apt-get install nats-server`, " +
      "run one in a container (`docker run -p 4222:4222 nats`), or set NATS_SERVER to the binary",
  );
}

/** A nats-server this process started. */
export interface NatsServer {
  /** `nats://127.0.0.1:<port>` */
  readonly url: string;
  readonly port: number;
  readonly process: ChildProcess;
  /** Stops it (SIGTERM) and waits for it to exit. */
  stop(): Promise<void>;
}

/**
 * Starts the machine's nats-server on 127.0.0.1 — on `port`, or a free one it picks — for tests,
 * benchmarks and demos that must not depend on a shared server's state. `auth`: only that user may
 * connect. `config`: configuration-file text (e.g. `ping_interval: "2s"`, so a hung client's
 * subscriptions go within seconds). Resolves once it listens.
 */
export async function startNatsServer(options: { port?: number; auth?: { user: string; pass: string }; config?: string } = {}): Promise<NatsServer> {
  const args = ["-a", "127.0.0.1", "-p", String(options.port ?? -1)];
  if (options.auth !== undefined) args.push("--user", options.auth.user, "--pass", options.auth.pass);
  if (options.config !== undefined) {
    const file = join(mkdtempSync(join(tmpdir(), "streamcmd-nats-")), "nats.conf");
    writeFileSync(file, options.config);
    args.unshift("-c", file);
  }
  const child = spawn(findNatsServer(), args, { stdio: ["ignore", "ignore", "pipe"] });
  const port = await new Promise<number>((resolve, reject) => {
    let log = "";
    const timer = setTimeout(() => reject(new Error(`nats-server did not start within 10 s: ${log.slice(-500)}`)), 10_000);
    child.once("exit", (code) => (clearTimeout(timer), reject(new Error(`nats-server exited (${code}): ${log.slice(-500)}`))));
    const read = (chunk: string): void => {
      log += chunk;
      const match = /Listening for client connections on [^:\s]+:(\d+)/.exec(log);
      if (match === null) return;
      clearTimeout(timer);
      child.stderr!.off("data", read).resume(); // keep draining its log, unread
      resolve(Number(match[1]));
    };
    child.stderr!.setEncoding("utf8").on("data", read);
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
