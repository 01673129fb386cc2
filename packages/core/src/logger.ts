/**
 * The logger streamcmd writes to. Its shape is pino's (`logger.warn({ clientId }, "dropped")`), so a
 * pino logger, or anything with the same four methods, can be passed as it is. The default is silent:
 * library code never writes to the console on its own.
 */
export interface Logger {
  debug(fields: Record<string, unknown>, message: string): void;
  info(fields: Record<string, unknown>, message: string): void;
  warn(fields: Record<string, unknown>, message: string): void;
  error(fields: Record<string, unknown>, message: string): void;
}

const ignore = (): void => {};

/** A logger that drops everything; the default wherever a `logger` option is not given. */
export const silentLogger: Logger = Object.freeze({ debug: ignore, info: ignore, warn: ignore, error: ignore });
