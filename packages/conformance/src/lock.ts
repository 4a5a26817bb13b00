import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { isAlive } from "./process-state.ts";

/**
 * Takes an exclusive lock file (holding this process's pid), waiting while
 * another live process holds it; a lock left by a dead process is taken
 * over. Two suite runs for one language share a build dir, so they take
 * turns instead of deleting each other's files. Resolves to the release.
 */
export async function acquireLock(file: string, timeoutMs: number): Promise<() => void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    try {
      writeFileSync(file, String(process.pid), { flag: "wx" });
      const release = () => {
        process.off("exit", release);
        if (readFileSync(file, "utf8") === String(process.pid)) rmSync(file, { force: true });
      };
      process.once("exit", release);
      return release;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    }
    let holder = Number.NaN;
    try {
      holder = Number(readFileSync(file, "utf8"));
    } catch {
      continue;
    }
    if (!Number.isInteger(holder) || !isAlive(holder)) {
      rmSync(file, { force: true });
      continue;
    }
    if (Date.now() > until) throw new Error(`${file} is held by pid ${holder} for longer than ${timeoutMs} ms`);
    await sleep(1000);
  }
}
