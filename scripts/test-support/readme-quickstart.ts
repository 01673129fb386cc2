// Runs the README's "Use it in your own project" section as a user would, in a folder outside the
// workspace: its shell lines (the tarballs from `work` instead of /tmp/streamcmd), its files as
// written, `npx buf generate && npx tsc`, then the server, the agent and the worker it starts.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { dirname, join } from "node:path";

interface Block {
  lang: string;
  body: string;
}

function section(readme: string): Block[] {
  const start = readme.indexOf("## Use it in your own project");
  const end = readme.indexOf("\n## ", start + 1);
  if (start < 0 || end < 0) throw new Error('the README has no "## Use it in your own project" section');
  return [...readme.slice(start, end).matchAll(/```(\w+)\n([\s\S]*?)```/g)].map((m) => ({ lang: m[1]!, body: m[2]! }));
}

function sh(script: string, cwd: string): void {
  const run = spawnSync("sh", ["-ec", script], { cwd, encoding: "utf8", timeout: 240_000 });
  if (run.status !== 0) throw new Error(`${script}\nexited ${run.status}:\n${run.stdout}\n${run.stderr}`);
}

async function freePort(): Promise<number> {
  const server = createServer().listen(0, "127.0.0.1");
  await new Promise((resolve) => server.once("listening", resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (address === null || typeof address === "string") throw new Error("no port");
  return address.port;
}

/** Collects a process's stdout lines; resolves `waitFor(line)` when that line appears. */
function watch(child: ChildProcess) {
  const lines: string[] = [];
  let stderr = "";
  const waiters: { line: string; resolve: () => void }[] = [];
  let buffered = "";
  child.stdout!.setEncoding("utf8").on("data", (chunk: string) => {
    buffered += chunk;
    const parts = buffered.split("\n");
    buffered = parts.pop()!;
    for (const line of parts) {
      lines.push(line);
      for (const w of waiters.filter((w) => line.startsWith(w.line))) w.resolve();
    }
  });
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return {
    lines,
    exited,
    waitFor(line: string, ms = 30_000): Promise<void> {
      if (lines.some((l) => l.startsWith(line))) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no "${line}" within ${ms} ms; stdout: ${lines.join(" | ")}; stderr: ${stderr}`)), ms);
        waiters.push({ line, resolve: () => (clearTimeout(timer), resolve()) });
        void exited.then((code) => reject(new Error(`exited ${code} before "${line}"; stdout: ${lines.join(" | ")}; stderr: ${stderr}`)));
      });
    },
    get stderr() {
      return stderr;
    },
  };
}

/** Internal (tests): runs the quickstart in `work` (which holds the packed tarballs); returns each process's output lines. */
export async function runReadmeQuickstart(readme: string, work: string): Promise<{ project: string; code: Block[]; server: string[]; agent: string[]; worker: string[] }> {
  const blocks = section(readme);
  const shell = blocks.find((b) => b.lang === "sh");
  if (shell === undefined) throw new Error("the quickstart has no shell block");
  const lines = shell.body.split("\n").map((line) => line.replace(/(^|\s+)#.*$/, "").trim()).filter((line) => line !== "");
  const build = lines.findIndex((line) => line.startsWith("npx "));
  // Everything before the build but `./dev pack` (the test packed already), verbatim but for the tarball folder.
  const setup = lines.slice(0, build).filter((line) => !line.startsWith("./dev ")).map((line) => line.replaceAll("/tmp/streamcmd/", `${work}/`));
  const project = join(work, /mkdir (\S+)/.exec(setup.join("\n"))?.[1] ?? "missing-mkdir");
  sh(setup.join("\n"), work);
  for (const block of blocks.filter((b) => b !== shell)) {
    const path = /^(?:\/\/|#) (\S+)$/.exec(block.body.split("\n")[0]!)?.[1];
    if (path === undefined) throw new Error(`a ${block.lang} block of the quickstart does not start with its file name:\n${block.body}`);
    mkdirSync(dirname(join(project, path)), { recursive: true });
    writeFileSync(join(project, path), block.body);
  }
  sh(lines[build]!, project);

  const port = await freePort();
  const env = { ...process.env, PORT: String(port), GATEWAY_URL: `http://127.0.0.1:${port}` };
  const node = (line: string) => {
    const args = line.replace(/&$/, "").trim().split(/\s+/).slice(1);
    return spawn(process.execPath, args, { cwd: project, env, stdio: ["ignore", "pipe", "pipe"] });
  };
  const [serverLine, agentLine, workerLine] = lines.slice(build + 1);
  if (workerLine === undefined) throw new Error("the quickstart should start a server, an agent and a worker");
  const serverChild = node(serverLine!);
  const children: ChildProcess[] = [serverChild];
  const server = watch(serverChild);
  try {
    await server.waitFor("listening on");
    const agentChild = node(agentLine!);
    children.push(agentChild);
    const agent = watch(agentChild);
    await agent.waitFor("connected");
    await server.waitFor("gw-1 connected");
    const workerChild = node(workerLine);
    children.push(workerChild);
    const worker = watch(workerChild);
    const code = await worker.exited;
    if (code !== 0) throw new Error(`the worker exited ${code}: ${worker.lines.join(" | ")} ${worker.stderr}`);
    return { project, code: blocks.filter((b) => b.lang === "ts"), server: server.lines, agent: agent.lines, worker: worker.lines };
  } finally {
    for (const child of children) child.kill();
  }
}
