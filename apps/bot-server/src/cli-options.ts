import { InvalidArgumentError as CommanderArgumentError } from "commander";

/** Commander parsers shared by the demo's entry points. */
export function parsePort(value: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) throw new CommanderArgumentError("a port is a whole number from 0 to 65535");
  return port;
}

export function parseCount(value: string): number {
  const count = Number(value);
  if (!Number.isInteger(count) || count < 0 || count > 10_000) throw new CommanderArgumentError("a whole number from 0 to 10000");
  return count;
}

export function parseMs(value: string): number {
  const ms = Number(value);
  if (!Number.isInteger(ms) || ms < 1) throw new CommanderArgumentError("a whole number of milliseconds, at least 1");
  return ms;
}

export const logLevels = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;

/** Runs `shutdown` once on SIGINT or SIGTERM, then exits with `code()`. */
export function onShutdownSignal(shutdown: () => Promise<void>, code: () => number = () => 0): void {
  let started = false;
  const handler = (signal: NodeJS.Signals): void => {
    if (started) return;
    started = true;
    process.stderr.write(`\n${signal}: shutting down…\n`);
    shutdown().then(
      () => process.exit(code()),
      (error: unknown) => {
        process.stderr.write(`shutdown failed: ${error instanceof Error ? error.message : String(error)}\n`);
        process.exit(1);
      },
    );
  };
  process.once("SIGINT", handler);
  process.once("SIGTERM", handler);
}
