// The live fleet dashboard: a page (built from ../dashboard by esbuild) and one server-sent event
// stream that feeds it — the clients, then changes as they happen, and once a second the aggregates
// (commands/s, p50/p99, errors by class) and the latest commands. Everything is aggregated here, so
// the page stays responsive with 10,000 clients. The page's commands are posted with the same token,
// checked against its scopes as the CommandRouter checks them, and run as botctl runs them.
import { readFileSync } from "node:fs";
import type { ClientInfo, CommandSettledEvent, Logger } from "@streamcmd/core";
import { statusName, type BotStatus } from "@streamcmd/demo-protocol";
import type { BotStore } from "@streamcmd/examples";
import { bearerToken, scopeAllows, type TokenVerifier } from "@streamcmd/transport-connect";
import type { ClientRow, Tick } from "./dashboard-protocol.js";
import { readCommand, runCommand } from "./dashboard-commands.js";
import type { BotHub } from "./server.js";

/** What the dashboard needs from the demo server. */
export interface DashboardOptions {
  hub: BotHub;
  store: BotStore;
  /** Checks the page's token (a caller token, as the router's); undefined in the insecure demo: anyone may look. */
  verifier: TokenVerifier | undefined;
  /** This server's cluster node id, shown beside each client. */
  nodeId: string;
  logger: Logger;
  /** The built page: index.html, app.js and app.css. */
  assetsDir: string;
}

/** The dashboard of one server. */
export interface Dashboard {
  /** Serves GET /dashboard, its script and stylesheet, /dashboard/events and POST /dashboard/command; false for any other request. */
  handle(request: PlainRequest, response: StreamResponse): boolean;
  /** A bot's status changed (the store was told): the page shows it at once. */
  statusChanged(botId: string, status: BotStatus, detail: string): void;
  close(): void;
}

/** The request fields the dashboard reads (HTTP/1.1 or HTTP/2). */
export interface PlainRequest {
  readonly method?: string | undefined;
  readonly url?: string | undefined;
  readonly headers: Record<string, string | string[] | undefined>;
  once(event: "close", listener: () => void): unknown;
  resume(): unknown;
  [Symbol.asyncIterator](): AsyncIterator<Buffer | string>;
}

/** The response fields the dashboard writes. */
export interface StreamResponse {
  statusCode: number;
  setHeader(name: string, value: string): unknown;
  write(chunk: string): unknown;
  end(body: string): unknown;
}

/** Commands shown per second at most in the live feed (the counts include every command). */
const feedPerTick = 50;

