import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";

/** Test helper: children started by {@link spawnNode}, killed (whole group) by {@link killAll}. */
const children = new Set<ChildProcess>();

/** Starts `node -e script` in its own process group with piped stdout/stderr (for tests). */
export function spawnNode(script: string, args: string[] = []): ChildProcess {
  const child = spawn(process.execPath, ["-e", script, ...args], { stdio: ["ignore", "pipe", "pipe"], detached: true });
  children.add(child);
  child.once("exit", () => children.delete(child));
  return child;
}

/** Kills every child still running from {@link spawnNode} and waits for their exit. */
export async function killAll(): Promise<void> {
  await Promise.all(
    [...children].map(async (child) => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, "exit");
      try {
        process.kill(-(child.pid as number), "SIGKILL");
      } catch {
        child.kill("SIGKILL");
      }
      await exited;
    }),
  );
}

/** Resolves once `predicate` holds, checking every few ms; fails after `timeoutMs`. */
export async function until(predicate: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
