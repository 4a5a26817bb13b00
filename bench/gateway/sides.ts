// The processes of the gateway bench: the HSU master (on a generated
// hsu.yaml with the Go echo unit and, when packages/gateway has its
// executable, the gateway unit), grpc-gateway beside the same unit, and the
// load generator. Each runs in its own process group; every wait has a deadline.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createWriteStream, existsSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { connectMaster, type MasterConnection } from "@hsu/client";
import { EchoService } from "../../examples/echo/src/gen/hsu/examples/echo/v1/echo_pb.js";
import type { LoadSpec } from "./load.ts";
import type { RoundResult } from "./summary.ts";

export const repo = fileURLToPath(new URL("../../", import.meta.url));
const here = (file: string) => fileURLToPath(new URL(file, import.meta.url));
/** Where setup.sh puts grpc-gateway and the Go echo unit. */
export const binDir = join(repo, ".cache/bench-gateway/bin");

/** A free TCP port on 127.0.0.1 (closed again at once, so the master's gateway unit can take it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

/** How the HSU gateway is started from this checkout, or why it cannot be. */
export function gatewayCommand(build: "source" | "dist"): { command: string; args: string[] } | { missing: string } {
  const source = join(repo, "packages/gateway/src/main.ts");
  const dist = join(repo, "packages/gateway/dist/main.js");
  if (build === "source") {
    if (!existsSync(source)) return { missing: "packages/gateway/src/main.ts (the hsu-gateway executable) is not on this checkout" };
    return { command: process.execPath, args: ["--conditions=@hsu/source", source] };
  }
  if (!existsSync(dist)) return { missing: `${dist} is missing: build it (pnpm --filter @hsu/gateway build)` };
  return { command: process.execPath, args: [dist] };
}

/** The echo unit's descriptors for the gateway route: `buf build` of bench/gateway/proto (imports included). */
export function buildDescriptors(out: string): void {
  const buf = join(repo, "node_modules/.bin/buf");
  const r = spawnSync(buf, ["build", "-o", out], { cwd: here("."), encoding: "utf8", timeout: 60_000 });
  if (r.status !== 0) throw new Error(`buf build in bench/gateway failed (${r.status ?? r.signal}): ${r.stderr}`);
}

/** The echo unit's command line: `go` (setup.sh's build of examples/echo-go), `ts` (examples/echo from its TypeScript sources) or a binary. */
export function unitCommand(unit: string): { command: string; args: string[]; what: string } {
  if (unit === "go") {
    const bin = join(binDir, "echo-go");
    if (!existsSync(bin)) throw new Error(`no Go echo unit at ${bin}: run \`bash bench/gateway/setup.sh\` (it builds examples/echo-go), or pass --unit=ts or --unit=BIN`);
    return { command: bin, args: [], what: "the Go echo unit (examples/echo-go)" };
  }
  if (unit === "ts") return { command: process.execPath, args: ["--conditions=@hsu/source", join(repo, "examples/echo/src/unit.ts")], what: "the TypeScript echo unit (examples/echo, from source)" };
  if (!existsSync(unit)) throw new Error(`--unit=${unit}: no such file (expected go, ts or the path of an echo unit binary)`);
  return { command: unit, args: [], what: unit };
}

/** What the hsu.yaml holds. */
export interface SpecOptions {
  unitCommand: string;
  unitArgs?: readonly string[];
  listen: "unix" | "tcp";
  /** The gateway unit; left out when undefined. */
  gateway?: { command: string; args: string[]; port: number; descriptors: string };
}

/** The hsu.yaml: the echo unit started at `hsu up` (not on demand, never idle) and, optionally, the gateway with one open route to it. */
export function specYaml(o: SpecOptions): string {
  const q = (s: string) => JSON.stringify(s);
  let yaml =
    `version: 1\nmaster:\n  id: gwbench\nunits:\n` +
    `  echo:\n    kind: integrated\n    command: ${q(o.unitCommand)}\n` +
    (o.unitArgs?.length ? `    args: [${o.unitArgs.map(q).join(", ")}]\n` : "") +
    `    listen: ${o.listen}\n    on_demand: false\n`;
  if (o.gateway) {
    const g = o.gateway;
    yaml +=
      `  gateway:\n    kind: managed\n    command: ${q(g.command)}\n    args: [${g.args.map(q).join(", ")}]\n` +
      `    gateway:\n      listen: 127.0.0.1:${g.port}\n      routes:\n        - unit: echo\n          descriptors: ${q(g.descriptors)}\n` +
      `          services: [hsu.examples.echo.v1.EchoService]\n          auth: none\n`;
  }
  return yaml;
}

/** The master as the bench runs it. */
export interface MasterSide {
  socket: string;
  /** The echo unit's address as the master reports it (`unix:/path` or host:port). */
  unitAddress: string;
  pid: number;
  stop(): Promise<void>;
}

