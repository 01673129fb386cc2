import { pino, type Logger as PinoLogger } from "pino";

/** The demo's structured logger: JSON lines on stderr, so stdout stays for the tour and tables. */
export function createLogger(level: string, name: string): PinoLogger {
  return pino({ name, level }, pino.destination({ fd: 2, sync: true }));
}

export type { PinoLogger };
