import { spawn, type ChildProcess } from "node:child_process";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { existsSync, watch } from "node:fs";
import { dirname, join, resolve } from "node:path";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";

/** The monorepo root. */
export const repoRoot = resolve(import.meta.dirname, "../../../..");

/** What a finished command left. */
export interface RunResult {
  code: number | null;
  output: string;
}

/**
 * Runs a command without blocking this process (the registry stub below
 * answers from it), and fails with the command, its output tail and the
 * deadline when it exits non-zero or runs past `deadlineMs`.
 */
export function run(argv: string[], options: { cwd: string; env?: Record<string, string>; deadlineMs: number }): Promise<RunResult> {
  const [file, ...args] = argv;
  return new Promise((resolvePromise, reject) => {
    const child = spawn(file!, args, { cwd: options.cwd, env: { ...process.env, ...options.env }, stdio: ["ignore", "pipe", "pipe"], timeout: options.deadlineMs, killSignal: "SIGKILL" });
    let output = "";
    const keep = (c: Buffer) => (output += c.toString("utf8"));
    child.stdout.on("data", keep);
    child.stderr.on("data", keep);
    child.on("error", reject);
    child.on("close", (code, signal) => {
      if (code === 0) return resolvePromise({ code, output });
      const how = signal === "SIGKILL" ? `was stopped at its deadline of ${options.deadlineMs / 1000}s` : `exited with ${code ?? signal}`;
      reject(new Error(`\`${argv.join(" ")}\` in ${options.cwd} ${how}:\n${output.split("\n").slice(-40).join("\n")}`));
    });
  });
}

/**
 * A registry for the `@hsu` scope that has nothing: every request gets
 * npm's 404. Pointed at with `@hsu:registry`, it makes `@hsu/*`
 * unresolvable whether or not they are published on the real registry,
 * while every other package still comes from the registry npm uses.
 */
export async function startEmptyScopeRegistry(): Promise<{ url: string; close: () => Promise<void> }> {
  const server: Server = createServer((_req, res) => {
    res.writeHead(404, { "content-type": "application/json" });
    res.end(JSON.stringify({ error: "Not found" }));
  });
  await new Promise<void>((ready) => server.listen(0, "127.0.0.1", ready));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/`, close: () => new Promise((done) => server.close(() => done())) };
}

/** The commands the tool printed under "Next steps:" (after `cd`), without comments. */
export function printedSteps(stdout: string): { dir: string; commands: string[] } {
  const lines = stdout.split("\n");
  const start = lines.findIndex((l) => l.trim() === "Next steps:");
  const steps: string[] = [];
  for (const line of lines.slice(start + 1)) {
    if (line.trim() === "") break;
    steps.push(line.replace(/#.*$/, "").trim());
  }
  const [cd, ...commands] = steps;
  if (start < 0 || cd === undefined || !cd.startsWith("cd ")) throw new Error(`no "Next steps:" with a cd in the tool's output:\n${stdout}`);
  return { dir: cd.slice(3), commands };
}

/** A running unit and what it has printed so far. */
export interface RunningUnit {
  child: ChildProcess;
  output: () => string;
}

/** Starts a unit's printed run command (a shell line) on a Unix socket, in its own process group as a master does. */
export function startUnit(command: string, cwd: string, socket: string): RunningUnit {
  const child = spawn("bash", ["-c", `exec ${command}`], { cwd, env: { ...process.env, HSU_LISTEN: `unix:${socket}` }, stdio: ["ignore", "pipe", "pipe"], detached: true });
  let output = "";
  child.stdout.on("data", (c: Buffer) => (output += c.toString("utf8")));
  child.stderr.on("data", (c: Buffer) => (output += c.toString("utf8")));
  return { child, output: () => output };
}

/**
 * Resolves once the unit has bound its socket (the file appears: watched,
 * not polled), or fails after `deadlineMs` with what the unit printed.
 */
export function waitForSocket(unit: RunningUnit, socket: string, deadlineMs: number): Promise<void> {
  return new Promise((done, fail) => {
    const watcher = watch(dirname(socket), () => check());
    const timer = setTimeout(() => finish(new Error(`no socket ${socket} within ${deadlineMs / 1000}s; the unit printed:\n${unit.output()}`)), deadlineMs);
    const onExit = (code: number | null) => finish(new Error(`the unit exited (${code}) before binding ${socket}:\n${unit.output()}`));
    unit.child.once("exit", onExit);
    function finish(error?: Error) {
      watcher.close();
      clearTimeout(timer);
      unit.child.removeListener("exit", onExit);
      if (error) fail(error);
      else done();
    }
    function check() {
      if (existsSync(socket)) finish();
    }
    check();
  });
}

/** Connects to the socket and calls grpc.health.v1.Health/Check, each within `deadlineMs`. */
export async function healthCheck(socket: string, deadlineMs: number): Promise<string> {
  const definition = protoLoader.loadSync(join(repoRoot, "proto/grpc/health/v1/health.proto"), { keepCase: true, enums: String });
  const loaded = grpc.loadPackageDefinition(definition) as unknown as {
    grpc: { health: { v1: { Health: new (target: string, creds: grpc.ChannelCredentials) => grpc.Client & Record<string, Function> } } };
  };
  const client = new loaded.grpc.health.v1.Health(`unix:${socket}`, grpc.credentials.createInsecure());
  try {
    // The file appears at bind(), a moment before listen(): let the channel connect first.
    await new Promise<void>((done, fail) =>
      client.waitForReady(Date.now() + deadlineMs, (error) => (error ? fail(new Error(`no gRPC connection to ${socket}: ${error.message}`)) : done())),
    );
    return await new Promise<string>((done, fail) => {
      client["Check"]!({ service: "" }, { deadline: Date.now() + deadlineMs }, (error: Error | null, reply: { status: string }) =>
        error ? fail(new Error(`Health/Check on ${socket} failed: ${error.message}`)) : done(reply.status),
      );
    });
  } finally {
    client.close();
  }
}

/** Sends SIGTERM to the unit's process group (as the master does) and resolves with how it exited, or fails after `deadlineMs` with the unit's output. */
export function stopUnit(unit: RunningUnit, deadlineMs: number): Promise<{ code: number | null; signal: string | null; output: string }> {
  const { child } = unit;
  if (child.exitCode !== null) return Promise.reject(new Error(`the unit had already exited with ${child.exitCode}:\n${unit.output()}`));
  return new Promise((done, fail) => {
    const timer = setTimeout(() => {
      process.kill(-child.pid!, "SIGKILL");
      fail(new Error(`the unit did not exit within ${deadlineMs / 1000}s of SIGTERM:\n${unit.output()}`));
    }, deadlineMs);
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      done({ code, signal, output: unit.output() });
    });
    process.kill(-child.pid!, "SIGTERM");
  });
}
