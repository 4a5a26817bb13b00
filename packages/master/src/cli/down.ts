import { createSystemClock, HsuError, isRunning, readStatSync } from "@hsu/client";
import { UnitKind } from "@hsu/proto";
import { existsSync } from "node:fs";
import type { Deployment } from "../config/index.ts";
import { isStateLocked, lockHolder, waitStateUnlocked } from "../daemon/lock.ts";
import { ownedProcesses } from "../daemon/owned-processes.ts";
import { controlClient, controlSocketFor, isAddress } from "./client.ts";
import { paint, useColor } from "./format.ts";
import { procStartTime } from "./status.ts";

// What stopping one unit may take beyond its graceful timeout: the SIGKILL and the sweep of its process group.
const SWEEP_MS = 5_000;
// The master's own work around the units: closing listeners, logs, records.
const MARGIN_MS = 10_000;

/** How long `hsu down` waits for everything to be gone: every unit's graceful timeout and sweep, plus a margin. */
export function downDeadlineMs(deployment: Deployment): number {
  return Object.values(deployment.units).reduce((sum, u) => sum + u.gracefulTimeoutMs + SWEEP_MS, MARGIN_MS);
}

const gone = (pid: number, startTime?: number) => !isRunning(readStatSync(pid)) || (startTime !== undefined && procStartTime(pid) !== startTime);

/** `hsu down`. */
export async function runDown(values: Record<string, string | boolean | undefined>): Promise<number> {
  const { socket: path, deployment } = await controlSocketFor(String(values.file), values.socket as string | undefined);
  const say = (stopped: string[], text: string) => process.stdout.write(values.json ? `${JSON.stringify({ stopped })}\n` : `${text}\n`);
  if (!deployment || isAddress(path)) return downRemote(path, say);
  const stateDir = deployment.master.stateDir;
  // Like any "make it so": stopping what is already stopped succeeds.
  if (!existsSync(stateDir) || !(await isStateLocked(stateDir))) {
    const left = ownedProcesses(stateDir);
    if (left.length) {
      throw new HsuError("failed_precondition", `no master is running, but ${left.length} process(es) of its units are left (${describe(left)}); \`hsu up\` takes them over or stops them`);
    }
    say([], `nothing to stop: no master is running (nothing holds ${stateDir})`);
    return 0;
  }
  const holder = lockHolder(stateDir);
  const who = holder.pid !== undefined ? `the master (pid ${holder.pid})` : "the master";
  if (holder.stopped) throw new HsuError("failed_precondition", `${who} is stopped (SIGSTOP or a debugger); \`kill -CONT ${holder.pid}\` resumes it, then run \`hsu down\` again`);
  if (!existsSync(path)) {
    throw new HsuError("unavailable", `${who} holds ${stateDir} but serves no control socket at ${path} (still starting, or the socket was removed); wait for it, or \`kill ${holder.pid ?? "<pid>"}\``);
  }
  const clock = createSystemClock();
  const budget = downDeadlineMs(deployment);
  const until = clock.now() + budget;
  const c = controlClient(path);
  // The master's own list names processes the owner marker cannot (integrated units): they must be gone too.
  const listed = await c.listUnits({}, { timeoutMs: 5_000 }).then(
    (r) => r.units.filter((u) => u.pid && u.kind !== UnitKind.UNMANAGED).map((u) => ({ pid: u.pid, unit: u.id, startTime: procStartTime(u.pid) })),
    () => [],
  );
  const res = await c.shutdownMaster({}, { timeoutMs: budget });
  const left = () => [...ownedProcesses(stateDir), ...listed.filter((p) => !gone(p.pid, p.startTime))];
  const late = (what: string) =>
    new HsuError("deadline_exceeded", `${what} ${budget / 1000}s after \`hsu down\` asked it to stop; still alive: ${[holder.pid !== undefined && !gone(holder.pid) ? `the master (pid ${holder.pid})` : "", describe(left())].filter(Boolean).join(", ") || "nothing now"}`);
  // The kernel drops the lock when the master releases it or dies; then its pid must go too.
  if (!(await waitStateUnlocked(stateDir, until - clock.now()))) throw late(`${who} still holds ${stateDir}`);
  while (holder.pid !== undefined && !gone(holder.pid)) {
    if (clock.now() > until) throw late(`${who} is still running`);
    await clock.sleep(20);
  }
  while (left().length) {
    if (clock.now() > until) throw late("processes of its units are still running");
    await clock.sleep(20);
  }
  const n = res.stopped.length;
  say(res.stopped, `${paint("✔", "green", useColor())} stopped ${n} unit${n === 1 ? "" : "s"} and ${who}; none of their processes is left`);
  return 0;
}

const describe = (ps: { pid: number; unit: string | undefined }[]) => ps.map((p) => `pid ${p.pid}${p.unit ? ` (${p.unit})` : ""}`).join(", ");

/** A master elsewhere (TCP, or --socket): ask it to stop; its processes cannot be watched from here. */
async function downRemote(path: string, say: (stopped: string[], text: string) => void): Promise<number> {
  if (!isAddress(path) && !existsSync(path)) {
    say([], `nothing to stop: no master is running (no control socket at ${path})`);
    return 0;
  }
  const res = await controlClient(path).shutdownMaster({});
  const n = res.stopped.length;
  say(res.stopped, `${paint("✔", "green", useColor())} stopped ${n} unit${n === 1 ? "" : "s"} and the master`);
  return 0;
}
