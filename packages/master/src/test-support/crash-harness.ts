// What the kill -9 suites (restart, stop-crash, batch-crash) share: a project
// directory, real `hsu daemon` processes started and killed by the test, a
// control client, the unit processes the run marked, a replayable random
// source, and a cleanup that leaves nothing running.
import { createClient, type Client } from "@connectrpc/connect";
import { ControlService } from "@hsu/proto";
import { createUnitTransport } from "@hsu/transport";
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { hsu, hsuArgv, markedUnits } from "./hsu-cli.ts";

/** One suite's project and the masters it runs. */
export interface CrashHarness {
  /** The project directory; the suite writes its hsu.yaml there. */
  dir: string;
  stateDir: string;
  socket: string;
  /** Marks this run's units: put `env: { TEST_RUN: "<run>" }` on each. */
  run: string;
  /** Every live process group leader of this run, by unit id. */
  unitProcesses(): Map<string, number[]>;
  /** `hsu daemon` in the project; `exited` is listened for at once (the master may be gone before anyone asks). */
  startMaster(): { child: ChildProcess; exited: Promise<void> };
  client(): Client<typeof ControlService>;
  /** The run records in the state dir. */
  records(): string[];
  /** `hsu down`, then SIGKILL of every master and unit process group still alive, then the directory goes. */
  cleanup(): Promise<void>;
}

export function createCrashHarness(prefix: string): CrashHarness {
  const run = randomBytes(6).toString("hex");
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const stateDir = join(dir, ".hsu");
  const socket = join(stateDir, "control.sock");
  const masters: ChildProcess[] = [];
  const unitProcesses = () => markedUnits(`TEST_RUN=${run}`);
  return {
    dir,
    stateDir,
    socket,
    run,
    unitProcesses,
    startMaster() {
      const child = spawn(process.execPath, hsuArgv("daemon", "-f", join(dir, "hsu.yaml")), { cwd: dir, stdio: "ignore" });
      masters.push(child);
      const exited = new Promise<void>((r) => child.once("exit", () => r()));
      return { child, exited };
    },
    client: () => createClient(ControlService, createUnitTransport(`unix:${socket}`, { connectTimeoutMs: 5000 })),
    records: () => (existsSync(join(stateDir, "units")) ? readdirSync(join(stateDir, "units")).filter((f) => f.endsWith(".json")) : []),
    async cleanup() {
      await hsu(dir, "down");
      for (const m of masters) if (m.exitCode === null && m.signalCode === null) m.kill("SIGKILL");
      for (const pids of unitProcesses().values()) {
        for (const pid of pids) {
          try {
            process.kill(-pid, "SIGKILL");
          } catch {
            // Gone already.
          }
        }
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A replayable random source in [0, 1): HSU_TEST_SEED=<seed> replays a run; the seed is logged under `suite`. */
export function seededRandom(suite: string): { random: () => number; seed: number } {
  const seed = Number(process.env.HSU_TEST_SEED ?? randomBytes(4).readUInt32LE());
  console.log(`${suite}: seed ${seed} (replay with HSU_TEST_SEED=${seed})`);
  let a = seed;
  const random = () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return { random, seed };
}
