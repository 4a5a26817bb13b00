import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer as createHttpServer, type Server as HttpServer } from "node:http";
import { createServer as createNetServer, type Server as NetServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { runHealthCheck } from "./run.ts";
import { validateHealthCheckSpec } from "./validate.ts";

const where = { unit: "t", field: "health" };
const check = (input: Record<string, unknown>) => validateHealthCheckSpec({ timeoutMs: 1500, ...input }, where);

let dir: string;
const cleanups: (() => Promise<unknown> | void)[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "hsu-health-"));
});

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  await rm(dir, { recursive: true, force: true });
});

async function listen<S extends HttpServer | NetServer>(server: S, at: number | string = 0): Promise<S> {
  server.listen(typeof at === "number" ? { host: "127.0.0.1", port: at } : { path: at });
  await once(server, "listening");
  return server;
}

async function closeServer(server: HttpServer | NetServer): Promise<void> {
  if (!server.listening) return;
  (server as HttpServer).closeAllConnections?.();
  await new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve())));
}

function startChild(cmd: string, args: string[]): ChildProcess {
  const child = spawn(cmd, args, { stdio: "ignore", detached: true });
  cleanups.push(async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, "exit");
    process.kill(-(child.pid as number), "SIGKILL");
    await exited;
  });
  return child;
}

/** True when the pid is gone or a zombie (an orphaned zombie may wait for a reaper). */
async function deadOrZombie(pid: number): Promise<boolean> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z");
  } catch {
    return true;
  }
}

describe("http check", () => {
  it("fails on 503, recovers on 200, checks the body, and times out on a hung handler", async () => {
    let status = 200;
    let hang = false;
    const server = await listen(
      createHttpServer((req, res) => {
        if (hang) return; // never answers
        res.writeHead(status, { "content-type": "text/plain" });
        res.end(`status=${status} path=${req.url}`);
      }),
    );
    cleanups.push(() => closeServer(server));
    const { port } = server.address() as { port: number };
    const spec = check({ type: "http", url: `http://127.0.0.1:${port}/healthz` });
    expect(await runHealthCheck(spec, { pid: 0 })).toEqual({ ok: true, detail: "HTTP 200" });
    status = 503;
    expect(await runHealthCheck(spec, { pid: 0 })).toEqual({ ok: false, detail: "HTTP 503, expected 200-399" });
    status = 200;
    expect((await runHealthCheck(spec, { pid: 0 })).ok).toBe(true);

    const body = check({ type: "http", url: `http://127.0.0.1:${port}/x`, bodyContains: "path=/x" });
    expect((await runHealthCheck(body, { pid: 0 })).ok).toBe(true);
    const wrongBody = check({ type: "http", url: `http://127.0.0.1:${port}/y`, bodyContains: "path=/x" });
    expect(await runHealthCheck(wrongBody, { pid: 0 })).toMatchObject({ ok: false, detail: expect.stringMatching(/does not contain/) });

    hang = true;
    const quick = check({ type: "http", url: `http://127.0.0.1:${port}/`, timeoutMs: 200 });
    expect(await runHealthCheck(quick, { pid: 0 })).toMatchObject({ ok: false, detail: expect.stringMatching(/timed out after 200 ms/) });
    hang = false;

    await closeServer(server);
    expect(await runHealthCheck(spec, { pid: 0 })).toMatchObject({ ok: false, detail: expect.stringMatching(/ECONNREFUSED/) });
  });
});

