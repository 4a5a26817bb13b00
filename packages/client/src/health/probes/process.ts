import { readFile } from "node:fs/promises";
import { parseStat } from "../../resources/proc.ts";
import type { Probe, ProbeResult } from "./types.ts";

/**
 * Checks that `pid` exists and is not a zombie. On Linux it reads the state
 * letter of /proc/<pid>/stat (a zombie answers `kill(pid, 0)` like a live
 * process, so the signal check alone is not enough); elsewhere it falls back
 * to `kill(pid, 0)`.
 */
export function createProcessProbe(target: { pid: number }): Probe {
  return {
    async run(): Promise<ProbeResult> {
      const pid = target.pid;
      if (!Number.isInteger(pid) || pid <= 0) return { ok: false, detail: `no valid pid (${pid})` };
      if (process.platform === "linux") {
        let stat: string;
        try {
          stat = await readFile(`/proc/${pid}/stat`, "utf8");
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === "ENOENT") return { ok: false, detail: `process ${pid} does not exist` };
          return { ok: false, detail: `cannot read /proc/${pid}/stat: ${(err as Error).message}` };
        }
        const state = parseStat(stat)?.state ?? "?";
        if (state === "Z" || state === "X" || state === "x") return { ok: false, detail: `process ${pid} is a zombie (state ${state})` };
        return { ok: true, detail: `process ${pid} is alive (state ${state})` };
      }
      try {
        process.kill(pid, 0);
        return { ok: true, detail: `process ${pid} is alive` };
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === "EPERM") return { ok: true, detail: `process ${pid} is alive (owned by another user)` };
        return { ok: false, detail: `process ${pid} does not exist (${code})` };
      }
    },
    close() {},
  };
}
