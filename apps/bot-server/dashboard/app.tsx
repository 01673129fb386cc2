// The fleet dashboard: sign in with a token, then the clients (a windowed list: only the rows in
// view are rendered, so 10,000 clients cost what 30 do), the live aggregates and charts, the latest
// commands, and commands for the selected bot through the CommandRouter.
import { render } from "preact";
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import { command, Refused, streamEvents, type ClientRow, type CommandOutcome, type ServerEvent, type Tick } from "./api.js";
import { Chart } from "./chart.js";
import "./app.css";

const rowHeight = 28;
const historySeconds = 120;

function App() {
  const [token, setToken] = useState(() => sessionStorage.getItem("streamcmd-token") ?? "");
  const [signedIn, setSignedIn] = useState(token !== "");
  const [refused, setRefused] = useState<string | undefined>();
  const [service, setService] = useState("");
  const [clients, setClients] = useState(() => new Map<string, ClientRow>());
  const [ticks, setTicks] = useState<Tick[]>([]);
  const [selected, setSelected] = useState<string | undefined>();
  const [lost, setLost] = useState(false);
  useEffect(() => {
    if (!signedIn) return;
    const stop = new AbortController();
    const rows = new Map<string, ClientRow>();
    let changed = false;
    // Changes are applied to the map at once and shown at most once per animation frame.
    const flush = (): void => {
      if (changed) setClients(new Map(rows));
      changed = false;
      if (!stop.signal.aborted) requestAnimationFrame(flush);
    };
    requestAnimationFrame(flush);
    const onEvent = (message: ServerEvent): void => {
      if (message.event === "snapshot") {
        setService(message.data.service);
        rows.clear();
        for (const row of message.data.clients) rows.set(row.id, row);
      } else if (message.event === "client") rows.set(message.data.id, message.data);
      else {
        for (const [id, lastSeenAt, pending] of message.data.seen) {
          const row = rows.get(id);
          if (row !== undefined) rows.set(id, { ...row, lastSeenAt, pending });
        }
        const tick = message.data;
        setTicks((all) => [...all.slice(-(historySeconds - 1)), tick]);
      }
      setLost(false);
      changed = true;
    };
    // A refused token signs out; a stream that breaks (the server restarted, the network blinked) is
    // opened again a second later, and its snapshot brings the list back in step.
    void (async () => {
      while (!stop.signal.aborted) {
        try {
          await streamEvents(token, stop.signal, onEvent);
        } catch (error) {
          if (stop.signal.aborted) return;
          if (error instanceof Refused) {
            setRefused(error.message);
            setSignedIn(false);
            return;
          }
        }
        setLost(true);
        await new Promise((resolve) => setTimeout(resolve, 1_000));
      }
    })();
    return () => stop.abort();
  }, [signedIn, token]);

  if (!signedIn) {
    return (
      <main class="signin">
        <h1>streamcmd fleet</h1>
        <p>Sign in with a caller token (the demo writes one to data/tokens/botctl-admin.jwt).</p>
        <textarea id="token" rows={4} value={token} onInput={(e) => setToken(e.currentTarget.value.trim())} />
        <button
          id="signin"
          onClick={() => {
            sessionStorage.setItem("streamcmd-token", token);
            setRefused(undefined);
            setSignedIn(true);
          }}
        >
          Sign in
        </button>
        {refused !== undefined && <p class="error" id="refused">Not authorised: {refused}</p>}
      </main>
    );
  }
  const last = ticks[ticks.length - 1];
  const connected = [...clients.values()].filter((row) => row.connected).length;
  return (
    <main class="dashboard">
      <header>
        <h1>{service || "streamcmd"}</h1>
        <span id="connected">{connected} connected</span>
        {lost && <span class="error" id="lost">reconnecting…</span>}
        <span>{last?.commandsPerSecond ?? 0} commands/s</span>
        <span>p50 {fmt(last?.p50Ms)} · p99 {fmt(last?.p99Ms)}</span>
        <button onClick={() => (sessionStorage.removeItem("streamcmd-token"), setSignedIn(false))}>Sign out</button>
      </header>
      <section class="charts">
        <Chart title="round trip, ms (p50, p99)" ticks={ticks} series={[(t) => t.p50Ms, (t) => t.p99Ms]} />
        <Chart title="commands/s" ticks={ticks} series={[(t) => t.commandsPerSecond]} />
        <Errors ticks={ticks} />
      </section>
      <section class="split">
        <ClientList rows={clients} selected={selected} onSelect={setSelected} />
        <div class="side">
          {selected !== undefined && <Actions token={token} row={clients.get(selected)} id={selected} />}
          <Feed ticks={ticks} />
        </div>
      </section>
    </main>
  );
}

const fmt = (ms: number | null | undefined): string => (ms === null || ms === undefined ? "–" : `${ms.toFixed(ms < 10 ? 2 : 0)} ms`);
const ago = (at: number): string => `${Math.max(0, Math.round((Date.now() - at) / 1000))} s ago`;

