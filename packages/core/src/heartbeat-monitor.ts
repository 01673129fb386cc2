/** Options of `HeartbeatMonitor`. */
export interface HeartbeatMonitorOptions<C> {
  /** A client silent for longer than this is reported; 0 turns the monitor off. */
  timeoutMs: number;
  now: () => number;
  /** The connections to watch, each with the time it was last heard from. */
  connections: () => Iterable<C>;
  lastSeenAt: (connection: C) => number;
  /** Called for each connection found silent for too long. */
  onSilent: (connection: C) => void;
}

/**
 * Internal: sweeps the connections on an interval (a quarter of the timeout, between 10 ms and
 * 1 s) and reports the silent ones. It runs only while there is something to watch, and never
 * keeps the process alive on its own.
 */
export class HeartbeatMonitor<C> {
  private timer: ReturnType<typeof setInterval> | undefined;

  constructor(private readonly options: HeartbeatMonitorOptions<C>) {}

  get running(): boolean {
    return this.timer !== undefined;
  }

  /** Starts sweeping, if enabled and not running already. */
  start(): void {
    const { timeoutMs } = this.options;
    if (timeoutMs === 0 || this.timer !== undefined) return;
    const every = Math.max(10, Math.min(1_000, Math.floor(timeoutMs / 4)));
    this.timer = setInterval(() => this.sweep(), every);
    (this.timer as { unref?: () => void }).unref?.();
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One pass: reports every connection last heard from before now − timeout. */
  sweep(): void {
    const { timeoutMs, now, connections, lastSeenAt, onSilent } = this.options;
    const deadline = now() - timeoutMs;
    for (const connection of [...connections()]) if (lastSeenAt(connection) < deadline) onSilent(connection);
  }
}
