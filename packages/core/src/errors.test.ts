import { cpSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import {
  ClientDisconnectedError,
  ClosedError,
  ClientNotConnectedError,
  ClientReplacedError,
  CommandCancelledError,
  CommandError,
  CommandFailedError,
  CommandTimeoutError,
  DuplicateClientError,
  HeartbeatTimeoutError,
  InternalError,
  InvalidArgumentError,
  PermissionDeniedError,
  ProtocolError,
  QueueFullError,
  RateLimitedError,
  RouterUnavailableError,
  ServiceAlreadyRegisteredError,
  ServiceClosedError,
  ServiceNotFoundError,
  UnauthenticatedError,
  errorFromInfo,
  isCommandError,
  isCommandErrorCode,
  NodeLostError,
  toErrorInfo,
} from "./index.js";

const simple = [
  [ClientNotConnectedError, "client_not_connected"],
  [CommandTimeoutError, "command_timeout"],
  [ClientDisconnectedError, "client_disconnected"],
  [QueueFullError, "queue_full"],
  [CommandCancelledError, "command_cancelled"],
  [ServiceNotFoundError, "service_not_found"],
  [ServiceAlreadyRegisteredError, "service_already_registered"],
  [ServiceClosedError, "service_closed"],
  [UnauthenticatedError, "unauthenticated"],
  [PermissionDeniedError, "permission_denied"],
  [InvalidArgumentError, "invalid_argument"],
  [ProtocolError, "protocol_error"],
  [DuplicateClientError, "duplicate_client"],
  [HeartbeatTimeoutError, "heartbeat_timeout"],
  [ClientReplacedError, "client_replaced"],
  [RateLimitedError, "rate_limited"],
  [RouterUnavailableError, "router_unavailable"],
  [NodeLostError, "node_lost"],
  [ClosedError, "closed"],
  [InternalError, "internal"],
] as const;

describe("errors", () => {
  it.each(simple)("%o has its stable code, its own name, and keeps cause and context", (ErrorClass, code) => {
    const cause = new Error("underneath");
    const error = new ErrorClass("it went wrong", { cause, service: "bots", clientId: "b1", commandId: "c1" });
    expect(error).toBeInstanceOf(CommandError);
    expect(error).toBeInstanceOf(Error);
    expect(error.code).toBe(code);
    expect(error.name).toBe(ErrorClass.name);
    expect(error.message).toBe("it went wrong");
    expect(error.cause).toBe(cause);
    expect([error.service, error.clientId, error.commandId]).toEqual(["bots", "b1", "c1"]);
  });

  it("CommandFailedError carries the client's own code, message and reply", () => {
    const error = new CommandFailedError("already_running", "bot is running", { clientId: "b1", reply: { status: 3 } });
    expect(error.code).toBe("command_failed");
    expect(error.clientErrorCode).toBe("already_running");
    expect(error.clientErrorMessage).toBe("bot is running");
    expect(error.reply).toEqual({ status: 3 });
    expect(error.message).toContain("already_running");
  });

  it.each(simple)("%o survives the wire form: toErrorInfo → JSON → errorFromInfo gives the same class", (ErrorClass) => {
    const original = new ErrorClass("across processes", { service: "bots", clientId: "b1", commandId: "c9" });
    const info = JSON.parse(JSON.stringify(toErrorInfo(original)));
    const rebuilt = errorFromInfo(info);
    expect(rebuilt).toBeInstanceOf(ErrorClass);
    expect(rebuilt.message).toBe("across processes");
    expect([rebuilt.service, rebuilt.clientId, rebuilt.commandId]).toEqual(["bots", "b1", "c9"]);
  });

  it("a failure survives the wire form with the client's code and message", () => {
    const rebuilt = errorFromInfo(toErrorInfo(new CommandFailedError("bad_config", "no such field", { clientId: "b2" })), {
      reply: "decoded reply",
    });
    expect(rebuilt).toBeInstanceOf(CommandFailedError);
    expect((rebuilt as CommandFailedError).clientErrorCode).toBe("bad_config");
    expect((rebuilt as CommandFailedError).clientErrorMessage).toBe("no such field");
    expect((rebuilt as CommandFailedError).reply).toBe("decoded reply");
  });

  it("anything that is not a CommandError becomes internal on the wire", () => {
    expect(toErrorInfo(new TypeError("boom"))).toEqual({ code: "internal", message: "boom" });
    expect(toErrorInfo("text")).toEqual({ code: "internal", message: "text" });
    expect(errorFromInfo({ code: "internal", message: "boom" })).toBeInstanceOf(InternalError);
  });

  it("isCommandErrorCode tells codes off the wire from garbage", () => {
    expect(isCommandErrorCode("command_timeout")).toBe(true);
    expect(isCommandErrorCode("command_failed")).toBe(true);
    expect(isCommandErrorCode("toString")).toBe(false);
    expect(isCommandErrorCode("nope")).toBe(false);
  });
});

/** A second, independent copy of the whole package (every module evaluated again), as two bundles or two versions would load it. */
const copyDir = mkdtempSync(join(tmpdir(), "streamcmd-core-copy-"));
afterAll(() => rmSync(copyDir, { recursive: true, force: true }));
async function loadSecondCopy(): Promise<typeof import("./index.js")> {
  const here = fileURLToPath(new URL(".", import.meta.url));
  for (const file of readdirSync(here).filter((name) => name.endsWith(".ts") && !name.endsWith(".test.ts"))) cpSync(join(here, file), join(copyDir, file));
  return (await import(/* @vite-ignore */ join(copyDir, "index.ts"))) as typeof import("./index.js");
}

describe("errors across two copies of @streamcmd/core", () => {
  it("an error from one copy is an instance of the other copy's class with the same code, and only that class", async () => {
    const other = await loadSecondCopy();
    expect(other.CommandTimeoutError).not.toBe(CommandTimeoutError);
    const foreign = new other.CommandTimeoutError("from the other copy", { clientId: "b1" });
    expect(Object.getPrototypeOf(foreign)).not.toBe(CommandTimeoutError.prototype);
    expect(foreign).toBeInstanceOf(CommandTimeoutError);
    expect(foreign).toBeInstanceOf(CommandError);
    expect(foreign).not.toBeInstanceOf(ClientNotConnectedError);
    expect(isCommandError(foreign)).toBe(true);
    expect(isCommandError(foreign, "command_timeout")).toBe(true);
    expect(isCommandError(foreign, "internal")).toBe(false);
    // And the other way round, including the failure with its extra fields.
    const local = new CommandFailedError("busy", "try later", { clientId: "b2" });
    expect(local).toBeInstanceOf(other.CommandFailedError);
    expect(other.toErrorInfo(local)).toMatchObject({ code: "command_failed", clientErrorCode: "busy", clientErrorMessage: "try later" });
  });

  it("is not fooled by look-alikes, and a user's own subclass matches only its own instances", () => {
    expect(isCommandError({ code: "command_timeout", name: "CommandTimeoutError" })).toBe(false);
    expect(isCommandError(new Error("plain"))).toBe(false);
    expect({ code: "command_timeout" }).not.toBeInstanceOf(CommandTimeoutError);
    class AppTimeout extends CommandTimeoutError {}
    expect(new AppTimeout("app")).toBeInstanceOf(AppTimeout);
    expect(new AppTimeout("app")).toBeInstanceOf(CommandTimeoutError);
    expect(new CommandTimeoutError("plain")).not.toBeInstanceOf(AppTimeout);
  });
});