describe("tcp check", () => {
  it("follows a TCP listener that closes and reopens on the same port", async () => {
    let server = await listen(createNetServer((s) => s.destroy()));
    const { port } = server.address() as { port: number };
    cleanups.push(() => closeServer(server));
    const spec = check({ type: "tcp", port });
    expect(await runHealthCheck(spec, { pid: 0 })).toMatchObject({ ok: true });
    await closeServer(server);
    expect(await runHealthCheck(spec, { pid: 0 })).toMatchObject({ ok: false, detail: expect.stringMatching(/ECONNREFUSED/) });
    server = await listen(createNetServer((s) => s.destroy()), port);
    expect(await runHealthCheck(spec, { pid: 0 })).toMatchObject({ ok: true });
  });

  it("follows a Unix socket listener that closes and reopens", async () => {
    const path = join(dir, "t.sock");
    let server = await listen(createNetServer((s) => s.destroy()), path);
    cleanups.push(() => closeServer(server));
    const spec = check({ type: "tcp", path });
    expect(await runHealthCheck(spec, { pid: 0 })).toMatchObject({ ok: true });
    await closeServer(server);
    expect(await runHealthCheck(spec, { pid: 0 })).toMatchObject({ ok: false, detail: expect.stringMatching(/ENOENT|ECONNREFUSED/) });
    server = await listen(createNetServer((s) => s.destroy()), path);
    expect(await runHealthCheck(spec, { pid: 0 })).toMatchObject({ ok: true });
  });
});

describe("exec check", () => {
  it("passes on exit 0, fails on exit 1 with its output, and recovers", async () => {
    const flag = join(dir, "ok");
    const spec = check({ type: "exec", command: "sh", args: ["-c", 'test -f "$FLAG" || { echo "no flag here"; exit 1; }'], env: { FLAG: flag } });
    expect(await runHealthCheck(spec, { pid: 0 })).toEqual({ ok: false, detail: expect.stringMatching(/exited 1: no flag here/) });
    await writeFile(flag, "");
    expect(await runHealthCheck(spec, { pid: 0 })).toMatchObject({ ok: true });
    expect(await runHealthCheck(check({ type: "exec", command: join(dir, "missing") }), { pid: 0 })).toMatchObject({ ok: false, detail: expect.stringMatching(/ENOENT/) });
  });

  it("kills a hanging check and everything it started when the timeout hits", async () => {
    const pids = join(dir, "pids");
    const spec = check({ type: "exec", command: "sh", args: ["-c", `sleep 30 & echo "$$ $!" > "${pids}"; wait`], timeoutMs: 1000 });
    const result = await runHealthCheck(spec, { pid: 0 });
    expect(result).toMatchObject({ ok: false, detail: expect.stringMatching(/timed out after 1000 ms.*process group was killed/) });
    const [shell, sleeper] = (await readFile(pids, "utf8")).trim().split(" ").map(Number);
    // SIGKILL to the group is delivered before the probe returns; an orphan may need a moment to be reaped.
    for (const pid of [shell!, sleeper!]) {
      const deadline = Date.now() + 10_000;
      while (!(await deadOrZombie(pid)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(await deadOrZombie(pid)).toBe(true);
    }
  });
});

describe("process check", () => {
  it("sees a live child, reports it gone after a kill, and follows a new pid", async () => {
    const target = { pid: 0 };
    const spec = check({ type: "process" });
    const child = startChild("sleep", ["30"]);
    target.pid = child.pid!;
    expect(await runHealthCheck(spec, target)).toMatchObject({ ok: true });
    const exited = once(child, "exit");
    child.kill("SIGKILL");
    await exited;
    expect(await runHealthCheck(spec, target)).toMatchObject({ ok: false, detail: expect.stringMatching(/does not exist/) });
    target.pid = startChild("sleep", ["30"]).pid!;
    expect(await runHealthCheck(spec, target)).toMatchObject({ ok: true });
  });

  it("reports a zombie as not alive", async () => {
    // `sleep 0` becomes a zombie: its parent execs into `sleep 30`, which never waits for children.
    const parent = startChild("sh", ["-c", "sleep 0 & exec sleep 30"]);
    const childrenFile = `/proc/${parent.pid}/task/${parent.pid}/children`;
    let zombie = 0;
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      const kids = (await readFile(childrenFile, "utf8").catch(() => "")).trim();
      if (kids && (await deadOrZombie(Number(kids.split(" ")[0])))) {
        zombie = Number(kids.split(" ")[0]);
        break;
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(zombie).toBeGreaterThan(0);
    expect(await runHealthCheck(check({ type: "process" }), { pid: zombie })).toMatchObject({ ok: false, detail: expect.stringMatching(/zombie/) });
  });
});
