import { Code, createClient } from "@connectrpc/connect";
import { CoreService } from "@hsu/proto";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EchoService } from "../../../../examples/echo/src/gen/hsu/examples/echo/v1/echo_pb.js";
import { unitTransport } from "../cli/unit-transport.ts";
import { parseDeployment } from "../config/index.ts";
import { runMaster, type RunningMaster } from "./run.ts";
import type { MasterEvent } from "./slot.ts";
import type { UnitStatusView } from "./master.ts";

// Integrated units on the one supervisor: every key a managed unit honours
// (restart, limits, health_check, stop_signal, replicas) holds for them too,
// with real processes called through the master's unit proxy.
const examples = join(import.meta.dirname, "..", "..", "..", "..", "examples", "echo", "src");
const echo = `command: ${process.execPath}\n    args: ["--conditions=@hsu/source", "${join(examples, "unit.ts")}"]`;
const probe = `command: ${process.execPath}\n    args: ["--conditions=@hsu/source", "${join(examples, "test-fixtures", "probe-unit.ts")}"]`;
const fast = "restart: { policy: on-failure, delay: 200ms, breaker: { window: 1m, max_restarts: 100 } }";
const dir = mkdtempSync(join(tmpdir(), "hsu-integrated-"));
const run = `${process.pid}-${Date.now()}`;

let running: RunningMaster;
let socket: string;
const events: MasterEvent[] = [];

beforeAll(async () => {
  const spec = `units:
  crashy:
    kind: integrated
    ${probe}
    env: { TEST_RUN: "${run}" }
    graceful_timeout: 1s
    ${fast}
  hog:
    kind: integrated
    ${probe}
    env: { TEST_RUN: "${run}" }
    limits: { memory: 96MiB, policy: restart, check_interval: 200ms }
    ${fast}
  sick:
    kind: integrated
    ${probe}
    env: { TEST_RUN: "${run}" }
    graceful_timeout: 1s
    health_check: { type: grpc, interval: 200ms, timeout: 1s, failure_threshold: 2 }
    ${fast}
  stubborn:
    kind: integrated
    ${probe}
    env: { TEST_RUN: "${run}" }
    nice: 7
    stop_signal: SIGUSR2
    graceful_timeout: 1s
  pool:
    kind: integrated
    ${echo}
    env: { TEST_RUN: "${run}" }
    replicas: 3
  broken:
    kind: integrated
    command: sh
    args: ["-c", "echo 'cannot open the database' >&2; exit 3"]
    restart: { policy: never }
`;
  running = await runMaster(parseDeployment(spec, "hsu.yaml", dir), { handleSignals: false, log: () => {} });
  running.master.onEvent((e) => events.push(e));
  await running.master.up();
  socket = running.control.socketPath;
});

afterAll(async () => {
  await running?.stop();
  const left = unitProcesses();
  for (const pid of left) process.kill(-pid, "SIGKILL");
  rmSync(dir, { recursive: true, force: true });
  expect(left, "unit processes left after the master stopped").toEqual([]);
});

/** Live group leaders of this test run (from /proc). */
function unitProcesses(): number[] {
  const found: number[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (!readFileSync(`/proc/${name}/environ`, "latin1").split("\0").includes(`TEST_RUN=${run}`)) continue;
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      const [state, , pgid] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (state !== "Z" && Number(pgid) === Number(name)) found.push(Number(name));
    } catch {
      // Exited while we looked.
    }
  }
  return found;
}

const view = (id: string): UnitStatusView => running.master.get(id)[0]!;

/**
 * Resolves once `check` holds for the unit's view, checked now, on every master event and every 50 ms
 * (health changes within a state raise no event); fails with what it saw.
 */
function until(id: string, what: string, check: (v: UnitStatusView) => boolean, ms = 20_000): Promise<UnitStatusView> {
  return new Promise((resolve, reject) => {
    const test = () => {
      const v = view(id);
      if (!check(v)) return false;
      done();
      resolve(v);
      return true;
    };
    const off = running.master.onEvent(() => void test());
    const poll = setInterval(test, 50);
    const timer = setTimeout(() => {
      done();
      reject(new Error(`${id}: timed out waiting until ${what}; last view ${JSON.stringify(view(id))}`));
    }, ms);
    const done = () => {
      off();
      clearInterval(poll);
      clearTimeout(timer);
    };
    test();
  });
}

