// The page's two ways to the server: the event stream (server-sent events read with fetch, so the
// token travels in the Authorization header, never in a URL) and the CommandRouter (Connect JSON).

import type { ServerEvent } from "../src/dashboard-protocol.js";

export type { ClientRow, ServerEvent, Tick } from "../src/dashboard-protocol.js";

/** Reads the dashboard's event stream until `signal` aborts; rejects with the server's refusal (401, 403). */
export async function streamEvents(token: string, signal: AbortSignal, onEvent: (event: ServerEvent) => void): Promise<void> {
  const response = await fetch("/dashboard/events", { headers: { authorization: `Bearer ${token}` }, signal });
  if (!response.ok || response.body === null) {
    const body = (await response.json().catch(() => ({}))) as { error?: string };
    throw new Error(body.error ?? `HTTP ${response.status}`);
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

/** What a command did: the bot's reply, or the typed error (streamcmd's code when the server sent one). */
export type CommandOutcome = { ok: true; reply: unknown } | { ok: false; code: string; message: string };

/** Sends one command through the CommandRouter's Execute, as any other caller with this token. */
export async function execute(token: string, service: string, clientId: string, command: Record<string, unknown>): Promise<CommandOutcome> {
  const response = await fetch("/streamcmd.v1.CommandRouterService/Execute", {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
    body: JSON.stringify({ service, clientId, timeoutMs: 10_000, command: { "@type": "type.googleapis.com/demo.bot.v1.ConnectResponse", ...command } }),
  });
  const body = (await response.json()) as { reply?: unknown; code?: string; message?: string; details?: { debug?: { code?: string } }[] };
  if (response.ok) return { ok: true, reply: body.reply };
  const detail = body.details?.find((d) => d.debug?.code !== undefined)?.debug?.code;
  return { ok: false, code: detail ?? body.code ?? `http_${response.status}`, message: body.message ?? "" };
}
