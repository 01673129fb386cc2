// What the dashboard's event stream carries: shared by the server (src/dashboard.ts) and the page
// (dashboard/), so the two cannot drift. Types only: the page imports nothing of Node through it.

/** One row of the client list. */
export interface ClientRow {
  id: string;
  node: string;
  status: string;
  detail: string;
  connectedAt: number;
  lastSeenAt: number;
  pending: number;
  connected: boolean;
}

/** The once-a-second aggregate. */
export interface Tick {
  at: number;
  commandsPerSecond: number;
  p50Ms: number | null;
  p99Ms: number | null;
  /** Failed commands by error code, since the server started. */
  errors: Record<string, number>;
  /** The latest commands (at most 50 a second). */
  feed: { at: number; caller: string; clientId: string; outcome: string; ms: number }[];
  /** [id, last seen (ms), pending commands] of the clients whose either changed. */
  seen: [string, number, number][];
}

/** Each event of the stream, by name. */
export type ServerEvent =
  | { event: "snapshot"; data: { service: string; node: string; clients: ClientRow[] } }
  | { event: "client"; data: ClientRow }
  | { event: "tick"; data: Tick };
