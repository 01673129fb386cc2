// Scenario 3 of `./dev bench`: N clients on one server, each on its own connection with one open
// stream (or socket) — streamcmd, and beside it @grpc/grpc-js and Socket.IO measured the same way:
// the time to connect them all, the server's memory per client, one command to all with every reply back.
import type { Worker } from "./ipc.js";

/** What one server holding N clients measured. */
export interface ScaleResult {
  clients: number;
  /** From the first connection attempt until every client was welcomed (client side, 100 handshakes at once). */
  connectAllMs: number;
  /** The server's RSS after a full GC with N clients, less before any, per client. */
  serverRssPerClientBytes: number;
  serverHeapPerClientBytes: number;
  /** One command to every client, until every reply was back (or failed). */
  broadcastMs: number;
  broadcastOk: number;
  broadcastFailed: number;
}

/** streamcmd's numbers (with its hub's own share) and the two comparators'. */
export interface ScaleResults extends ScaleResult {
  /** The hub alone with N in-memory clients: the library's share of the server's heap. */
  libraryHeapPerClientBytes: number;
  comparators: { grpcjs: ScaleResult & { label: string }; socketio: ScaleResult & { label: string } };
}

type StartWorker = (role: string, args?: Record<string, unknown>) => Promise<{ worker: Worker; info: Record<string, unknown> }>;

/** Runs the scale scenario for `clients` clients on each server in turn; `stopAll` stops every worker started so far. */
export async function scaleBench(clients: number, worker: StartWorker, stopAll: () => Promise<void>, log: (line: string) => void): Promise<ScaleResults> {
  log(`3. scale: ${clients} streamcmd clients, each on its own HTTP/2 connection`);
  const streamcmd = await measure(clients, worker, "streamcmd-server", "streamcmd-bots");
  await stopAll();
  const hubOnly = await worker("hub-memory", { count: clients });
  await stopAll();
  log(`3. scale: ${clients} @grpc/grpc-js clients, each on its own connection with one bidi stream`);
  const grpcjs = await measure(clients, worker, "grpcjs-server", "grpcjs-bots", { confirm: true });
  await stopAll();
  log(`3. scale: ${clients} Socket.IO clients, each on its own WebSocket`);
  const socketio = await measure(clients, worker, "socketio-server", "socketio-bots");
  await stopAll();
  return {
    ...streamcmd,
    libraryHeapPerClientBytes: Number(hubOnly.info["heapPerClient"]),
    comparators: { grpcjs: { label: "@grpc/grpc-js server", ...grpcjs }, socketio: { label: "Socket.IO server", ...socketio } },
  };
}

/** One server role and one bots role: memory before, N clients connected, memory after, one broadcast. */
async function measure(
  clients: number,
  worker: StartWorker,
  serverRole: string,
  botsRole: string,
  botArgs: Record<string, unknown> = {},
): Promise<ScaleResult> {
  const server = await worker(serverRole);
  const before = (await server.worker.call("memory")) as { rss: number; heapUsed: number };
  const bots = await worker(botsRole, { url: server.info["url"], count: clients, prefix: "s-", ...botArgs });
  await server.worker.call("waitClients", { count: clients, timeoutMs: 300_000 });
  const after = (await server.worker.call("memory")) as { rss: number; heapUsed: number };
  const broadcast = (await server.worker.call("broadcast")) as { ms: number; ok: number; failed: number };
  return {
    clients,
    connectAllMs: Number(bots.info["connectMs"]),
    serverRssPerClientBytes: (after.rss - before.rss) / clients,
    serverHeapPerClientBytes: (after.heapUsed - before.heapUsed) / clients,
    broadcastMs: broadcast.ms,
    broadcastOk: broadcast.ok,
    broadcastFailed: broadcast.failed,
  };
}