/** Runs `hsu up -f hsu.yaml` in the foreground (its own process group) and waits until an Echo through it answers. */
export async function startMaster(dir: string, yaml: string, build: "source" | "dist", deadlineMs = 60_000): Promise<MasterSide> {
  const file = join(dir, "hsu.yaml");
  writeFileSync(file, yaml);
  const cli = build === "source" ? ["--conditions=@hsu/source", join(repo, "packages/master/src/cli/bin.ts")] : [join(repo, "packages/master/dist/cli/bin.js")];
  const logFile = join(dir, "master.log");
  const child = spawn(process.execPath, [...cli, "up", "-f", file], { cwd: dir, detached: true, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, NO_COLOR: "1" } });
  const log = createWriteStream(logFile);
  child.stdout!.pipe(log);
  child.stderr!.pipe(log);
  let exit: string | undefined;
  const exited = new Promise<void>((resolve) => child.once("exit", (code, signal) => ((exit = `exit ${code ?? signal}`), resolve())));
  const socket = join(dir, ".hsu/control.sock");
  const stop = async () => {
    if (exit === undefined) child.kill("SIGTERM");
    await Promise.race([exited, sleep(10_000)]);
    killGroup(child);
  };
  const end = performance.now() + deadlineMs;
  let last = "";
  let master: MasterConnection | undefined;
  try {
    while (performance.now() < end) {
      if (exit !== undefined) throw new Error(`the master stopped (${exit}) before the echo unit answered; its log, ${logFile}:\n${tail(logFile)}`);
      try {
        master ??= existsSync(socket) ? await connectMaster({ socket, connectTimeoutMs: 2000 }) : undefined;
        if (master) {
          await master.client(EchoService, "echo").echo({ message: "ready?" }, { timeoutMs: 5000 });
          const unit = (await master.control.getUnit({ id: "echo" })).unit;
          if (unit?.address) return { socket, unitAddress: unit.address, pid: child.pid!, stop };
          last = "the master reports no address for the echo unit";
        }
      } catch (e) {
        last = (e as Error).message;
      }
      await sleep(100);
    }
    throw new Error(`the master did not answer an Echo to its echo unit within ${deadlineMs} ms (last: ${last}); its log, ${logFile}:\n${tail(logFile)}`);
  } catch (e) {
    await stop();
    throw e;
  } finally {
    master?.close();
  }
}

/** Polls `url` (a POST /v1/echo) until it answers 200 or the deadline passes; returns why not, or undefined. */
export async function waitForRest(url: string, deadlineMs: number, gone: () => string | undefined): Promise<string | undefined> {
  const end = performance.now() + deadlineMs;
  let last = "no answer yet";
  while (performance.now() < end) {
    const why = gone();
    if (why) return why;
    try {
      const res = await fetch(new URL("/v1/echo", url), { method: "POST", body: JSON.stringify({ message: "ready?" }), headers: { "content-type": "application/json" }, signal: AbortSignal.timeout(2000) });
      const text = await res.text();
      if (res.status === 200) return undefined;
      last = `HTTP ${res.status}: ${text.slice(0, 200)}`;
    } catch (e) {
      last = (e as Error).message;
    }
    await sleep(100);
  }
  return `${url}/v1/echo did not answer 200 within ${deadlineMs} ms (last: ${last})`;
}

/** A running grpc-gateway. */
export interface RestServer {
  url: string;
  pid: number;
  stop(): Promise<void>;
}

/** Starts the grpc-gateway binary in front of `upstream` and waits for its "listening" line. */
export async function startGrpcGateway(bin: string, upstream: string): Promise<RestServer> {
  if (!existsSync(bin)) throw new Error(`no ${bin}: run \`bash bench/gateway/setup.sh\` first (it builds grpc-gateway with the Go toolchain)`);
  const child = spawn(bin, ["--listen=127.0.0.1:0", `--upstream=${upstream}`], { stdio: ["ignore", "pipe", "inherit"], detached: true });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const address = await firstLine(child, /^listening (.+)$/, 10_000);
  return {
    url: `http://${address}`,
    pid: child.pid!,
    stop: async () => {
      child.kill("SIGTERM");
      await Promise.race([exited, sleep(3000)]);
      killGroup(child);
    },
  };
}

/** The load generator process (load.ts). */
export interface LoadWorker {
  run(spec: LoadSpec): Promise<RoundResult>;
  close(): Promise<void>;
}

export function startLoadWorker(): LoadWorker {
  const child = spawn(process.execPath, ["--conditions=@hsu/source", here("./load.ts")], { stdio: ["pipe", "pipe", "inherit"], detached: true });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (c) => resolve(c)));
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  return {
    async run(spec) {
      child.stdin!.write(`${JSON.stringify(spec)}\n`);
      const next = await Promise.race([lines.next(), exited.then((c) => ({ done: true as const, value: `exit ${c}` }))]);
      if (next.done) throw new Error(`the load generator exited before answering (${next.value})`);
      const r = JSON.parse(next.value) as RoundResult | { error: string };
      if ("error" in r) throw new Error(`${spec.kind} ${spec.target}: ${r.error}`);
      return r;
    },
    async close() {
      child.stdin!.end();
      await Promise.race([exited, sleep(10_000)]);
      killGroup(child);
    },
  };
}

function firstLine(child: ChildProcess, pattern: RegExp, deadlineMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${child.spawnfile} printed no "listening" line within ${deadlineMs} ms`)), deadlineMs);
    createInterface({ input: child.stdout! }).on("line", (line) => {
      const m = pattern.exec(line);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`${child.spawnfile} exited with ${code} before it was listening`));
    });
  });
}

/** The last 30 lines of a log file (the temp dir is removed at the end, so errors quote it). */
export function tail(file: string): string {
  try {
    return readFileSync(file, "utf8").split("\n").slice(-30).join("\n");
  } catch {
    return "(no log)";
  }
}

function killGroup(child: ChildProcess): void {
  try {
    process.kill(-child.pid!, "SIGKILL");
  } catch {
    // Already gone.
  }
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref());
