import { constants } from "node:fs";
import { open, readFile, type FileHandle } from "node:fs/promises";
import { HsuError } from "../errors.ts";
import { isRunning, readCmdline, readStat, type ProcStat } from "../resources/index.ts";
import { CLOCK_TICKS_PER_SECOND, readProcTable } from "../resources/proc.ts";
import { pidsListeningOn } from "./ports.ts";
import { locatorOf, type UnmanagedUnitSpec } from "./spec.ts";

/** The identity of an attached process: the pid and its start time defeat pid reuse. */
export interface ProcessIdentity {
  pid: number;
  startTime: number;
  name: string;
}

/** What a pid file held when it was read: its pid and when it was last written. */
export interface PidFileState {
  pid: number;
  mtimeMs: number;
}

// Only the first line of a pid file matters; what follows is never read.
const PID_FILE_MAX_BYTES = 4096;

/** Reads a pid file; undefined when missing. Throws HsuError for content that is not a pid. */
export async function readPidFile(unit: string, path: string): Promise<PidFileState | undefined> {
  let text: string;
  let mtimeMs: number;
  let handle: FileHandle;
  try {
    // Non-blocking, so a FIFO put in its place cannot hold the read; a pid file is a small regular file.
    handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (error) {
    if ((error as { code?: string }).code === "ENOENT") return undefined;
    throw new HsuError("unavailable", `cannot read pid file ${path}: ${(error as Error).message}`, { unit, field: "pidFile" }, { cause: error });
  }
  try {
    const st = await handle.stat();
    if (!st.isFile()) throw new HsuError("failed_precondition", `pid file ${path} is not a regular file`, { unit, field: "pidFile" });
    const buf = Buffer.alloc(PID_FILE_MAX_BYTES);
    const { bytesRead } = await handle.read(buf, 0, buf.length, 0);
    text = buf.subarray(0, bytesRead).toString("utf8");
    mtimeMs = st.mtimeMs;
  } catch (error) {
    if (HsuError.is(error)) throw error;
    throw new HsuError("unavailable", `cannot read pid file ${path}: ${(error as Error).message}`, { unit, field: "pidFile" }, { cause: error });
  } finally {
    await handle.close();
  }
  const m = /^\s*(\d+)/.exec(text);
  if (!m || Number(m[1]) < 1) {
    throw new HsuError("failed_precondition", `pid file ${path} does not start with a pid (got ${JSON.stringify(text.slice(0, 40))})`, { unit, field: "pidFile" });
  }
  return { pid: Number(m[1]), mtimeMs };
}

let bootTimeMs: Promise<number> | undefined;

/** Wall-clock boot time (btime of /proc/stat), to compare process start times with file times. */
export function getBootTimeMs(): Promise<number> {
  bootTimeMs ??= readFile("/proc/stat", "utf8").then((text) => Number(/^btime (\d+)$/m.exec(text)?.[1] ?? 0) * 1000);
  return bootTimeMs;
}

/** Wall-clock start of a process in ms. */
export async function startedAtMs(stat: ProcStat): Promise<number> {
  return (await getBootTimeMs()) + (stat.startTime / CLOCK_TICKS_PER_SECOND) * 1000;
}

// Start times have 10 ms resolution and btime 1 s; a pid file written by the process itself is never older than this.
const PID_FILE_SLACK_MS = 2000;

/**
 * Finds the process a spec points at. Throws HsuError: not_found when none
 * matches, failed_precondition when several match (listing them) without
 * `pick`, or when the pid is another process than the one meant (start time
 * differs from expectStartTime, or the pid file is older than the process:
 * a stale pid file whose pid was reused).
 */
export async function locateProcess(spec: UnmanagedUnitSpec): Promise<ProcessIdentity & { pidFile?: PidFileState }> {
  const unit = spec.id;
  const locator = locatorOf(spec);
  let candidates: ProcStat[];
  let pidFile: PidFileState | undefined;
  if (locator === "pid" || locator === "pidFile") {
    let pid = spec.pid;
    if (locator === "pidFile") {
      pidFile = await readPidFile(unit, spec.pidFile!);
      if (!pidFile) throw new HsuError("not_found", `pid file ${spec.pidFile} does not exist; is the service running?`, { unit, field: "pidFile" });
      pid = pidFile.pid;
    }
    const stat = await readStat(pid!);
    if (!isRunning(stat)) {
      const from = pidFile ? ` (from pid file ${spec.pidFile})` : "";
      throw new HsuError("not_found", `no process with pid ${pid}${from} is running`, { unit, field: locator });
    }
    if (pidFile && pidFile.mtimeMs + PID_FILE_SLACK_MS < (await startedAtMs(stat))) {
      throw new HsuError(
        "failed_precondition",
        `pid file ${spec.pidFile} was written before process ${pid} (${stat.comm}) started: the file is stale and its pid now belongs to another process; not attached`,
        { unit, field: "pidFile" },
      );
    }
    candidates = [stat];
  } else {
    candidates = await findAll(spec, locator);
    if (candidates.length === 0) throw new HsuError("not_found", `no running process matches ${describeLocator(spec)}`, { unit, field: locator });
  }
  if (candidates.length > 1) {
    if (!spec.pick) {
      const list = candidates.map((c) => `${c.pid} (${c.comm})`).join(", ");
      throw new HsuError("failed_precondition", `${describeLocator(spec)} matches ${candidates.length} processes: ${list}; narrow it down or set pick: "oldest" | "newest"`, { unit, field: locator });
    }
    candidates.sort((a, b) => a.startTime - b.startTime || a.pid - b.pid);
    if (spec.pick === "newest") candidates.reverse();
  }
  const chosen = candidates[0]!;
  if (spec.expectStartTime !== undefined && chosen.startTime !== spec.expectStartTime) {
    throw new HsuError(
      "failed_precondition",
      `pid ${chosen.pid} (${chosen.comm}) started at tick ${chosen.startTime}, not ${spec.expectStartTime}: it is another process that reused the pid; not attached`,
      { unit, field: "expectStartTime" },
    );
  }
  return { pid: chosen.pid, startTime: chosen.startTime, name: chosen.comm, ...(pidFile ? { pidFile } : {}) };
}

async function findAll(spec: UnmanagedUnitSpec, locator: "processName" | "commandLine" | "port"): Promise<ProcStat[]> {
  const table = await readProcTable();
  const running = (pid: number) => {
    const s = table.get(pid);
    return pid !== process.pid && isRunning(s) ? [s] : [];
  };
  if (locator === "processName") return [...table.values()].filter((s) => s.comm === spec.processName).flatMap((s) => running(s.pid));
  if (locator === "commandLine") {
    const pattern = new RegExp(spec.commandLine!);
    const matches = await Promise.all(
      [...table.keys()].map(async (pid) => {
        const cmdline = await readCmdline(pid);
        // Kernel threads have an empty command line.
        return cmdline && pattern.test(cmdline) ? running(pid) : [];
      }),
    );
    return matches.flat();
  }
  const owners = new Set(await pidsListeningOn(spec.port!));
  // Pre-forking servers share the listening socket with their workers: the topmost holder is the service.
  return [...owners].filter((pid) => !owners.has(table.get(pid)?.ppid ?? 0)).flatMap(running);
}

/** Human wording of a spec's locator, for messages. */
export function describeLocator(spec: UnmanagedUnitSpec): string {
  switch (locatorOf(spec)) {
    case "pid":
      return `pid ${spec.pid}`;
    case "pidFile":
      return `pid file ${spec.pidFile}`;
    case "processName":
      return `process name "${spec.processName}"`;
    case "commandLine":
      return `command line /${spec.commandLine}/`;
    case "port":
      return `TCP port ${spec.port}`;
  }
}