const echoOf = (unit: string) => createClient(EchoService, unitTransport(socket, unit));
const coreOf = (unit: string) => createClient(CoreService, unitTransport(socket, unit));
const logText = (unit: string) => running.master.logs.tail(unit, 200).map((l) => l.text).join("\n");

/** Waits until the unit's captured output contains `text` (log lines raise no master event, so this polls, with a deadline). */
async function logged(unit: string, text: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!logText(unit).includes(text)) {
    if (Date.now() > end) throw new Error(`${unit} did not print "${text}" within ${ms} ms; it printed: ${logText(unit)}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe("integrated units on the supervisor", () => {
  it("restart: kill -9 of the unit is restarted per policy with backoff; the call in flight fails UNAVAILABLE, the next is answered by the new process", async () => {
    await echoOf("crashy").echo({ message: "wake" });
    const first = await until("crashy", "it is ready", (v) => v.state === "ready" && v.pid !== undefined);
    const inFlight = echoOf("crashy").echo({ message: "hold" }).then(
      () => undefined,
      (e: unknown) => e as { code: Code },
    );
    await logged("crashy", "holding");
    process.kill(first.pid!, "SIGKILL");
    expect(await inFlight).toMatchObject({ code: Code.Unavailable });
    const again = await until("crashy", "it is ready again in a new process", (v) => v.state === "ready" && v.pid !== first.pid && v.pid !== undefined);
    expect(again.restarts).toBeGreaterThanOrEqual(1);
    expect(again.lastExit).toBe("signal SIGKILL");
    expect(events.some((e) => e.unit === "crashy" && e.to === "backoff")).toBe(true);
    const info = await coreOf("crashy").getInfo({});
    expect(info.info?.pid).toBe(again.pid);
    expect(await echoOf("crashy").echo({ message: "after" })).toMatchObject({ message: "after", unitId: "crashy" });
    expect(unitProcesses()).not.toContain(first.pid);
  });

  it("limits: memory past the limit restarts the unit; the next call works", async () => {
    await echoOf("hog").echo({ message: "wake" });
    const first = await until("hog", "it is ready", (v) => v.state === "ready");
    // The call that makes it grow may be answered or cut short by the kill; either way it is not left hanging.
    const hogCall = await echoOf("hog").echo({ message: "hog" }).then(
      () => undefined,
      (e: unknown) => e as { code: Code },
    );
    if (hogCall) expect(hogCall).toMatchObject({ code: Code.Unavailable });
    const again = await until("hog", "it was restarted and is ready", (v) => v.state === "ready" && v.pid !== first.pid && v.pid !== undefined);
    expect(again.restarts).toBeGreaterThanOrEqual(1);
    const why = events.filter((e) => e.unit === "hog").map((e) => e.reason).join("\n");
    expect(why).toMatch(/memory|oom|SIGKILL/i);
    expect(await echoOf("hog").echo({ message: "after" })).toMatchObject({ message: "after" });
  });

  it("health_check: a unit whose health goes NOT_SERVING is ended and restarted", async () => {
    await echoOf("sick").echo({ message: "wake" });
    const first = await until("sick", "it is ready and healthy", (v) => v.state === "ready" && v.health === "healthy");
    process.kill(first.pid!, "SIGUSR1");
    const again = await until("sick", "it was restarted", (v) => v.state === "ready" && v.pid !== first.pid && v.pid !== undefined);
    expect(again.restarts).toBeGreaterThanOrEqual(1);
    expect(events.some((e) => e.unit === "sick" && e.to === "killing" && /unhealthy/.test(e.reason))).toBe(true);
    expect(await echoOf("sick").echo({ message: "after" })).toMatchObject({ message: "after" });
  });

  it("stop_signal and nice: after the Shutdown drain, the unit gets its own stop signal, not SIGTERM", async () => {
    await echoOf("stubborn").echo({ message: "wake" });
    const up = await until("stubborn", "it is ready", (v) => v.state === "ready");
    // nice applies too (field 19 of /proc/PID/stat).
    const stat = readFileSync(`/proc/${up.pid}/stat`, "utf8");
    expect(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[16]).toBe("7");
    await running.master.stop("stubborn");
    const text = logText("stubborn");
    expect(text).toContain("drained");
    expect(text).toContain("got SIGUSR2");
    expect(text).not.toContain("got SIGTERM");
    expect(view("stubborn")).toMatchObject({ state: "idle", pid: undefined });
    expect(unitProcesses()).not.toContain(up.pid);
  });

  it("stop never hangs on a frozen unit (SIGSTOP): Shutdown times out, the escalation ends it", async () => {
    await echoOf("stubborn").echo({ message: "wake" });
    const up = await until("stubborn", "it is ready", (v) => v.state === "ready");
    process.kill(up.pid!, "SIGSTOP");
    await running.master.stop("stubborn");
    expect(view("stubborn")).toMatchObject({ state: "idle", pid: undefined, lastExit: "signal SIGKILL" });
    expect(unitProcesses()).not.toContain(up.pid);
  });

  it("replicas: N processes with their own handshake; calls to the pool spread, each replica is addressable", async () => {
    const ids = ["pool-0", "pool-1", "pool-2"];
    expect(running.master.get("pool").map((v) => v.id)).toEqual(ids);
    for (const id of ids) expect(await echoOf(id).echo({ message: id })).toMatchObject({ unitId: id });
    const views = running.master.get("pool");
    const pids = new Set(views.map((v) => v.pid));
    expect(pids.size).toBe(3);
    expect(views.every((v) => v.state === "ready" && v.pool === "pool" && v.address.endsWith(`${v.id}.sock`))).toBe(true);
    const answered = new Set<string>();
    for (let i = 0; i < 6; i++) answered.add((await echoOf("pool").echo({ message: "spread" })).unitId);
    expect([...answered].sort()).toEqual(ids);
    // HSU_INDEX is each replica's own.
    for (const v of views) expect(readFileSync(`/proc/${v.pid}/environ`, "latin1").split("\0")).toContain(`HSU_INDEX=${v.id.slice(5)}`);
    // A replica id addresses that replica alone: stopping pool-1 leaves the others' processes as they were.
    await running.master.stop("pool-1");
    const after = running.master.get("pool");
    expect(after.map((v) => [v.id, v.state])).toEqual([
      ["pool-0", "ready"],
      ["pool-1", "idle"],
      ["pool-2", "ready"],
    ]);
    expect([after[0]!.pid, after[2]!.pid]).toEqual([views[0]!.pid, views[2]!.pid]);
    expect(unitProcesses()).not.toContain(views[1]!.pid);
    await running.master.restart("pool-0");
    const restarted = running.master.get("pool");
    expect(restarted[0]!.pid).not.toBe(views[0]!.pid);
    expect(restarted[2]!.pid).toBe(views[2]!.pid);
    expect(await echoOf("pool-1").echo({ message: "again" })).toMatchObject({ unitId: "pool-1" });
  });

  it("scale: an integrated pool shrinks (its replicas' processes end) and grows (new replicas wake on call)", async () => {
    const before = running.master.get("pool");
    await running.master.scale("pool", 1);
    expect(running.master.get("pool").map((v) => v.id)).toEqual(["pool-0"]);
    for (const v of before.slice(1)) expect(unitProcesses()).not.toContain(v.pid);
    await running.master.scale("pool", 2);
    expect(running.master.get("pool").map((v) => [v.id, v.state])).toEqual([
      ["pool-0", "ready"],
      ["pool-1", "idle"],
    ]);
    expect(await echoOf("pool-1").echo({ message: "back" })).toMatchObject({ unitId: "pool-1" });
  });

  it("a failed on-demand start shows the failure and the last exit, not idle", async () => {
    const err = await echoOf("broken")
      .echo({ message: "x" })
      .catch((e: unknown) => e as { code: Code; rawMessage: string });
    expect(err).toMatchObject({ code: Code.Unavailable });
    expect((err as { rawMessage: string }).rawMessage).toMatch(/exited before registering \(code 3\)/);
    const v = await until("broken", "it is at rest", (x) => x.state !== "starting" && x.state !== "running");
    expect(v.state).not.toBe("idle");
    expect(["exited", "failed"]).toContain(v.state);
    expect(v.lastExit).toBe("code 3; exited before registering");
    expect(logText("broken")).toContain("cannot open the database");
  });
});
