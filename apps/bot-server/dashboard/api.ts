// The page's two ways to the server: the event stream (server-sent events read with fetch, so the
// token travels in the Authorization header, never in a URL) and the server's command endpoint.

import type { ServerEvent } from "../src/dashboard-protocol.js";

export type { ClientRow, ServerEvent, Tick } from "../src/dashboard-protocol.js";

/** The server refused the token (401, 403): signing in again is the only way on. */
export class Refused extends Error {}

/** Reads the dashboard's event stream until it ends or `signal` aborts; rejects with `Refused`, or with a network error. */
export async function streamEvents(token: string, signal: AbortSignal, onEvent: (event: ServerEvent) => void): Promise<void> {
  const response = await fetch("/dashboard/events", { headers: { authorization: `Bearer ${token}` }, signal });
  if (!response.ok || response.body === null) {
    const body = (await response.json().catch(() => ({}))) as { error?: string };
    throw response.status === 401 || response.status === 403 ? new Refused(body.error ?? `HTTP ${response.status}`) : new Error(`HTTP ${response.status}`);
  }
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    for (let end = buffer.indexOf("\n\n"); end >= 0; end = buffer.indexOf("\n\n")) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const event = /^event: (.*)$/m.exec(block)?.[1];
      const data = /^data: (.*)$/m.exec(block)?.[1];
      if (event !== undefined && data !== undefined) onEvent({ event, data: JSON.parse(data) } as ServerEvent);
    }
  }
}

/** What a command did: the bot's reply, or the typed error (streamcmd's code). */
export type CommandOutcome = { ok: true; reply: unknown } | { ok: false; code: string; message: string };

/** Asks the server to run one command on a bot, as this token's caller (the server checks its scopes). */
export async function command(token: string, clientId: string, action: "start" | "stop" | "restart" | "ping" | "config", config?: unknown): Promise<CommandOutcome> {
  const response = await fetch("/dashboard/command", {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
    body: JSON.stringify({ clientId, action, config }),
  });
  const body = (await response.json()) as CommandOutcome | { error: string };
  if ("error" in body) return { ok: false, code: response.status === 403 ? "permission_denied" : response.status === 401 ? "unauthenticated" : "invalid_argument", message: body.error };
  return body;
}
