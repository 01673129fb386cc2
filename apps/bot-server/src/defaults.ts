/** Where the demo listens and keeps its data unless told otherwise. */
export const defaults = {
  host: "127.0.0.1",
  port: 50051,
  dbPath: "./data/bots.db",
  bots: 3,
} as const;

/** The URL of the demo server: `STREAMCMD_URL`, or the default address (TLS; plaintext with --insecure). */
export function defaultUrl(insecure = false): string {
  return process.env["STREAMCMD_URL"] || `${insecure ? "http" : "https"}://${defaults.host}:${defaults.port}`;
}

/** Said on stderr whenever the demo runs without TLS and credentials. */
export const insecureWarning =
  "WARNING: --insecure: plaintext, no credentials. Anyone who can reach the port can read every command, impersonate any bot and command every bot. For experiments on loopback only.";
