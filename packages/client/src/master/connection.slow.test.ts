import { Code, ConnectError } from "@connectrpc/connect";
import { execFile, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EchoService } from "../../../../examples/echo/src/gen/hsu/examples/echo/v1/echo_pb.js";
import { HsuError } from "../errors.ts";
import { connectMaster } from "./connection.ts";

// A real `hsu` master (the CLI, run from source, as a user runs it) with an
// integrated echo unit, and a state dir outside the project (master.state_dir),
// found from a subdirectory the way a master written in TypeScript finds it.
const repo = join(import.meta.dirname, "..", "..", "..", "..");
const hsuBin = join(repo, "packages", "master", "src", "cli", "bin.ts");
const unit = join(repo, "examples", "echo", "src", "unit.ts");
const root = mkdtempSync(join(tmpdir(), "hsu-conn-"));
const project = join(root, "app");
const sub = join(project, "src", "deep");
const run = `${process.pid}-${Date.now()}`;

const hsu = async (...args: string[]) => {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, ["--conditions=@hsu/source", hsuBin, ...args], { cwd: project, timeout: 60_000, env: { ...process.env, NO_COLOR: "1", HSU_CONTROL: undefined } });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
};
const env = {};

beforeAll(async () => {
  mkdirSync(sub, { recursive: true });
  writeFileSync(join(project, "token"), "s3cret-token\n", { mode: 0o600 });
  writeFileSync(
    join(project, "hsu.yaml"),
    `master:\n  state_dir: ../state\n  control: { tcp: "127.0.0.1:0", token_file: ./token }\nunits:\n  echo:\n    kind: integrated\n    command: ${process.execPath}\n    args: ["--conditions=@hsu/source", "${unit}"]\n    env: { TEST_RUN: "${run}" }\n`,
  );
  const up = await hsu("up", "-d");
  expect(up.code, up.stderr).toBe(0);
}, 90_000);

afterAll(async () => {
  const down = await hsu("down");
  rmSync(root, { recursive: true, force: true });
  expect(down.code, down.stderr).toBe(0);
}, 90_000);

describe("connectMaster with a running hsu master", () => {
  it("finds the master from a subdirectory through master.state_dir and calls the integrated unit by id", async () => {
    const master = await connectMaster({ cwd: sub, env });
    try {
      expect(master.location).toEqual({ socket: join(root, "state", "control.sock"), source: "spec", file: join(project, "hsu.yaml") });
      const echo = master.client(EchoService, "echo");
      const reply = await echo.echo({ message: "hi" }, { timeoutMs: 30_000 });
      expect({ message: reply.message, unitId: reply.unitId }).toEqual({ message: "hi", unitId: "echo" });
      expect((await master.control.listUnits({})).units.map((u) => u.id)).toEqual(["echo"]);
    } finally {
      master.close();
    }
  });

  it("an unknown unit id fails the call with the master's answer, naming the unit", async () => {
    const master = await connectMaster({ cwd: project, env });
    try {
      const err = await master.client(EchoService, "nope").echo({ message: "x" }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ConnectError);
      expect((err as ConnectError).code).toBe(Code.NotFound);
      expect((err as ConnectError).rawMessage).toContain('no unit "nope"; `hsu ps` lists them');
      expect(() => master.client(EchoService, "")).toThrow("a unit id is needed");
    } finally {
      master.close();
    }
  });

  it("close() cancels a call still running (a 60 s one) and refuses new ones with Canceled", async () => {
    const master = await connectMaster({ cwd: project, env });
    const echo = master.client(EchoService, "echo");
    await echo.echo({ message: "warm" }, { timeoutMs: 30_000 });
    const slow = echo.echo({ message: "slow", delayMs: 60_000 }).catch((e: unknown) => e);
    master.close();
    expect(ConnectError.from(await slow).code).toBe(Code.Canceled);
    const after = await echo.echo({ message: "late" }).catch((e: unknown) => e);
    expect(ConnectError.from(after).code).toBe(Code.Canceled);
    expect(ConnectError.from(after).rawMessage).toBe("the master connection is closed");
  });

  it("a program that connects, calls and closes exits on its own", async () => {
    const script = join(root, "m.ts");
    writeFileSync(
      script,
      `import { connectMaster } from ${JSON.stringify(join(repo, "packages", "client", "src", "index.ts"))};
import { EchoService } from ${JSON.stringify(join(repo, "examples", "echo", "src", "gen", "hsu", "examples", "echo", "v1", "echo_pb.js"))};
const master = await connectMaster();
const r = await master.client(EchoService, "echo").echo({ message: "from a script" });
console.log(r.message);
master.close();
`,
    );
    const child = spawn(process.execPath, ["--conditions=@hsu/source", script], { cwd: sub, env: { ...process.env, HSU_CONTROL: undefined }, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d));
    child.stderr.on("data", (d: Buffer) => (out += d));
    const code = await new Promise<number | string>((resolve) => {
      const deadline = setTimeout(() => (child.kill("SIGKILL"), resolve("still running after 30 s")), 30_000);
      child.once("exit", (c) => (clearTimeout(deadline), resolve(c ?? "killed")));
    });
    expect({ code, out }).toEqual({ code: 0, out: "from a script\n" });
  }, 40_000);
});

describe("connectMaster over TCP (HSU_CONTROL=host:port)", () => {
  it("without the token says to pass it; with it, calls the unit", async () => {
    const addr = readFileSync(join(root, "state", "control-tcp.addr"), "utf8").trim();
    const refused = await connectMaster({ env: { HSU_CONTROL: addr } }).catch((e: unknown) => e);
    expect(HsuError.is(refused, "unauthenticated")).toBe(true);
    expect((refused as Error).message).toMatch(new RegExp(`^the hsu master at ${addr} \\(from HSU_CONTROL\\) refused the connection: .*; pass the control token`));
    const master = await connectMaster({ env: { HSU_CONTROL: addr }, token: "s3cret-token" });
    try {
      expect((await master.client(EchoService, "echo").echo({ message: "tcp" }, { timeoutMs: 30_000 })).message).toBe("tcp");
    } finally {
      master.close();
    }
  });
});

describe("connectMaster without a master", () => {
  it("says where it looked, and how to start one, when the spec's master is not running", async () => {
    const idle = join(root, "idle");
    mkdirSync(idle);
    writeFileSync(join(idle, "hsu.yaml"), "units: {}\n");
    const err = await connectMaster({ cwd: idle, env }).catch((e: unknown) => e);
    expect(HsuError.is(err, "unavailable")).toBe(true);
    expect((err as Error).message).toBe(
      `no hsu master is running: no control socket at ${join(idle, ".hsu", "control.sock")} (from ${join(idle, "hsu.yaml")}); start one with \`hsu up\` (or \`hsu up -d\` to run it in the background) in the project's directory, or set HSU_CONTROL to a running master's control socket`,
    );
  });

  it("a stale socket (nothing listening) is reported as a master that does not answer", async () => {
    const stale = join(root, "stale.sock");
    const { createServer } = await import("node:net");
    const server = createServer();
    await new Promise<void>((r) => server.listen(stale, r));
    // Closing unlinks the socket; a file left at the path is what a killed master leaves.
    await new Promise<void>((r) => server.close(() => r()));
    writeFileSync(stale, "");
    const err = await connectMaster({ env: { HSU_CONTROL: stale } }).catch((e: unknown) => e);
    expect(HsuError.is(err, "unavailable")).toBe(true);
    expect((err as Error).message).toMatch(new RegExp(`^the hsu master at ${stale} \\(from HSU_CONTROL\\) does not answer: .*; start one with \`hsu up\``));
  });
});
