/** Where the demo listens and keeps its data unless told otherwise. */
export const defaults = {
  host: "127.0.0.1",
  port: 50051,
  dbPath: "./data/bots.db",
  bots: 3,
} as const;

/** The URL of the demo server: `STREAMCMD_URL`, or the default address. */
export function defaultUrl(): string {
  return process.env["STREAMCMD_URL"] || `http://${defaults.host}:${defaults.port}`;
}
