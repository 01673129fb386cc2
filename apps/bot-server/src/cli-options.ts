import type { JsonObject } from "@bufbuild/protobuf";
import { Option, InvalidArgumentError as CommanderArgumentError, type Command } from "commander";
import { defaults } from "./defaults.js";

/** A TCP port: a whole number from 0 to 65535 (0: any free port). */
export function parsePort(value: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) throw new CommanderArgumentError("a port is a whole number from 0 to 65535");
  return port;
}

/** A count of bots: a whole number from 0 to 10000. */
export function parseCount(value: string): number {
  const count = Number(value);
  if (!Number.isInteger(count) || count < 0 || count > 10_000) throw new CommanderArgumentError("a whole number from 0 to 10000");
  return count;
}

/** A duration: a whole number of milliseconds, at least 1. */
export function parseMs(value: string): number {
  const ms = Number(value);
  if (!Number.isInteger(ms) || ms < 1) throw new CommanderArgumentError("a whole number of milliseconds, at least 1");
  return ms;
}

/** A server URL: http:// or https:// with a host, e.g. http://127.0.0.1:50051. */
export function parseUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new CommanderArgumentError(`not a URL (write it in full, e.g. http://127.0.0.1:50051)`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new CommanderArgumentError("the URL must start with http:// or https://");
  return value;
}

/** The message of anything thrown. */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Whether a parsed JSON value is an object (not an array, not null). */
export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The log levels pino knows. */
export const logLevels = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;

/** Runs `shutdown` once on SIGINT or SIGTERM, then exits with `code()` (default 130, "interrupted"). */
export function onShutdownSignal(shutdown: () => Promise<void>, code: () => number = () => 130): void {
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

/** The options every entry point that runs the server shares: --host, --port, --db, --insecure, --log-level. */
export function serverOptions(command: Command, defaultLogLevel: string): Command {
  return command
    .option("--host <host>", "address to listen on", defaults.host)
    .option("--port <port>", "port to listen on (0: any free port)", parsePort, defaults.port)
    .option("--db <path>", "SQLite database file (created on first run); the credentials live in its folder", defaults.dbPath)
    .option("--insecure", "plaintext and no credentials: anyone who reaches the port owns every bot (experiments on loopback only)")
    .addOption(new Option("--log-level <level>", "log level (logs are JSON on stderr)").choices(logLevels).default(defaultLogLevel));
}
