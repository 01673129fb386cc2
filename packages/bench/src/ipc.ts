import { fork, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";

/** Internal: parent ⇄ worker messages over Node's IPC channel. */
export interface Request {
  id: number;
  op: string;
  args: Record<string, unknown>;
}

export interface Worker {
  readonly child: ChildProcess;
  call<T = unknown>(op: string, args?: Record<string, unknown>): Promise<T>;
  stop(): Promise<void>;
}

const workerScript = fileURLToPath(new URL("./worker.js", import.meta.url));

/** Starts a worker process in `role`; resolves once it said it is ready (with what it reported). */
export async function startWorker(role: string, args: Record<string, unknown>, nodeArgs: string[] = []): Promise<{ worker: Worker; info: Record<string, unknown> }> {
  const child = fork(workerScript, [role, JSON.stringify(args)], { execArgv: ["--expose-gc", ...nodeArgs], stdio: ["ignore", "inherit", "inherit", "ipc"] });
  let nextId = 1;
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  let readyResolve!: (info: Record<string, unknown>) => void;
  let readyReject!: (error: Error) => void;
  const ready = new Promise<Record<string, unknown>>((resolve, reject) => {
    readyResolve = resolve;
    readyReject = reject;
  });
  child.on("message", (message: { type: string; id?: number; value?: unknown; error?: string; info?: Record<string, unknown> }) => {
    if (message.type === "ready") readyResolve(message.info ?? {});
    else if (message.type === "failed") readyReject(new Error(`${role}: ${message.error}`));
    else if (message.id !== undefined) {
      const entry = pending.get(message.id);
      pending.delete(message.id);
      if (message.type === "result") entry?.resolve(message.value);
      else entry?.reject(new Error(`${role}: ${message.error}`));
    }
  });
  child.once("exit", (code) => {
    readyReject(new Error(`${role} exited with ${code}`));
    for (const entry of pending.values()) entry.reject(new Error(`${role} exited with ${code}`));
  });
  const info = await ready;
  const worker: Worker = {
    child,
    call<T>(op: string, callArgs: Record<string, unknown> = {}) {
      const id = nextId++;
      return new Promise<T>((resolve, reject) => {
        pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
        child.send({ id, op, args: callArgs } satisfies Request);
      });
    },
    async stop() {
      if (child.exitCode !== null) return;
      child.kill("SIGTERM");
      await new Promise((resolve) => child.once("exit", resolve));
    },
  };
  return { worker, info };
}

/** Worker side: reports ready, then answers requests with `handlers`. */
export function serveWorker(info: Record<string, unknown>, handlers: Record<string, (args: Record<string, unknown>) => Promise<unknown>>): void {
  process.on("message", (request: Request) => {
    const handler = handlers[request.op];
    if (handler === undefined) {
      process.send?.({ type: "error", id: request.id, error: `no op ${request.op}` });
      return;
    }
    handler(request.args).then(
      (value) => process.send?.({ type: "result", id: request.id, value }),
      (error: unknown) => process.send?.({ type: "error", id: request.id, error: error instanceof Error ? error.stack ?? error.message : String(error) }),
    );
  });
  process.send?.({ type: "ready", info });
}