export function createDashboard(options: DashboardOptions): Dashboard {
  const { hub, store, nodeId } = options;
  const service = hub.name;
  const listeners = new Map<(event: string, data: unknown) => void, StreamResponse>();
  const broadcast = (event: string, data: unknown): void => {
    for (const listener of listeners.keys()) listener(event, data);
  };
  const statuses = new Map<string, { status: string; detail: string }>();
  const row = (client: ClientInfo, connected: boolean): ClientRow => ({
    id: client.clientId,
    node: nodeId,
    status: statuses.get(client.clientId)?.status ?? "UNKNOWN",
    detail: statuses.get(client.clientId)?.detail ?? "",
    connectedAt: client.connectedAt.getTime(),
    lastSeenAt: client.lastSeenAt.getTime(),
    pending: client.pendingCommands,
    connected,
  });
  // The last second's commands, aggregated once for every page.
  let window: CommandSettledEvent[] = [];
  let feed: Tick["feed"] = [];
  const errors = new Map<string, number>();
  const stops = [
    hub.onConnect((client) => broadcast("client", row(client, true))),
    hub.onDisconnect(({ client, reason }) => broadcast("client", { ...row(client, false), detail: `disconnected (${reason})` })),
    hub.onCommandSettled((event) => {
      window.push(event);
      if (event.outcome !== "ok") errors.set(event.outcome, (errors.get(event.outcome) ?? 0) + 1);
      if (feed.length < feedPerTick) feed.push({ at: Date.now(), caller: event.caller ?? "in-process", clientId: event.clientId, outcome: event.outcome, ms: event.durationMs });
    }),
  ];
  let lastSeen = new Map<string, number>();
  const tick = setInterval(() => {
    const times = window.map((event) => event.durationMs).sort((a, b) => a - b);
    const quantile = (q: number): number | null => (times.length === 0 ? null : (times[Math.min(times.length - 1, Math.floor(q * times.length))] ?? null));
    // Only the clients whose last-seen or pending count moved travel again.
    const seen: [string, number, number][] = [];
    const now = new Map<string, number>();
    for (const client of hub.clients()) {
      const at = client.lastSeenAt.getTime();
      now.set(client.clientId, at);
      if (lastSeen.get(client.clientId) !== at || client.pendingCommands > 0) seen.push([client.clientId, at, client.pendingCommands]);
    }
    lastSeen = now;
    const tick: Tick = { at: Date.now(), commandsPerSecond: window.length, p50Ms: quantile(0.5), p99Ms: quantile(0.99), errors: Object.fromEntries(errors), feed, seen };
    broadcast("tick", tick);
    window = [];
    feed = [];
  }, 1_000);
  tick.unref();
  // What the store knows now; the page is told of each change after.
  void store.list().then((records) => {
    for (const record of records) if (!statuses.has(record.id)) statuses.set(record.id, { status: statusName(record.status), detail: record.statusReason });
  }, (err: unknown) => options.logger.warn({ err }, "dashboard: could not read the bots' statuses"));

  // The built page, read once on first use (it does not change while the server runs).
  const pages = new Map<string, string>();
  const page = (file: string): string => {
    let text = pages.get(file);
    if (text === undefined) pages.set(file, (text = readFileSync(`${options.assetsDir}/${file}`, "utf8")));
    return text;
  };

  /**
   * Who the token names, if its scopes allow `action` (as the CommandRouter's default policy
   * decides): listing for the page, executing on `clientId` for a command; else the refusal.
   */
  async function callerOf(request: PlainRequest, action: "list" | "execute", clientId?: string): Promise<{ caller: string } | { status: number; message: string }> {
    if (options.verifier === undefined) return { caller: "anonymous" };
    const header = request.headers.authorization;
    const token = bearerToken(new Headers(typeof header === "string" ? { authorization: header } : {}));
    if (token === undefined) return { status: 401, message: "sign in with a token" };
    let verified: { subject: string; scopes: readonly string[] };
    try {
      verified = await options.verifier.verify(token, "streamcmd-router");
    } catch {
      return { status: 401, message: "the token is not valid (expired, or not signed by this server)" };
    }
    if (scopeAllows(verified.scopes, action, service, clientId)) return { caller: verified.subject };
    return { status: 403, message: `${verified.subject} may not ${action} on ${clientId ?? service}` };
  }

  function events(request: PlainRequest, response: StreamResponse): void {
    // Read the (empty) body to its end: the server's connection guard counts a request that never
    // ends as a stalled one and cuts it after its handshake timeout.
    request.resume();
    void callerOf(request, "list").then((allowed) => {
      if ("status" in allowed) return json(response, allowed.status, { error: allowed.message });
      response.statusCode = 200;
      response.setHeader("content-type", "text/event-stream");
      response.setHeader("cache-control", "no-store");
      const send = (event: string, data: unknown): void => void response.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
      send("snapshot", { service, node: nodeId, clients: hub.clients().map((client) => row(client, true)) });
      listeners.set(send, response);
      request.once("close", () => listeners.delete(send));
    });
  }

  /** POST /dashboard/command: one bot command, authorised for the token's caller, run as botctl runs it. */
  async function command(request: PlainRequest, response: StreamResponse): Promise<void> {
    let body: unknown;
    try {
      body = JSON.parse(await readBody(request, maxBodyBytes));
    } catch (error) {
      return json(response, 400, { error: `the body must be JSON of at most ${maxBodyBytes} bytes: ${error instanceof Error ? error.message : String(error)}` });
    }
    const asked = readCommand(body);
    if (typeof asked === "string") return json(response, 400, { error: asked });
    const allowed = await callerOf(request, "execute", asked.clientId);
    if ("status" in allowed) return json(response, allowed.status, { error: allowed.message });
    json(response, 200, await runCommand(hub, store, options.logger, allowed.caller, asked));
  }

  return {
    handle(request, response) {
      const path = (request.url ?? "").split("?")[0];
      if (path === undefined || !path.startsWith("/dashboard")) return false;
      if (request.method === "POST" && path === "/dashboard/command") {
        void command(request, response).catch(() => json(response, 500, { error: "the command could not be run" }));
        return true;
      }
      if (request.method !== "GET") return false;
      if (path === "/dashboard/events") events(request, response);
      else if (path === "/dashboard" || path === "/dashboard/") reply(response, "text/html; charset=utf-8", page("index.html"));
      else if (path === "/dashboard/app.js") reply(response, "text/javascript; charset=utf-8", page("app.js"));
      else if (path === "/dashboard/app.css") reply(response, "text/css; charset=utf-8", page("app.css"));
      else return false;
      return true;
    },
    statusChanged(botId, status, detail) {
      statuses.set(botId, { status: statusName(status), detail });
      const client = hub.client(botId);
      if (client !== undefined) broadcast("client", row(client, true));
    },
    close() {
      clearInterval(tick);
      for (const stop of stops) stop();
      for (const response of listeners.values()) response.end("");
      listeners.clear();
    },
  };
}

/** Answers with `value` as JSON (bigints as strings). */
function json(response: StreamResponse, status: number, value: unknown): void {
  response.statusCode = status;
  response.setHeader("content-type", "application/json");
  response.end(JSON.stringify(value, (_, item: unknown) => (typeof item === "bigint" ? item.toString() : item)));
}

/** A posted command's body is small: a config, an id. */
const maxBodyBytes = 64 * 1024;

/** The request's body as text; rejects past `limit` bytes (and stops reading). */
async function readBody(request: PlainRequest, limit: number): Promise<string> {
  let text = "";
  for await (const chunk of request) {
    text += typeof chunk === "string" ? chunk : chunk.toString("utf8");
    if (text.length > limit) throw new Error("too large");
  }
  return text;
}

function reply(response: StreamResponse, type: string, body: string): void {
  response.statusCode = 200;
  response.setHeader("content-type", type);
  response.end(body);
}
