import { spawn, type ChildProcess, type SpawnOptions } from "node:child_process";
import { createInterface } from "node:readline";

/** A child started by a test, in its own process group so the whole tree can be killed. */
export interface TestChild {
  child: ChildProcess;
  pid: number;
  /** Resolves with the first stdout line (the child's "I am ready" signal). */
  firstLine: Promise<string>;
  /** Resolves when the child exits. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderr(): string;
  stdout(): string;
}

const started = new Set<TestChild>();

/** Spawns a test child in a new process group and tracks it for killAllTestChildren(). */
export function spawnTestChild(command: string, args: string[], options: SpawnOptions = {}): TestChild {
  const child = spawn(command, args, { stdio: ["pipe", "pipe", "pipe"], detached: true, ...options });
  let err = "";
  let out = "";
  child.stderr?.on("data", (d: Buffer) => (err += d.toString()));
  child.stdout?.on("data", (d: Buffer) => (out += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("exit", (code, signal) => resolve({ code, signal })),
  );
  const firstLine = new Promise<string>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    lines.once("line", (line) => resolve(line));
    child.once("error", reject);
    void exited.then(({ code, signal }) => reject(new Error(`child exited (${code ?? signal}) before its first line; stderr: ${err}`)));
  });
  firstLine.catch(() => undefined);
  const handle: TestChild = { child, pid: child.pid!, firstLine, exited, stderr: () => err, stdout: () => out };
  // Kept after the child exits: its background children may still be in its process group.
  started.add(handle);
  return handle;
}

/** Kills the process group of every child started (and what it left behind) and waits for the children to exit. */
export async function killAllTestChildren(): Promise<void> {
  const all = [...started];
  started.clear();
  for (const t of all) {
    try {
      process.kill(-t.pid, "SIGKILL");
    } catch {
      // The group is already gone.
    }
  }
  await Promise.all(all.map((t) => t.exited));
}

/** Runs Python code as a test child. */
export function spawnPython(code: string, options: SpawnOptions = {}): TestChild {
  return spawnTestChild("python3", ["-u", "-c", code], options);
}
