import type { HandlerContext } from "@connectrpc/connect";
import { InvalidArgumentError, isCommandError, PermissionDeniedError, UnauthenticatedError, type ClientInfo, type Logger } from "@streamcmd/core";
import { markAuthenticated, type CallerAuthenticator, type CallerIdentity } from "./authenticators.js";
import { scopeAllows, type RouterAction } from "./scopes.js";

/** One router call, as the policy sees it. */
export interface RouterRequest {
  action: RouterAction;
  service: string;
  /** Absent for `list`. */
  clientId?: string;
}

/** One router call once it ended, as the audit log and `onCall` get it. */
export type RouterCallRecord = {
  /** The caller's subject; null when it was refused before it was known. */
  readonly caller: string | null;
  readonly action: RouterAction;
  readonly service: string;
  readonly clientId: string | null;
  /** The command's short type name (execute and post). */
  readonly commandType: string | null;
  /** "ok", or the error's code. */
  readonly outcome: string;
  readonly durationMs: number;
};

/** Who may call a CommandRouter and what they may do; see `createCommandRouter`. */
export interface RouterSecurityOptions {
  /** Establishes the caller (e.g. `tokenCallerAuthenticator(verifier)`). Required unless `allowUnauthenticated`. */
  authenticate?: CallerAuthenticator;
  /** Decides each call. Default: the caller's scopes allow it (`scopeAllows`). */
  authorize?: (caller: CallerIdentity, request: RouterRequest) => boolean;
  /**
   * The audit log: one entry per call once it ended — caller, action, service, client, command type,
   * outcome (`ok` or the error code), duration. A pino logger fits. Default: none.
   */
  audit?: Logger;
  /** Hears the same entry as the audit log, for each call as it ends (metrics: calls by caller and outcome). */
  onCall?: (call: RouterCallRecord) => void;
  /** Serves callers without credentials, all allowed (tests, a loopback-only experiment). Default false. */
  allowUnauthenticated?: boolean;
}

const anonymous: CallerIdentity = { subject: "anonymous", scopes: ["*:*"] };
/** The hub refuses longer client ids anyway; checked before a caller's id meets a scope's glob. */
const maxClientIdLength = 256;

/** Internal: the router's authentication, authorisation and audit, in one place. */
export function createRouterGuard(options: RouterSecurityOptions) {
  const { authenticate, audit, onCall } = options;
  if (authenticate === undefined && options.allowUnauthenticated !== true) {
    throw new InvalidArgumentError(
      "a command router needs authenticate (e.g. tokenCallerAuthenticator(verifier)), or allowUnauthenticated: true for a test or a loopback experiment",
    );
  }
  const authorize = options.authorize ?? ((caller: CallerIdentity, request: RouterRequest) => scopeAllows(caller.scopes, request.action, request.service, request.clientId));

  return {
    /** The caller of this request; rejects with `UnauthenticatedError`. */
    async caller(context: HandlerContext): Promise<CallerIdentity> {
      if (authenticate === undefined) return (markAuthenticated(context), anonymous);
      let caller: CallerIdentity | undefined;
      try {
        caller = await authenticate(context);
      } catch (error) {
        throw isCommandError(error) ? error : new UnauthenticatedError("authentication failed", { cause: error });
      }
      if (caller === undefined) throw new UnauthenticatedError("missing or invalid credentials");
      markAuthenticated(context);
      return caller;
    },

    /** Throws `PermissionDeniedError` unless the policy allows the call (an expired credential and an over-long client id are refused first). */
    check(caller: CallerIdentity, request: RouterRequest): void {
      if (caller.expiresAt !== undefined && caller.expiresAt.getTime() <= Date.now()) {
        throw new UnauthenticatedError("the credential expired: call again with a fresh one", { service: request.service });
      }
      if (request.clientId !== undefined && request.clientId.length > maxClientIdLength) {
        throw new InvalidArgumentError(`client_id is ${request.clientId.length} characters long (limit ${maxClientIdLength})`, { service: request.service });
      }
      if (authorize(caller, request)) return;
      const target = request.clientId === undefined ? `service "${request.service}"` : `client ${request.clientId} of service "${request.service}"`;
      throw new PermissionDeniedError(`${caller.subject} may not ${request.action} on ${target}`, { service: request.service, ...(request.clientId ? { clientId: request.clientId } : {}) });
    },

    /** The clients of a listing the caller may see (a scope can name some clients only). */
    visible(caller: CallerIdentity, service: string, clients: ClientInfo[]): ClientInfo[] {
      return clients.filter((client) => authorize(caller, { action: "list", service, clientId: client.clientId }));
    },

    /** Writes the audit entry of one call. */
    record(caller: CallerIdentity | undefined, request: RouterRequest, started: number, error: unknown, commandType?: string): void {
      if (audit === undefined && onCall === undefined) return;
      const outcome = error === undefined ? "ok" : isCommandError(error) ? error.code : "internal";
      const entry: RouterCallRecord = {
        caller: caller?.subject ?? null,
        action: request.action,
        service: request.service,
        clientId: request.clientId ?? null,
        commandType: commandType ?? null,
        outcome,
        durationMs: Math.round((performance.now() - started) * 1000) / 1000,
      };
      try {
        onCall?.(entry);
      } catch {
        // A broken metrics hook must not fail the call it reports.
      }
      if (error === undefined) audit?.info(entry, "router call");
      else audit?.warn(entry, "router call refused or failed");
    },
  };
}
