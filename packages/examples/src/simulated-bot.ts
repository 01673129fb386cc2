import { create, type JsonObject, type JsonValue, type MessageInitShape } from "@bufbuild/protobuf";
import { CommandFailedError, type CommandContext } from "@streamcmd/core";
import { delay } from "@streamcmd/core/internal";
import {
  BotStatus,
  ConfigUpdateReplySchema,
  PingReplySchema,
  StartReplySchema,
  StopReplySchema,
  type BotHandlers,
  type ConfigUpdateReply,
  type ConfigUpdateSchema,
  type PingReply,
  type PingSchema,
  type StartReply,
  type StartSchema,
  type StopReply,
  type StopSchema,
} from "@streamcmd/demo-protocol";
import { applyFieldPaths } from "./field-paths.js";

/** How long a simulated bot takes, in ms. */
export interface SimulatedTiming {
  /** Connecting to the exchange and loading strategies. Default 400. */
  startMs: number;
  /** Closing one open order during a graceful stop. Default 120. */
  perOrderMs: number;
  /** A forced stop: cancel everything, leave at once. Default 30. */
  forceStopMs: number;
  /** Applying a config. Default 60. */
  configMs: number;
}

/** The command kinds a failure can be injected into: one per handler. */
export type SimulatedCommand = keyof BotHandlers;

/** What a simulated bot's handlers use of the agent's `CommandContext`: its signal, when there is one. */
export type SimulatedContext = Partial<Pick<CommandContext, "signal">>;

/**
 * A bot that behaves like a small trading bot, for the demo fleet and the tests. Its commands are
 * `BotHandlers`: connect it with `connectAgent({ …, ...botAgent(bot) })`, or call them directly.
 * A handler resolves with its reply, or throws `CommandFailedError` (a failure reply).
 */
export interface SimulatedBot extends BotHandlers {
  readonly botId: string;
  /** The bot software's version, answered to a ping. */
  readonly version: string;
  readonly status: BotStatus;
  readonly config: JsonObject;
  /** Orders open now (it opens `config.max_open_orders`, default 3, when it starts). */
  readonly openOrders: number;
  /** Orders closed cleanly by graceful stops. */
  readonly closedOrders: number;
  /** Orders left behind by forced stops. */
  readonly abandonedOrders: number;
  /** STOPPED → STARTING → RUNNING, opening its orders; refused while running (`already_running`) or stopping (`busy`). */
  start(command?: MessageInitShape<typeof StartSchema>, context?: SimulatedContext): Promise<StartReply>;
  /** → STOPPING → STOPPED: gracefully closes its orders one by one, or (not graceful) abandons them. */
  stop(command?: MessageInitShape<typeof StopSchema>, context?: SimulatedContext): Promise<StopReply>;
  /** Validates the config (no negative numbers) and applies it, whole or (partial) by field path. */
  configUpdate(command?: MessageInitShape<typeof ConfigUpdateSchema>, context?: SimulatedContext): Promise<ConfigUpdateReply>;
  /** Its status and version. */
  ping(command?: MessageInitShape<typeof PingSchema>, context?: SimulatedContext): Promise<PingReply>;
  /** Makes the next command of `kind` fail with `code` (`always`: every one until cleared). */
  injectFailure(kind: SimulatedCommand, code: string, message?: string, always?: boolean): void;
  clearFailures(): void;
  /** Called on every status change (for status reports). Returns the unsubscribe. */
  onStatus(listener: (status: BotStatus, detail: string) => void): () => void;
}

/**
 * A simulated trading bot: start takes time and opens orders, a graceful stop closes them one by
 * one, a forced stop abandons them, configs are validated and applied (whole or by field path),
 * overlapping commands are refused (`busy`), and failures can be injected. Handlers honour their
 * AbortSignal and leave a consistent status when interrupted. `version` (default "demo-1.0") is
 * what it answers a ping with.
 */
