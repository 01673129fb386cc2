import {
  CommandFailedError,
  errorClassOf,
  isCommandError,
  type CommandError,
  type CommandErrorCode,
  type CommandErrorContext,
  type CommandErrorOptions,
} from "./errors.js";

/**
 * The plain-data form of errors, for transports: `toErrorInfo` on one side of a process boundary,
 * `errorFromInfo` on the other, and the caller catches the same class a same-process caller does.
 */

/** The plain-data form of an error: `toErrorInfo` / `errorFromInfo`. */
export interface CommandErrorInfo extends CommandErrorContext {
  code: CommandErrorCode;
  message: string;
  /** For `command_failed`: the client's own error code. */
  clientErrorCode?: string;
  /** For `command_failed`: the client's own message. */
  clientErrorMessage?: string;
}

/** The plain-data form of `error` (any thrown value), for a transport to put on the wire. */
export function toErrorInfo(error: unknown): CommandErrorInfo {
  if (isCommandError(error)) {
    const info: CommandErrorInfo = { code: error.code, message: error.message };
    if (error.service !== undefined) info.service = error.service;
    if (error.clientId !== undefined) info.clientId = error.clientId;
    if (error.commandId !== undefined) info.commandId = error.commandId;
    if (isCommandError(error, "command_failed")) {
      const failed = error as CommandFailedError;
      info.clientErrorCode = failed.clientErrorCode;
      info.clientErrorMessage = failed.clientErrorMessage;
    }
    return info;
  }
  return { code: "internal", message: error instanceof Error ? error.message : String(error) };
}

/**
 * Rebuilds the typed error that `toErrorInfo` described: the same class a same-process caller
 * would have caught. `extra` carries what only the receiving side knows (the decoded reply of a
 * failure, the transport error as `cause`).
 */
export function errorFromInfo(info: CommandErrorInfo, extra: { cause?: unknown; reply?: unknown } = {}): CommandError {
  const options: CommandErrorOptions & { reply?: unknown } = { ...extra };
  if (info.service !== undefined) options.service = info.service;
  if (info.clientId !== undefined) options.clientId = info.clientId;
  if (info.commandId !== undefined) options.commandId = info.commandId;
  if (info.code === "command_failed") {
    return new CommandFailedError(info.clientErrorCode ?? "unknown", info.clientErrorMessage ?? info.message, options);
  }
  const ErrorClass = errorClassOf(info.code);
  return new ErrorClass(info.message, options);
}
