import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createFakeClock } from "../clock.ts";
import { createLogCollector } from "../logs/collector.ts";
import { parseLogRecord } from "../logs/format.ts";
import type { LogCollector } from "../logs/types.ts";
import type { LogSink } from "../supervisor/ports.ts";
import { readStatSync } from "../resources/proc.ts";
import { createSupervisor, type Supervisor } from "../supervisor/supervisor.ts";
import { createDurableOs, OWNER_ENV, type DurableOs, type DurableOsOptions } from "./durable-os.ts";
import { ProcessBook, type ProcessRecord } from "./process-book.ts";

let state: string;
let logDir: string;
let owner: string;
let logs: LogCollector;
let supervisor: Supervisor | undefined;
const started: ChildProcess[] = [];

beforeEach(() => {
  state = mkdtempSync(join(tmpdir(), "hsu-durable-"));
  logDir = join(state, "logs");
  mkdirSync(logDir);
  owner = randomBytes(8).toString("hex");
  logs = createLogCollector({ dir: logDir });
});

afterEach(async () => {
  await supervisor?.shutdown();
  supervisor = undefined;
  for (const c of started.splice(0)) if (c.exitCode === null && c.signalCode === null) process.kill(-c.pid!, "SIGKILL");
  await logs.close();
  rmSync(state, { recursive: true, force: true });
});