function ClientList(props: { rows: Map<string, ClientRow>; selected: string | undefined; onSelect(id: string): void }) {
  const sorted = useMemo(() => [...props.rows.values()].sort((a, b) => a.id.localeCompare(b.id, undefined, { numeric: true })), [props.rows]);
  const [top, setTop] = useState(0);
  const box = useRef<HTMLDivElement>(null);
  const height = box.current?.clientHeight ?? 600;
  const first = Math.max(0, Math.floor(top / rowHeight) - 5);
  const visible = sorted.slice(first, first + Math.ceil(height / rowHeight) + 10);
  return (
    <div class="clients" ref={box} onScroll={(e) => setTop(e.currentTarget.scrollTop)} id="clients">
      <div style={{ height: `${sorted.length * rowHeight}px`, position: "relative" }}>
        {visible.map((row, i) => (
          <div
            key={row.id}
            class={`row ${row.connected ? "" : "gone"} ${props.selected === row.id ? "selected" : ""}`}
            data-client={row.id}
            data-status={row.status}
            data-connected={String(row.connected)}
            style={{ top: `${(first + i) * rowHeight}px` }}
            onClick={() => props.onSelect(row.id)}
          >
            <span class="id">{row.id}</span>
            <span class={`status ${row.status}`}>{row.connected ? row.status : "DISCONNECTED"}</span>
            <span>{row.node}</span>
            <span title={new Date(row.connectedAt).toISOString()}>since {new Date(row.connectedAt).toLocaleTimeString()}</span>
            <span>seen {ago(row.lastSeenAt)}</span>
            <span>{row.pending} pending</span>
          </div>
        ))}
      </div>
    </div>
  );
}

function Actions(props: { token: string; id: string; row: ClientRow | undefined }) {
  const [outcome, setOutcome] = useState<CommandOutcome | undefined>();
  const [busy, setBusy] = useState(false);
  const [config, setConfig] = useState('{"risk": {"max_position": 5}}');
  const run = async (action: Parameters<typeof command>[2], config?: unknown): Promise<void> => {
    setBusy(true);
    let result: CommandOutcome | undefined;
    try {
      result = await command(props.token, props.id, action, config);
    } catch (error) {
      // The server did not answer with Connect JSON (it went away, a proxy answered): say so, stay usable.
      result = { ok: false, code: "unavailable", message: error instanceof Error ? error.message : String(error) };
    } finally {
      setOutcome(result);
      setBusy(false);
    }
  };
  const updateConfig = (): void => {
    let parsed: unknown;
    try {
      parsed = JSON.parse(config);
    } catch (error) {
      return setOutcome({ ok: false, code: "invalid_argument", message: `the config is not JSON: ${error instanceof Error ? error.message : String(error)}` });
    }
    void run("config", parsed);
  };
  return (
    <div class="actions" id="actions">
      <h2>{props.id} <small>{props.row?.detail}</small></h2>
      <div class="buttons">
        <button id="start" disabled={busy} onClick={() => run("start")}>start</button>
        <button id="stop" disabled={busy} onClick={() => run("stop")}>stop</button>
        <button id="restart" disabled={busy} onClick={() => run("restart")}>restart</button>
        <button id="ping" disabled={busy} onClick={() => run("ping")}>ping</button>
      </div>
      <textarea id="config" rows={3} value={config} onInput={(e) => setConfig(e.currentTarget.value)} />
      <button id="update-config" disabled={busy} onClick={updateConfig}>update config</button>
      {outcome !== undefined && (
        <pre id="outcome" class={outcome.ok ? "ok" : "error"}>{outcome.ok ? JSON.stringify(outcome.reply, null, 1) : `${outcome.code}: ${outcome.message}`}</pre>
      )}
    </div>
  );
}

function Feed(props: { ticks: Tick[] }) {
  const entries = props.ticks.flatMap((tick) => tick.feed).slice(-100).reverse();
  return (
    <div class="feed" id="feed">
      <h2>latest commands</h2>
      {entries.map((entry, i) => (
        <div key={`${entry.at}-${i}`} class={entry.outcome === "ok" ? "" : "error"}>
          {new Date(entry.at).toLocaleTimeString()} {entry.caller} → {entry.clientId}: {entry.outcome} ({fmt(entry.ms)})
        </div>
      ))}
    </div>
  );
}

function Errors(props: { ticks: Tick[] }) {
  const totals = props.ticks[props.ticks.length - 1]?.errors ?? {};
  return (
    <div class="errors" id="errors">
      <h2>errors by class</h2>
      {Object.keys(totals).length === 0 ? <p>none</p> : Object.entries(totals).map(([code, n]) => <div key={code}>{code}: {n}</div>)}
    </div>
  );
}

render(<App />, document.getElementById("app") as HTMLElement);
