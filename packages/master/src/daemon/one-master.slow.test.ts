import { randomBytes } from "node:crypto";
import {
  chmodSync,
  chownSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { ControlService } from "@hsu/proto";
import { listenControl } from "../control/listen.ts";
import { acquireStateLock, isStateLocked, lockHolder } from "./lock.ts";
import { ownedProcesses } from "./owned-processes.ts";
import { alive, hsu, markedUnits, procState, until } from "../test-support/hsu-cli.ts";

const echoUnit = join(import.meta.dirname, "..", "..", "..", "..", "examples", "echo", "src", "unit.ts");
const run = randomBytes(6).toString("hex");
const dirs: string[] = [];

function project(spec: string, parent = tmpdir()): string {
  const dir = mkdtempSync(join(parent, "hsu-one-"));
  dirs.push(dir);
  writeFileSync(join(dir, "hsu.yaml"), spec);
  return dir;
}

/** Live processes of this test run by unit (group leaders carrying TEST_RUN; integrated units too). */
const unitProcesses = () => markedUnits(`TEST_RUN=${run}`);

/** Live `hsu` processes (bin.ts) working on this project: by their -f argument or their cwd. */
function masterProcesses(dir: string): number[] {
  const out: number[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const cmd = readFileSync(`/proc/${name}/cmdline`, "utf8").split("\0");
      if (!cmd.some((a) => a.endsWith("cli/bin.ts"))) continue;
      if (!cmd.includes(join(dir, "hsu.yaml")) && readlinkSync(`/proc/${name}/cwd`) !== dir) continue;
      if (procState(Number(name)) !== "Z") out.push(Number(name));
    } catch {
      // Exited while we looked.
    }
  }
  return out;
}

const openFiles = (pid: number) =>
  readdirSync(`/proc/${pid}/fd`).map((fd) => {
    try {
      return readlinkSync(`/proc/${pid}/fd/${fd}`);
    } catch {
      return "";
    }
  });

/** Names, sizes and modification times of everything under a dir: "touched nothing" means this stays equal. */
function snapshot(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      const st = lstatSync(p);
      out.push(`${p} ${st.mode.toString(8)} ${st.isDirectory() ? "" : st.size} ${st.mtimeMs}`);
      if (st.isDirectory()) walk(p);
    }
  };
  walk(dir);
  return out;
}

/** Kills what a test left running, so one failure does not spill into the next test's counts. */
function killLeftovers(): void {
  for (const dir of dirs) {
    for (const pid of masterProcesses(dir)) {
      process.kill(pid, "SIGCONT");
      process.kill(pid, "SIGKILL");
    }
  }
  for (const pids of unitProcesses().values()) for (const pid of pids) process.kill(-pid, "SIGKILL");
}

afterEach(killLeftovers);

