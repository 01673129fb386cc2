import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";

/** The machine's `nats-server`: $NATS_SERVER, on PATH, or in the system sbin folders (Debian's package). */
export function findNatsServer(): string {
  const dirs = (process.env["PATH"] ?? "").split(delimiter).filter(Boolean);
  const candidates = [process.env["NATS_SERVER"], ...dirs.map((dir) => join(dir, "nats-server")), "/usr/sbin/nats-server", "/usr/local/sbin/nats-server"];
  const found = candidates.find((path): path is string => path !== undefined && existsSync(path));
  if (found !== undefined) return found;
  throw new Error(
    "the cluster demo needs a NATS server and none was found (looked on PATH and in /usr/sbin, /usr/local/sbin): " +
      "install Debian's with `apt-get install nats-server`, run one in a container (`docker run -p 4222:4222 nats`) and pass --nats nats://127.0.0.1:4222, " +
      "or set NATS_SERVER to the binary. The single-node demo (./dev demo) needs no NATS.",
  );
}

/** Starts the machine's nats-server on 127.0.0.1 and a free port; resolves with its URL once it listens. */
export async function startNatsServer(): Promise<{ url: string; process: ChildProcess }> {
  // A hung node's connection (and its subscriptions) is dropped after two unanswered pings, two seconds apart.
  const config = join(mkdtempSync(join(tmpdir(), "streamcmd-nats-")), "nats.conf");
  writeFileSync(config, 'ping_interval: "2s"\nping_max: 2\n');
  const child = spawn(findNatsServer(), ["-c", config, "-a", "127.0.0.1", "-p", "-1"], { stdio: ["ignore", "ignore", "pipe"] });
  const port = await new Promise<number>((resolve, reject) => {
    let log = "";
    child.once("exit", (code) => reject(new Error(`nats-server exited (${code}): ${log.slice(-500)}`)));
    const read = (chunk: string): void => {
      log += chunk;
      const match = /Listening for client connections on [^:\s]+:(\d+)/.exec(log);
      if (match === null) return;
      child.stderr!.off("data", read).resume(); // keep draining its log, unread
      resolve(Number(match[1]));
    };
    child.stderr!.setEncoding("utf8").on("data", read);
  });
  return { url: `nats://127.0.0.1:${port}`, process: child };
}
