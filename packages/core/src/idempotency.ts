import { QueueFullError, type CommandError, type CommandErrorCode, type CommandErrorOptions } from "./errors.js";

/**
 * Errors that mean the command never reached the client: a retry with the same key sends it (the
 * entry is forgotten). Any other outcome — a reply, a failure, a timeout, a disconnect, a
 * cancellation after it was sent — is what every retry within the window gets.
 */
const notDelivered: ReadonlySet<CommandErrorCode> = new Set(["client_not_connected", "queue_full", "service_closed", "invalid_argument", "service_not_found", "closed"]);

interface Entry<T> {
  readonly outcome: Promise<T>;
  readonly expiresAt: number;
}

/**
 * Internal: the outcomes of commands sent with an idempotency key, per client, for a window.
 * State only, no timers: expired entries are dropped as new ones come (oldest first).
 */
export class IdempotencyCache<T> {
  private readonly entries = new Map<string, Entry<T>>();

  constructor(
    private readonly windowMs: number,
    private readonly maxKeys: number,
    private readonly now: () => number,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  /**
   * The outcome of the first call with `key` for `clientId` within the window, or a new one from
   * `send` (remembered, and forgotten again if the command was never delivered). Throws
   * `QueueFullError` when `maxKeys` keys are remembered and none has expired.
   */
  run(clientId: string, key: string, send: () => Promise<T>, where: CommandErrorOptions): Promise<T> {
    const id = `${clientId}\u0000${key}`;
    const at = this.now();
    this.evict(at);
    const known = this.entries.get(id);
    if (known !== undefined && known.expiresAt > at) return known.outcome;
    if (this.entries.size >= this.maxKeys) {
      throw new QueueFullError(`${this.entries.size} idempotency keys are remembered within the last ${this.windowMs} ms (maxIdempotencyKeys); this call was not sent`, where);
    }
    const outcome = send();
    const entry = { outcome, expiresAt: at + this.windowMs };
    this.entries.set(id, entry);
    outcome.catch((error: unknown) => {
      if (notDelivered.has((error as CommandError).code) && this.entries.get(id) === entry) this.entries.delete(id);
    });
    return outcome;
  }

  private evict(at: number): void {
    for (const [id, entry] of this.entries) {
      if (entry.expiresAt > at) break; // insertion order is expiry order: the rest are younger
      this.entries.delete(id);
    }
  }
}