afterAll(async () => {
  killLeftovers();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe("one master per state dir", () => {
  it("refuses a second master while the first is SIGSTOPped, names its pid, and leaves one master and one process per unit", async () => {
    const dir = project(`units:
  echo:
    kind: integrated
    command: ${process.execPath}
    args: ["--conditions=@hsu/source", "${echoUnit}"]
    on_demand: false
    env: { TEST_RUN: "${run}" }
  steady:
    command: sh
    args: ["-c", "exec sleep 600"]
    env: { TEST_RUN: "${run}" }
`);
    const up = await hsu(dir, "up", "--detach");
    expect(up.code, up.stderr).toBe(0);
    const pid = Number(/master running \(pid (\d+)\)/.exec(up.stderr)?.[1]);
    await until("echo and steady run", () => unitProcesses().get("echo")?.length === 1 && unitProcesses().get("steady")?.length === 1);
    const before = unitProcesses();
    // The lock is the master's alone: no unit holds it open, so none can outlive the master holding it.
    for (const unitPid of [...before.values()].flat()) expect(openFiles(unitPid).filter((f) => f.endsWith("master.lock")), `unit pid ${unitPid}`).toEqual([]);
    process.kill(pid, "SIGSTOP");
    try {
      await until("the master is stopped", () => procState(pid) === "T");
      const files = snapshot(dir);
      for (const args of [["up", "--detach"], ["up"], ["daemon", "-f", "hsu.yaml"]]) {
        const r = await hsu(dir, ...args);
        expect(r.code, args.join(" ")).not.toBe(0);
        expect(r.stderr, args.join(" ")).toContain(`pid ${pid} holds the state dir ${join(dir, ".hsu")}`);
        expect(r.stderr, args.join(" ")).toContain(`kill -CONT ${pid}`);
        expect(r.stderr, args.join(" ")).not.toMatch(/at .*\.ts:\d+/);
      }
      const down = await hsu(dir, "down");
      expect(down.code).toBe(1);
      expect(down.stderr).toContain(`kill -CONT ${pid}`);
      expect(snapshot(dir), "files after the refusals").toEqual(files);
    } finally {
      process.kill(pid, "SIGCONT");
    }
    expect(masterProcesses(dir)).toEqual([pid]);
    expect(unitProcesses()).toEqual(before);
    expect(lockHolder(join(dir, ".hsu"))).toEqual({ pid, stopped: false });
    const ps = await hsu(dir, "ps", "--json");
    expect(ps.code, ps.stderr).toBe(0);
    const down = await hsu(dir, "down");
    expect(down.code, down.stderr).toBe(0);
    expect(down.stdout).toContain(`the master (pid ${pid}); none of their processes is left`);
    // Right when down returns: nothing is left, nothing holds the state dir.
    expect(alive(pid)).toBe(false);
    expect(unitProcesses().size).toBe(0);
    expect(ownedProcesses(join(dir, ".hsu"))).toEqual([]);
    expect(await isStateLocked(join(dir, ".hsu"))).toBe(false);
    expect(masterProcesses(dir)).toEqual([]);
  }, 180_000);

  it("five `hsu up -d` at once start one master; the others fail and say who holds the state dir", async () => {
    const dir = project(`units:
  steady:
    command: sh
    args: ["-c", "exec sleep 600"]
    env: { TEST_RUN: "${run}" }
`);
    const results = await Promise.all([1, 2, 3, 4, 5].map(() => hsu(dir, "up", "--detach")));
    const won = results.filter((r) => r.code === 0);
    expect(won, results.map((r) => r.stderr).join("\n---\n")).toHaveLength(1);
    const pid = Number(/master running \(pid (\d+)\)/.exec(won[0]!.stderr)?.[1]);
    // Each loser names the winner: not a CLI that only probed the lock, not a pid from before.
    for (const r of results.filter((x) => x.code !== 0)) {
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr).toContain(`pid ${pid} holds the state dir ${join(dir, ".hsu")}`);
    }
    await until("steady runs", () => unitProcesses().get("steady")?.length === 1);
    expect(masterProcesses(dir)).toEqual([pid]);
    expect(lockHolder(join(dir, ".hsu")).pid).toBe(pid);
    expect((await hsu(dir, "down")).code).toBe(0);
    expect(masterProcesses(dir)).toEqual([]);
    expect(unitProcesses().size).toBe(0);
  }, 120_000);

  it("never deletes a regular file, a directory or a symlink at master.control.socket, nor takes over a live socket", async () => {
    const dir = project(`units:
  steady:
    command: sh
    args: ["-c", "exec sleep 600"]
    env: { TEST_RUN: "${run}" }
master:
  control:
    socket: ./ctl.sock
`);
    const path = join(dir, "ctl.sock");
    writeFileSync(join(dir, "precious"), "keep me");
    const cases: [string, () => void, () => void][] = [
      ["a regular file", () => writeFileSync(path, "keep me"), () => expect(readFileSync(path, "utf8")).toBe("keep me")],
      ["a directory", () => (mkdirSync(path), writeFileSync(join(path, "inside"), "x")), () => expect(readFileSync(join(path, "inside"), "utf8")).toBe("x")],
      ["a symlink", () => symlinkSync(join(dir, "precious"), path), () => expect(readlinkSync(path)).toBe(join(dir, "precious"))],
    ];
    for (const [what, make, intact] of cases) {
      rmSync(path, { recursive: true, force: true });
      make();
      for (const args of [["up", "--detach"], ["up"]]) {
        const r = await hsu(dir, ...args);
        expect(r.code, `${what}: ${args.join(" ")}`).toBe(1);
        expect(r.stderr, what).toContain(`master.control.socket: ${path} is ${what}, not a socket`);
        intact();
        expect(unitProcesses().size, what).toBe(0);
        expect(await isStateLocked(join(dir, ".hsu")), what).toBe(false);
      }
    }
    expect(readFileSync(join(dir, "precious"), "utf8")).toBe("keep me");
    // A socket someone serves (another state dir's master, say) is not taken over either.
    rmSync(path, { recursive: true, force: true });
    const other = createServer().listen(path);
    await new Promise((r) => other.once("listening", r));
    try {
      const r = await hsu(dir, "up", "--detach");
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`master.control.socket: another process listens on ${path}`);
      expect(lstatSync(path).isSocket()).toBe(true);
    } finally {
      await new Promise((r) => other.close(r));
    }
  }, 120_000);

  it("refuses a state_dir that is another user's, writable by others, or a symlink", async () => {
    const spec = (stateDir: string) => `units:
  steady:
    command: sh
    args: ["-c", "exec sleep 600"]
    env: { TEST_RUN: "${run}" }
master:
  state_dir: ${stateDir}
`;
    const dir = project(spec("./state"));
    const state = join(dir, "state");
    const attempts: [string, () => void, string][] = [
      ["mode 0777", () => (mkdirSync(state), chmodSync(state, 0o777)), "is writable by others (mode 0777)"],
      ["a symlink", () => (mkdirSync(join(dir, "real")), symlinkSync(join(dir, "real"), state)), `is a symlink (to ${join(dir, "real")})`],
      ["a regular file", () => writeFileSync(state, "x"), "exists and is not a directory"],
    ];
    if (process.getuid?.() === 0) attempts.unshift(["uid 65534's", () => (mkdirSync(state, { mode: 0o700 }), chownSync(state, 65534, 65534)), "is owned by uid 65534"]);
    for (const [what, make, message] of attempts) {
      rmSync(state, { recursive: true, force: true });
      make();
      const files = snapshot(dir);
      for (const args of [["up", "--detach"], ["up"], ["daemon", "-f", "hsu.yaml"]]) {
        const r = await hsu(dir, ...args);
        expect(r.code, `${what}: ${args.join(" ")}`).toBe(1);
        expect(r.stderr, what).toContain(`master.state_dir: ${state} ${message}`);
        expect(unitProcesses().size, what).toBe(0);
      }
      expect(snapshot(dir), `${what}: nothing touched`).toEqual(files);
    }
    rmSync(join(dir, "real"), { recursive: true, force: true });
    rmSync(state, { recursive: true, force: true });
    const ok = await hsu(dir, "up", "--detach");
    expect(ok.code, ok.stderr).toBe(0);
    expect(statSync(state).mode & 0o777).toBe(0o700);
    expect((await hsu(dir, "down")).code).toBe(0);
  }, 120_000);

  it("leaves no hsu-run-* dir after up and down with a long state path, nor after kill -9 and the next up and down", async () => {
    const deep = join(tmpdir(), `hsu-deep-${"d".repeat(60)}`);
    mkdirSync(deep, { recursive: true, mode: 0o700 });
    dirs.push(deep);
    const dir = project(
      `units:
  steady:
    command: sh
    args: ["-c", "exec sleep 600"]
    env: { TEST_RUN: "${run}" }
`,
      deep,
    );
    const record = join(dir, ".hsu", "run-dir");
    const runDirOf = () => readFileSync(record, "utf8").trim();
    expect((await hsu(dir, "up", "--detach")).code).toBe(0);
    const first = runDirOf();
    expect(first.startsWith(join(tmpdir(), "hsu-run-"))).toBe(true);
    expect(statSync(first).mode & 0o777).toBe(0o700);
    expect((await hsu(dir, "down")).code).toBe(0);
    expect(existsSync(first)).toBe(false);
    expect(existsSync(record)).toBe(false);
    // A master killed -9 leaves its run dir; the next one takes it over (its units may listen there) and removes it at exit.
    expect((await hsu(dir, "up", "--detach")).code).toBe(0);
    const crashed = runDirOf();
    const pid = lockHolder(join(dir, ".hsu")).pid!;
    process.kill(pid, "SIGKILL");
    await until("the killed master is gone", () => !alive(pid));
    expect(existsSync(crashed)).toBe(true);
    // No master, but its unit lives on (to be taken over): down says so rather than "nothing to stop".
    const orphan = await hsu(dir, "down");
    expect(orphan.code).toBe(1);
    expect(orphan.stderr).toMatch(/no master is running, but 1 process\(es\) of its units are left \(pid \d+ \(steady\)\)/);
    expect((await hsu(dir, "up", "--detach")).code).toBe(0);
    const next = runDirOf();
    expect(next).toBe(crashed);
    expect((await hsu(dir, "down")).code).toBe(0);
    expect(existsSync(next)).toBe(false);
    expect(unitProcesses().size).toBe(0);
  }, 120_000);

  it("down gives up at its deadline when the master answers but never exits, naming what still runs", async () => {
    const dir = project(`units:
  steady:
    command: sh
    args: ["-c", "exec sleep 600"]
    graceful_timeout: 1s
`);
    const stateDir = join(dir, ".hsu");
    mkdirSync(stateDir, { mode: 0o700 });
    // A master that says it stopped everything, and stays: it holds the lock and serves the control socket.
    const lock = await acquireStateLock(stateDir);
    const control = await listenControl({
      socketPath: join(stateDir, "control.sock"),
      routes: (router) => router.service(ControlService, { listUnits: () => ({ units: [] }), shutdownMaster: () => ({ stopped: ["steady"] }) }),
    });
    try {
      const r = await hsu(dir, "down");
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`hsu down: the master (pid ${process.pid}) still holds ${stateDir} 16s after \`hsu down\` asked it to stop; still alive: the master (pid ${process.pid})`);
    } finally {
      await control.close();
      lock.release();
    }
  }, 120_000);
});
