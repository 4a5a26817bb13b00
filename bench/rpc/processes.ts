// Starting the servers for the RPC benchmark as real child processes: the TS
// echo unit through the master's own launchUnit (handshake included), and
// the grpc-js server, each in its own process group.
import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { launchUnit, type LaunchedUnit, type Registrar } from "@hsu/client";
import type { LoadResult, LoadSpec } from "./load.ts";

const here = (file: string) => fileURLToPath(new URL(file, import.meta.url));
/** The TS echo unit (examples/echo). */
export const echoUnitFile = here("../../examples/echo/src/unit.ts");

/** A running server of either stack. */
export interface BenchServer {
  readonly address: string;
  readonly pid: number;
  stop(): Promise<void>;
}

/** Starts the echo unit the way a master does and waits for its handshake. */
export async function startHsuUnit(
  registrar: Registrar,
  id: string,
  listen: "unix" | "tcp",
  nodeFlags: readonly string[] = [],
): Promise<BenchServer> {
  const unit: LaunchedUnit = await launchUnit({
    id,
    command: process.execPath,
    args: ["--conditions=@hsu/source", ...nodeFlags, echoUnitFile],
    registrar,
    listen,
    stdio: "pipe",
  });
  return {
    address: unit.info.address,
    pid: unit.pid,
    stop: async () => void (await unit.stop(3000)),
  };
}

/** Starts the grpc-js server (or the raw node:http2 experiment) and waits for its "listening" line. */
export async function startGrpcjsServer(
  address: string,
  nodeFlags: readonly string[] = [],
  file: "./grpcjs-server.ts" | "./raw-h2-server.ts" = "./grpcjs-server.ts",
): Promise<BenchServer> {
  const child = spawn(process.execPath, ["--conditions=@hsu/source", ...nodeFlags, here(file), address], {
    stdio: ["pipe", "pipe", "inherit"],
    detached: true,
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const bound = await firstLine(child, /^listening (.+)$/);
  return {
    address: bound,
    pid: child.pid!,
    stop: async () => {
      child.kill("SIGTERM");
      const timer = setTimeout(() => killGroup(child), 3000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** A long-lived load generator process (load.ts) for one client stack. */
export interface LoadWorker {
  run(spec: LoadSpec): Promise<LoadResult>;
  /** Closes its stdin and waits for it to exit (writing its CPU profile, if any). */
  close(): Promise<void>;
}

/** Starts load.ts; each `run` sends one spec and waits for its result line. */
export function startLoadWorker(nodeFlags: readonly string[] = []): LoadWorker {
  const child = spawn(process.execPath, ["--conditions=@hsu/source", ...nodeFlags, here("./load.ts")], {
    stdio: ["pipe", "pipe", "inherit"],
    detached: true,
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (c) => resolve(c)));
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  return {
    async run(spec) {
      child.stdin!.write(`${JSON.stringify(spec)}\n`);
      const next = await Promise.race([lines.next(), exited.then((c) => ({ done: true as const, value: `exit ${c}` }))]);
      if (next.done) throw new Error(`the load generator exited before answering (${next.value})`);
      return JSON.parse(next.value) as LoadResult;
    },
    async close() {
      child.stdin!.end();
      const timer = setTimeout(() => killGroup(child), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

function firstLine(child: ChildProcess, pattern: RegExp): Promise<string> {
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    lines.on("line", (line) => {
      const m = pattern.exec(line);
      if (m) resolve(m[1]!);
    });
    child.once("exit", (code) => reject(new Error(`server exited with ${code} before it was listening`)));
  });
}

function killGroup(child: ChildProcess): void {
  try {
    process.kill(-child.pid!, "SIGKILL");
  } catch {
    // Already gone.
  }
}