export function createSimulatedBot(
  botId: string,
  options: { timing?: Partial<SimulatedTiming>; config?: JsonObject; version?: string } = {},
): SimulatedBot {
  const version = options.version ?? "demo-1.0";
  const timing: SimulatedTiming = { startMs: 400, perOrderMs: 120, forceStopMs: 30, configMs: 60, ...options.timing };
  let status = BotStatus.STOPPED;
  let config: JsonObject = structuredClone(options.config ?? {});
  let openOrders = 0;
  let closedOrders = 0;
  let abandonedOrders = 0;
  const failures = new Map<SimulatedCommand, { code: string; message: string; always: boolean }>();
  const listeners = new Set<(status: BotStatus, detail: string) => void>();

  function become(next: BotStatus, detail: string): void {
    status = next;
    for (const listener of listeners) listener(next, detail);
  }

  function checkInjected(kind: SimulatedCommand): void {
    const failure = failures.get(kind);
    if (failure === undefined) return;
    if (!failure.always) failures.delete(kind);
    throw new CommandFailedError(failure.code, failure.message, { clientId: botId });
  }

  function checkConfig(candidate: JsonObject): void {
    for (const [key, value] of walk(candidate)) {
      if (typeof value === "number" && value < 0) {
        throw new CommandFailedError("invalid_config", `${key} must not be negative (got ${value})`, { clientId: botId });
      }
    }
  }

  function busy(what: string): CommandFailedError {
    return new CommandFailedError("busy", `${botId} is ${BotStatus[status]}; cannot ${what} now`, { clientId: botId });
  }

  async function start(signal: AbortSignal | undefined): Promise<StartReply> {
    if (status === BotStatus.RUNNING || status === BotStatus.STARTING) {
      throw new CommandFailedError("already_running", `${botId} is ${BotStatus[status]}`, { clientId: botId });
    }
    if (status === BotStatus.STOPPING) throw busy("start");
    checkInjected("start");
    become(BotStatus.STARTING, "connecting to the exchange");
    try {
      await delay(timing.startMs, signal);
    } catch (error) {
      become(BotStatus.STOPPED, "start interrupted");
      throw error;
    }
    const maxOrders = config["max_open_orders"];
    openOrders = typeof maxOrders === "number" ? Math.max(0, Math.floor(maxOrders)) : 3;
    become(BotStatus.RUNNING, `trading with ${openOrders} open orders`);
    return create(StartReplySchema, { status, detail: `running with ${openOrders} open orders` });
  }

  async function stop(graceful: boolean, signal: AbortSignal | undefined): Promise<StopReply> {
    if (status === BotStatus.STOPPED) return create(StopReplySchema, { status, detail: "already stopped" });
    if (status === BotStatus.STARTING || status === BotStatus.STOPPING) throw busy("stop");
    checkInjected("stop");
    become(BotStatus.STOPPING, graceful ? "closing open orders" : "cancelling everything");
    try {
      if (graceful) {
        const toClose = openOrders;
        for (let i = 0; i < toClose; i++) {
          await delay(timing.perOrderMs, signal);
          openOrders--;
          closedOrders++;
        }
        become(BotStatus.STOPPED, `closed ${toClose} orders`);
        return create(StopReplySchema, { status, detail: `stopped gracefully, closed ${toClose} orders` });
      }
      await delay(timing.forceStopMs, signal);
    } catch (error) {
      // Interrupted (the connection went away): still trading if orders are left, else stopped.
      become(openOrders > 0 ? BotStatus.RUNNING : BotStatus.STOPPED, "stop interrupted");
      throw error;
    }
    const left = openOrders;
    abandonedOrders += left;
    openOrders = 0;
    become(BotStatus.STOPPED, `abandoned ${left} orders`);
    return create(StopReplySchema, { status, detail: `force-stopped, abandoned ${left} orders` });
  }

  async function updateConfig(update: MessageInitShape<typeof ConfigUpdateSchema>, signal: AbortSignal | undefined): Promise<ConfigUpdateReply> {
    checkInjected("configUpdate");
    const incoming: JsonObject = update.config ?? {};
    const fieldPaths = update.fieldPaths ?? [];
    const candidate = update.partial ? applyFieldPaths(config, incoming, fieldPaths) : structuredClone(incoming);
    checkConfig(candidate);
    await delay(timing.configMs, signal);
    config = candidate;
    const detail = update.partial ? `updated ${fieldPaths.join(", ")}` : "replaced the config";
    return create(ConfigUpdateReplySchema, { status, detail });
  }

  return {
    botId,
    version,
    get status() {
      return status;
    },
    get config() {
      return structuredClone(config);
    },
    get openOrders() {
      return openOrders;
    },
    get closedOrders() {
      return closedOrders;
    },
    get abandonedOrders() {
      return abandonedOrders;
    },
    start: (_command, context) => start(context?.signal),
    stop: (command, context) => stop(command?.graceful ?? false, context?.signal),
    configUpdate: (command = {}, context) => updateConfig(command, context?.signal),
    async ping() {
      checkInjected("ping");
      return create(PingReplySchema, { status, version });
    },
    injectFailure(kind, code, message = `injected ${kind} failure`, always = false) {
      failures.set(kind, { code, message, always });
    },
    clearFailures() {
      failures.clear();
    },
    onStatus(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}

/** Internal: every (dotted path, value) in a JSON object. */
function* walk(value: JsonValue, prefix = ""): Generator<[string, JsonValue]> {
  if (typeof value === "object" && value !== null && !Array.isArray(value)) {
    for (const [key, child] of Object.entries(value)) yield* walk(child, prefix === "" ? key : `${prefix}.${key}`);
  } else {
    yield [prefix, value];
  }
}
