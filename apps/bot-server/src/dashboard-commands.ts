// The dashboard's commands: the page posts { clientId, action, config? } and the server runs it the way
// botctl does — through the examples' bot command client, so the store stays the source of truth (a
// new config is stored before it is sent; a restart waits for STOPPED) — and answers with the outcome
// or the typed error.
import type { JsonObject } from "@bufbuild/protobuf";
import { isCommandError, type Logger } from "@streamcmd/core";
import { statusName } from "@streamcmd/demo-protocol";
import { createBotCommandClient, type BotStore } from "@streamcmd/examples";
import type { BotHub } from "./server.js";

/** What the page can ask of a bot. */
export const dashboardActions = ["start", "stop", "restart", "ping", "config"] as const;
export type DashboardAction = (typeof dashboardActions)[number];

/** A request the page sent, checked: `clientId` and `action`, and a JSON object for `config`. */
export interface DashboardCommand {
  clientId: string;
  action: DashboardAction;
  config: JsonObject | undefined;
}

/** Reads a posted command; a string saying what is wrong when it is not one. */
export function readCommand(body: unknown): DashboardCommand | string {
  if (typeof body !== "object" || body === null) return "the body must be a JSON object";
  const { clientId, action, config } = body as Record<string, unknown>;
  if (typeof clientId !== "string" || clientId === "" || clientId.length > 256) return "clientId must be a non-empty string";
  const known = dashboardActions.find((candidate) => candidate === action);
  if (known === undefined) return `action must be one of ${dashboardActions.join(", ")}`;
  if (known === "config" && (typeof config !== "object" || config === null || Array.isArray(config))) return "config must be a JSON object";
  // Parsed from JSON text, so a JSON object.
  return { clientId, action: known, config: known === "config" ? (config as JsonObject) : undefined };
}

/** The outcome as the page shows it: the reply, or the error's streamcmd code and message. */
export type DashboardOutcome = { ok: true; reply: unknown } | { ok: false; code: string; message: string };

/** Runs `command` for `caller` (named in the hub's events and the log). Never throws. */
export async function runCommand(hub: BotHub, store: BotStore, logger: Logger, caller: string, command: DashboardCommand): Promise<DashboardOutcome> {
  const bot = createBotCommandClient({ botId: command.clientId, store, service: hub, defaultTimeoutMs: 10_000 });
  const call = { caller };
  const reason = `from the dashboard (${caller})`;
  const started = performance.now();
  try {
    const reply =
      command.action === "start"
        ? await bot.start(reason, call)
        : command.action === "stop"
          ? await bot.stop(reason, call)
          : command.action === "restart"
            ? await bot.restart(reason, call)
            : command.action === "ping"
              ? statusName(await bot.status(call))
              : await bot.updateConfig(command.config ?? {}, call);
    logger.info({ caller, action: command.action, clientId: command.clientId, outcome: "ok", durationMs: performance.now() - started }, "dashboard command");
    return { ok: true, reply };
  } catch (error) {
    const code = isCommandError(error) ? error.code : "internal";
    const message = error instanceof Error ? error.message : String(error);
    logger.warn({ caller, action: command.action, clientId: command.clientId, outcome: code, durationMs: performance.now() - started }, "dashboard command failed");
    return { ok: false, code, message };
  }
}
