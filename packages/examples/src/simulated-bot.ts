import type { JsonObject, JsonValue } from "@bufbuild/protobuf";
import { CommandFailedError } from "@streamcmd/core";
import { delay } from "@streamcmd/core/internal";
import { BotStatus, successResult, type CommandResult, type ConnectResponse } from "@streamcmd/demo-protocol";
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

/** The command kinds a failure can be injected into. */
export type SimulatedCommand = "start" | "stop" | "configUpdate" | "ping";

/** A bot that behaves like a small trading bot, for the demo fleet and the tests. */
export interface SimulatedBot {
  readonly botId: string;
  readonly status: BotStatus;
  readonly config: JsonObject;
  /** Orders open now (it opens `config.max_open_orders`, default 3, when it starts). */
  readonly openOrders: number;
  /** Orders closed cleanly by graceful stops. */
  readonly closedOrders: number;
  /** Orders left behind by forced stops. */
  readonly abandonedOrders: number;
  /** Handles one command; resolves with the result, or throws `CommandFailedError` (a failure reply). */
  handle(command: ConnectResponse, signal?: AbortSignal): Promise<CommandResult>;
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
 * AbortSignal and leave a consistent status when interrupted.
 */
export function createSimulatedBot(botId: string, options: { timing?: Partial<SimulatedTiming>; config?: JsonObject } = {}): SimulatedBot {
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

  async function start(signal: AbortSignal | undefined): Promise<CommandResult> {
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
    return successResult(status, `running with ${openOrders} open orders`);
  }

  async function stop(graceful: boolean, signal: AbortSignal | undefined): Promise<CommandResult> {
    if (status === BotStatus.STOPPED) return successResult(status, "already stopped");
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
        return successResult(status, `stopped gracefully, closed ${toClose} orders`);
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
    return successResult(status, `force-stopped, abandoned ${left} orders`);
  }

  async function updateConfig(update: NonNullable<Extract<ConnectResponse["command"], { case: "configUpdate" }>["value"]>, signal: AbortSignal | undefined): Promise<CommandResult> {
    checkInjected("configUpdate");
    const incoming: JsonObject = update.config ?? {};
    const candidate = update.partial ? applyFieldPaths(config, incoming, update.fieldPaths) : structuredClone(incoming);
    checkConfig(candidate);
    await delay(timing.configMs, signal);
    config = candidate;
    const what = update.partial ? `updated ${update.fieldPaths.join(", ")}` : "replaced the config";
    return successResult(status, what);
  }

  return {
    botId,
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
    async handle(command, signal) {
      switch (command.command.case) {
        case "start":
          return start(signal);
        case "stop":
          return stop(command.command.value.graceful, signal);
        case "configUpdate":
          return updateConfig(command.command.value, signal);
        case "ping":
          checkInjected("ping");
          return successResult(status, `${botId} is ${BotStatus[status]}`);
        default:
          throw new CommandFailedError("unknown_command", "the command sets nothing this bot knows", { clientId: botId });
      }
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