async function until(what: string, check: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

let lastOs: DurableOs | undefined;
const durable = (extra: Partial<DurableOsOptions> = {}): DurableOs => (lastOs = createDurableOs({ stateDir: state, owner, logSink: logs, ...extra }));
/** Ended runs' records and capture files go in a batch after the exit: waits for it. */
const removed = () => lastOs!.idle();
const logged = (unit: string): string[] =>
  existsSync(join(logDir, `${unit}.log`))
    ? readFileSync(join(logDir, `${unit}.log`), "utf8").split("\n").filter((l) => l !== "").map((l) => parseLogRecord(l)!.text)
    : [];
const records = () => new ProcessBook(state).load();
const capture = (unit: string) => join(logDir, `${unit}.stdout`);

/** A process of "a previous master": own group, marked, output appended to the unit's capture file. */
function previousLife(unit: string, script: string): ChildProcess {
  const fd = openSync(capture(unit), "a");
  const child = spawn("/bin/sh", ["-c", script], { detached: true, cwd: state, env: { ...process.env, HSU_UNIT_ID: unit, [OWNER_ENV]: owner }, stdio: ["ignore", fd, "ignore"] });
  closeSync(fd);
  started.push(child);
  return child;
}

function record(unit: string, pid: number, offset: number): ProcessRecord {
  const startTime = pid > 0 ? (readStatSync(pid)?.startTime ?? 1) : -1;
  const r: ProcessRecord = { unit, pid, startTime, stdoutFile: capture(unit), stderrFile: undefined, stdoutOffset: offset, stderrOffset: 0 };
  new ProcessBook(state).put(r);
  return r;
}

const unitSpec = (id: string, script: string) => ({ id, executable: "/bin/sh", args: ["-c", script], cwd: state, env: { HSU_UNIT_ID: id }, restart: { policy: "never" } });

describe("durable OS: output and records", () => {
  it("drops a run's record and capture file only once its output is in the log; a new start appends, never truncates", async () => {
    supervisor = createSupervisor({ logSink: logs, os: durable() });
    await supervisor.add(unitSpec("u", "for i in 1 2 3; do echo run1 $i; done"));
    await until("the first run ended", () => supervisor!.get("u").lastExit !== undefined);
    // The run is over only after its output was drained: nothing is left to read, so nothing is kept.
    expect(logged("u")).toEqual(["run1 1", "run1 2", "run1 3"]);
    await removed();
    expect(records()).toEqual([]);
    expect(existsSync(capture("u"))).toBe(false);
    expect(supervisor.get("u").lastExit).toMatchObject({ code: 0, kind: "success" });
  });

  it("a unit that crashes (SIGKILL) has every line it wrote before in its log", async () => {
    supervisor = createSupervisor({ logSink: logs, os: durable() });
    await supervisor.add(unitSpec("u", "i=0; while [ $i -lt 2000 ]; do echo line $i; i=$((i+1)); done; kill -9 $$"));
    await until("the run ended", () => supervisor!.get("u").lastExit !== undefined);
    expect(supervisor.get("u").lastExit).toMatchObject({ signal: "SIGKILL" });
    expect(logged("u")).toEqual(Array.from({ length: 2000 }, (_, i) => `line ${i}`));
    await removed();
    expect(records()).toEqual([]);
  });

  it("a master that dies after a run ended but before that run's record was removed: the next one drains it, loses no line, and removes it", async () => {
    // The first master's removal batch never runs (its clock never moves): it "dies" with the record on disk.
    supervisor = createSupervisor({ logSink: logs, os: durable({ clock: createFakeClock() }) });
    await supervisor.add(unitSpec("u", "echo run 1; echo run 2; echo run 3"));
    await until("the run ended", () => supervisor!.get("u").lastExit !== undefined);
    expect(logged("u")).toEqual(["run 1", "run 2", "run 3"]);
    expect(records()).toHaveLength(1);
    const report = await durable().recover("adopt", () => true);
    expect(report).toMatchObject({ adoptable: [], stopped: [] });
    // At least once, in order; what repeats is one block right after the last line written (here the whole short output).
    const lines = logged("u");
    expect(lines.slice(0, 3)).toEqual(["run 1", "run 2", "run 3"]);
    expect(["run 1", "run 2", "run 3"].slice(3 - (lines.length - 3))).toEqual(lines.slice(3));
    expect(records()).toEqual([]);
    expect(existsSync(capture("u"))).toBe(false);
  });

  it("a unit started again before its ended run's files were removed goes on in the same capture file: every line once, files gone after the last run", async () => {
    const clock = createFakeClock();
    const os = durable({ clock });
    supervisor = createSupervisor({ logSink: logs, os });
    const script = "n=$(cat n 2>/dev/null || echo 0); n=$((n+1)); echo $n > n; echo run $n a; echo run $n b";
    await supervisor.add(unitSpec("u", script));
    await until("the first run ended", () => supervisor!.get("u").lastExit !== undefined);
    expect(records()).toHaveLength(1); // its removal is queued, not done
    await supervisor.start("u");
    await until("the second run ended", () => supervisor!.get("u").state === "exited" && logged("u").length >= 4);
    expect(logged("u")).toEqual(["run 1 a", "run 1 b", "run 2 a", "run 2 b"]);
    clock.advance(1000); // the removal batch
    await os.idle();
    expect(records()).toEqual([]);
    expect(existsSync(capture("u"))).toBe(false);
  });

  it("a record kept with unread output (the sink never acknowledged it) is read on first at the next start: nothing truncated, order kept", async () => {
    writeFileSync(capture("u"), "left 1\nleft 2\n");
    record("u", 0, 0); // a record whose bytes were never acknowledged
    supervisor = createSupervisor({ logSink: logs, os: durable() });
    await supervisor.add(unitSpec("u", "echo new 1; echo new 2"));
    await until("the run ended", () => supervisor!.get("u").lastExit !== undefined);
    expect(logged("u")).toEqual(["left 1", "left 2", "new 1", "new 2"]);
    await removed();
    expect(records()).toEqual([]);
  });

  it("a reader that stops reading cannot hold an exit forever, and costs no line: the rest is written at the next start", async () => {
    supervisor = createSupervisor({ logSink: logs, os: durable(), outputDrainTimeoutMs: 300 });
    const stuck = logs.subscribe({ units: ["u"], highWaterMark: 10 })[Symbol.asyncIterator]();
    // Far more than one read (64 KiB): the reader blocks the rest.
    await supervisor.add(unitSpec("u", "i=0; while [ $i -lt 20000 ]; do echo line $i; i=$((i+1)); done"));
    await until("the run ended although its output is not all read", () => supervisor!.get("u").lastExit !== undefined);
    expect(logged("u").length).toBeLessThan(20000);
    expect(records()).toHaveLength(1); // kept: its output is not all in the log yet
    await stuck.return?.(); // the reader goes away
    await logs.flush(); // what it had let through is written (and acknowledged) before the next start
    await supervisor.start("u"); // the same lines again, after the ones left over
    await until("the second run ended", () => supervisor!.get("u").state === "exited" && logged("u").length === 40000).catch((e: Error) => {
      throw new Error(`${e.message}: state ${supervisor!.get("u").state}, ${logged("u").length} lines, records ${JSON.stringify(records())}`);
    });
    const lines = logged("u");
    expect(lines).toEqual([...Array.from({ length: 20000 }, (_, i) => `line ${i}`), ...Array.from({ length: 20000 }, (_, i) => `line ${i}`)]);
    await removed();
    expect(records()).toEqual([]);
  });

  it("recover drains what a process that died while no master ran left unread, from the recorded offset, then drops the record", async () => {
    const gone = previousLife("u", "echo seen 1; echo seen 2; echo unseen 3; echo unseen 4");
    await new Promise((r) => gone.once("exit", r));
    record("u", 4_000_000, "seen 1\nseen 2\n".length); // a pid that no longer runs this process
    const os = durable();
    // Not wanted any more (removed from hsu.yaml): drained all the same.
    const report = await os.recover("adopt", () => false);
    expect(report).toMatchObject({ adoptable: [], drained: ["u"] });
    expect(logged("u")).toEqual(["unseen 3", "unseen 4"]);
    expect(records()).toEqual([]);
    expect(existsSync(capture("u"))).toBe(false);
  });

  it("a long drain records its progress as it goes, so a crash during it repeats no more than one during a run", async () => {
    let text = "";
    for (let i = 0; i < 200_000; i++) text += `L${String(i).padStart(7, "0")}.\n`;
    writeFileSync(capture("u"), text);
    record("u", 4_000_000, 0);
    const lags: number[] = [];
    const sink: LogSink = {
      attach: (unit, stream, source, options) =>
        logs.attach(unit, stream, source, {
          onWritten: (n) => {
            options?.onWritten?.(n);
            const onDisk = new ProcessBook(state).get("u")?.stdoutOffset;
            if (onDisk !== undefined) lags.push(n - onDisk);
          },
        }),
    };
    const report = await durable({ logSink: sink }).recover("adopt", () => true);
    expect(report.drained).toEqual(["u"]);
    expect(logged("u")).toHaveLength(200_000);
    expect(lags.length).toBeGreaterThan(10);
    expect(Math.max(...lags)).toBeLessThan(32 * 1024);
  });

  it("a live process that is not wanted any more is stopped, then its output is drained", async () => {
    const alive = previousLife("u", "echo one; echo two; touch wrote; trap 'echo bye; exit 0' TERM; while true; do sleep 0.02; done");
    await until("it wrote", () => existsSync(join(state, "wrote")));
    record("u", alive.pid!, 0);
    const report = await durable().recover("adopt", () => false);
    expect(report).toMatchObject({ adoptable: [], stopped: [alive.pid], drained: ["u"] });
    expect(logged("u")).toEqual(["one", "two", "bye"]);
    expect(records()).toEqual([]);
  });

  it("a crash between the record and the spawn: the marked process is stopped first, then all it wrote is drained", async () => {
    const orphan = previousLife("u", "echo a; echo b; touch wrote; exec sleep 30");
    record("u", 0, 0); // written before the spawn, pid not known yet
    await until("the orphan wrote", () => existsSync(join(state, "wrote")));
    const report = await durable().recover("adopt", () => true);
    expect(report.stopped).toEqual([orphan.pid]);
    expect(report.drained).toEqual(["u"]);
    expect(logged("u")).toEqual(["a", "b"]);
    expect(records()).toEqual([]);
  });

  it("an adopted process: tailed from its record, exit status unknown, record and capture file gone once it ended and was drained", async () => {
    const alive = previousLife("u", "echo before; while [ ! -e go ]; do sleep 0.02; done; echo after");
    await until("it wrote", () => existsSync(capture("u")) && statSync(capture("u")).size > 0);
    record("u", alive.pid!, 0);
    const os = durable();
    expect((await os.recover("adopt", () => true)).adoptable).toEqual(["u"]);
    supervisor = createSupervisor({ logSink: logs, os });
    await supervisor.add(unitSpec("u", "echo never runs"));
    expect(supervisor.get("u").pid).toBe(alive.pid);
    writeFileSync(join(state, "go"), "");
    await until("the adopted run ended", () => supervisor!.get("u").lastExit !== undefined);
    expect(logged("u")).toEqual(["before", "after"]);
    await removed();
    expect(records()).toEqual([]);
    expect(existsSync(capture("u"))).toBe(false);
    expect(supervisor.get("u").lastExit).toMatchObject({ code: null, signal: null, kind: "unknown" });
    expect(supervisor.get("u").state).toBe("exited"); // policy never
  });

});

describe("durable OS: the capture file is consumed like a queue", () => {
  it("frees (punches out) only bytes the record on disk already covers, block-aligned, and keeps the file's size", async () => {
    const punches: { offset: number; length: number; recorded: number }[] = [];
    const os = durable({
      recordEveryBytes: 4096,
      freeEveryBytes: 8192,
      punchHole: async (file, offset, length) => {
        const r = new ProcessBook(state).get("u");
        punches.push({ offset, length, recorded: r?.stdoutOffset ?? -1 });
        expect(file).toBe(capture("u"));
      },
    });
    supervisor = createSupervisor({ logSink: logs, os });
    // 100,000 bytes in 10-byte lines, then wait to be told to go.
    await supervisor.add(unitSpec("u", "i=0; while [ $i -lt 10000 ]; do printf 'L%07d.\\n' $i; i=$((i+1)); done; touch wrote; while [ ! -e go ]; do sleep 0.02; done"));
    await until("every line is recorded", () => new ProcessBook(state).get("u")?.stdoutOffset === 100_000);
    let next = 0;
    for (const p of punches) {
      expect(p.offset).toBe(next); // contiguous from the start, never overlapping
      expect(p.offset % 4096).toBe(0);
      expect(p.length % 4096).toBe(0);
      expect(p.length).toBeGreaterThanOrEqual(8192);
      expect(p.offset + p.length).toBeLessThanOrEqual(p.recorded); // never past what the record covers
      next = p.offset + p.length;
    }
    expect(next).toBeGreaterThan(100_000 - 8192 - 4096);
    expect(logged("u")).toHaveLength(10_000);
    writeFileSync(join(state, "go"), "");
  });

  it("with fallocate, the allocated blocks (as du counts them) stay within the slack while the size keeps every offset", async () => {
    supervisor = createSupervisor({ logSink: logs, os: durable({ recordEveryBytes: 4096, freeEveryBytes: 16384 }) });
    await supervisor.add(unitSpec("u", "i=0; while [ $i -lt 20000 ]; do printf 'L%07d.\\n' $i; i=$((i+1)); done; while [ ! -e go ]; do sleep 0.02; done"));
    await until("every line is recorded", () => new ProcessBook(state).get("u")?.stdoutOffset === 200_000);
    await until("the read part is freed", () => statSync(capture("u")).blocks * 512 <= 16384 + 4096);
    expect(statSync(capture("u")).size).toBe(200_000);
    writeFileSync(join(state, "go"), "");
  });

  it("where holes cannot be punched, says so once and loses nothing (the capture file goes when its process ended)", async () => {
    const warnings: string[] = [];
    const os = durable({ recordEveryBytes: 4096, freeEveryBytes: 4096, warn: (w) => warnings.push(w), punchHole: () => Promise.reject(new Error("Operation not supported")) });
    supervisor = createSupervisor({ logSink: logs, os });
    await supervisor.add(unitSpec("u", "i=0; while [ $i -lt 5000 ]; do printf 'L%07d.\\n' $i; i=$((i+1)); done"));
    await until("the run ended", () => supervisor!.get("u").lastExit !== undefined);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/cannot free read output of unit "u" \(Operation not supported\)/);
    expect(logged("u")).toHaveLength(5000);
    await removed();
    expect(existsSync(capture("u"))).toBe(false);
  });
});
