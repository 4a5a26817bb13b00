import { PassThrough } from "node:stream";
import type { GroupExit, GroupProcess, OsProcessApi, SpawnRequest } from "../os-process.ts";

/** A scripted stand-in for a process, to test the state machine without the OS. */
export interface FakeProcess extends GroupProcess {
  readonly request: SpawnRequest;
  readonly signals: NodeJS.Signals[];
  /** Ends the fake process (closing its output first, as a real one would). */
  exit(code: number | null, signal?: NodeJS.Signals | null): void;
}

/** A fake OS layer; processes obey SIGKILL and, when `exitOnStopSignal`, the stop signal. */
export interface FakeOs extends OsProcessApi {
  readonly spawned: FakeProcess[];
  exitOnStopSignal: boolean;
  failNextSpawn: string | undefined;
}

/** Creates the fake OS layer. */
export function createFakeOs(): FakeOs {
  let nextPid = 1000;
  const fake: FakeOs = {
    spawned: [],
    exitOnStopSignal: true,
    failNextSpawn: undefined,
    async spawn(request) {
      if (fake.failNextSpawn) {
        const why = fake.failNextSpawn;
        fake.failNextSpawn = undefined;
        throw new Error(why);
      }
      const pid = nextPid++;
      let resolveExit!: (e: GroupExit) => void;
      const exited = new Promise<GroupExit>((r) => (resolveExit = r));
      const stdout = new PassThrough();
      const stderr = new PassThrough();
      let done = false;
      const proc: FakeProcess = {
        pid,
        pgid: pid,
        stdout,
        stderr,
        warnings: [],
        exited,
        request,
        signals: [],
        exit(code, signal = null) {
          if (done) return;
          done = true;
          stdout.end();
          stderr.end();
          resolveExit({ code, signal, survivors: [] });
        },
        signalGroup(signal) {
          if (done) return false;
          proc.signals.push(signal);
          if (signal === "SIGKILL") proc.exit(null, "SIGKILL");
          else if (fake.exitOnStopSignal) proc.exit(0);
          return true;
        },
      };
      fake.spawned.push(proc);
      return proc;
    },
  };
  return fake;
}

/** Lets pending promise callbacks (spawn, exit bookkeeping) run. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise<void>((r) => setImmediate(r));
}
