import { createSystemClock, HsuError } from "@hsu/client";
import type { UnitStatus } from "@hsu/proto";
import { spawn } from "node:child_process";
import { openSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { loadDeployment, type Deployment } from "../config/index.ts";
import type { MasterEvent } from "../daemon/slot.ts";
import type { UnitStatusView } from "../daemon/master.ts";
import { lockStateDir, masterAnswers, runMaster, type RunningMaster } from "../daemon/run.ts";
import { lockHolder } from "../daemon/lock.ts";
import { checkStateDir } from "../daemon/state-dir.ts";
import { DAEMON_NODE_FLAGS } from "../daemon/v8-flags.ts";
import { checkControlSocketPath } from "../control/socket-path.ts";
import { controlClient, requireSpecFile } from "./client.ts";
import { formatDuration, paint, spinner, stateColor, useColor } from "./format.ts";
import { createPrefixer, expectedUnitIds } from "./prefix.ts";
import { selfCommand } from "./self.ts";
import { procStartTime, psTable, statusJson, summaryLine } from "./status.ts";
// The master's in-process view as the wire message, so `hsu up` (foreground) prints the same table as `hsu ps`.
import { toStatus as viewToStatus } from "../control/service.ts";

const settledUp = ["running", "ready", "attached"];

/** "3 of 6 up, 2 starting" - what the spinner says while units come up. */
export function progressText(units: { state: string }[]): string {
  const active = units.filter((u) => !["idle", "scheduled"].includes(u.state));
  const up = active.filter((u) => settledUp.includes(u.state)).length;
  const starting = active.filter((u) => u.state === "starting").length;
  return `starting units: ${up} of ${active.length} up${starting ? `, ${starting} starting` : ""}`;
}

/** `hsu up [--detach]`. */
export async function runUp(values: Record<string, string | boolean | undefined>): Promise<number> {
  const file = requireSpecFile(String(values.file));
  const { installMissing } = await import("./install-command.ts");
  const deployment = await installMissing(await loadDeployment(file), file, (line) => process.stderr.write(`hsu » ${line}\n`));
  return values.detach ? upDetached(deployment, file, !!values.json) : upForeground(deployment);
}

async function upDetached(deployment: Deployment, file: string, json: boolean): Promise<number> {
  const color = useColor(process.stderr);
  const started = Date.now();
  const socket = deployment.master.controlSocket;
  const clock = createSystemClock();
  // The lock decides, not an answer: a stopped master answers nothing but still holds it. The daemon takes it for good.
  checkStateDir(deployment.master.stateDir);
  (await lockStateDir(deployment, { probe: true })).release();
  await checkControlSocketPath(socket);
  const logFile = join(deployment.master.stateDir, "master.log");
  const out = openSync(logFile, "a");
  const self = selfCommand(DAEMON_NODE_FLAGS);
  // The daemon reports the outcome of its `up` over an IPC channel, then lets go of it.
  const child = spawn(self.command, [...self.args, "daemon", "-f", resolve(file)], { detached: true, stdio: ["ignore", out, out, "ipc"] });
  child.unref();
  child.channel?.unref();
  const spin = spinner("starting the master");
  // "close", not "exit": it comes after every message the daemon sent, its refusal included.
  const exited = new Promise<number>((r) => child.once("close", (c) => r(c ?? 1)));
  let refused: string | undefined;
  const outcome = new Promise<UpOutcome>((r) =>
    child.on("message", (m: UpOutcome | DaemonRefusal) => ("refused" in m ? (refused = m.refused) : r(m))),
  );
  const masterExited = (code: number) => {
    // A daemon that could not start (another master won the state dir, a bad path) said why.
    if (refused !== undefined) {
      spin.stop(`${paint("✘", "red", color)} hsu up: ${refused}`);
      return 1;
    }
    spin.stop(`${paint("✘", "red", color)} the master exited (code ${code}) before it was ready; the end of ${logFile}:`);
    process.stderr.write(`${readFileSync(logFile, "utf8").split("\n").slice(-20).join("\n")}\n`);
    return 1;
  };
  // The master answers once it has loaded every unit; it has this long to get there.
  for (const until = clock.now() + MASTER_START_TIMEOUT_MS; ; ) {
    const code = await Promise.race([exited, clock.sleep(100).then(() => null)]);
    if (code !== null) return masterExited(code);
    // Ready when our daemon holds the state dir (not a master that won a race with it) and answers.
    if (lockHolder(deployment.master.stateDir).pid === child.pid && (await masterAnswers(socket))) break;
    if (clock.now() > until) {
      // Never leave a daemon behind that nobody can reach.
      child.kill("SIGTERM");
      spin.stop(`${paint("✘", "red", color)} the master (pid ${child.pid}) did not answer on ${socket} within ${MASTER_START_TIMEOUT_MS / 1000}s; stopped it. See ${logFile}`);
      return 1;
    }
  }
  const c = controlClient(socket);
  let result: UpOutcome | number | undefined;
  let units: UnitStatus[] = [];
  // The daemon's up() is bounded by every unit's start timeout; this loop only shows progress until it says so.
  while (result === undefined) {
    units = (await c.listUnits({}, { timeoutMs: PROGRESS_READ_MS }).catch(() => ({ units }))).units;
    spin.update(progressText(units));
    result = await Promise.race([outcome, exited, clock.sleep(100).then(() => undefined)]);
  }
  if (child.connected) child.disconnect();
  if (typeof result === "number") return masterExited(result);
  units = (await c.listUnits({}, { timeoutMs: PROGRESS_READ_MS }).catch(() => ({ units }))).units;
  const took = formatDuration(Date.now() - started).replace(/^0s$/, "<1s");
  if (result.error) spin.stop(`${paint("✘", "red", color)} ${result.error}\n  the master runs on (pid ${child.pid}) with the units that started; \`hsu logs <unit>\` shows why, \`hsu down\` stops it`);
  else spin.stop(`${paint("✔", "green", color)} master running (pid ${child.pid}) in ${took}, log ${logFile}`);
  if (json) process.stdout.write(`${JSON.stringify(units.map((u) => statusJson(u, Date.now(), procStartTime)), null, 2)}\n`);
  else {
    const outColor = useColor();
    process.stdout.write(`${psTable(units, { color: outColor, startTimeOf: procStartTime })}\n${summaryLine(units, outColor)}\n`);
    if (!result.error) process.stderr.write(`${paint("next: hsu ps · hsu logs -f · hsu down", "gray", color)}\n`);
  }
  return result.error ? 1 : 0;
}

/** How long a detached master may take to load its units and answer on its socket. */
const MASTER_START_TIMEOUT_MS = 60_000;
// A progress read that takes longer is skipped (the last units shown stay): a stalled master must not stall the loop that watches its exit.
const PROGRESS_READ_MS = 2_000;

/** What the daemon tells `hsu up --detach` once its `up` is over. */
export interface UpOutcome {
  /** Why some units did not start; absent when every one did. */
  error?: string;
}

/** What the daemon tells `hsu up --detach` when it cannot start at all, right before it exits. */
export interface DaemonRefusal {
  refused: string;
}

async function upForeground(deployment: Deployment): Promise<number> {
  const color = useColor(process.stderr);
  const started = Date.now();
  const prefix = createPrefixer(["hsu", ...expectedUnitIds(deployment)], useColor());
  const hsuTag = paint(`${"hsu".padEnd(prefix.width())} »`, "bold", color);
  let spin = spinner("starting the master");
  const say = (line: string) => spin.log(`${hsuTag} ${line}`);
  let running: RunningMaster;
  try {
    running = await runMaster(deployment, { log: say });
  } catch (e) {
    spin.stop();
    // The master could not start and has released what it held; a listener it opened before the
    // failure may still keep this process alive, and nothing else runs here: say why and leave.
    process.stderr.write(`hsu up: ${HsuError.from(e).message}\n`);
    process.exit(1);
  }
  const { master } = running;
  // While the master shuts down, list() can meet a unit that is half removed; the last good list is close enough.
  let lastList = master.list();
  const list = () => {
    try {
      return (lastList = master.list());
    } catch {
      return lastList;
    }
  };
  const kinds = new Map(lastList.map((u) => [u.id, u.kind as string]));
  let phase: "starting" | "running" | "stopping" = "starting";
  master.onEvent((e) => {
    if (!kinds.has(e.unit)) kinds.set(e.unit, list().find((u) => u.id === e.unit)?.kind ?? "");
    // The master removes every unit as it shuts down; "unit removed" would read as if hsu.yaml had changed.
    const shown = phase === "stopping" && e.reason === "unit removed" ? { ...e, reason: "shutting down" } : e;
    if (!quiet(e, kinds.get(e.unit), phase)) say(describeEvent(shown, color));
    if (phase === "starting") spin.update(progressText(list()));
  });
  // Logs go to stdout, the master's own lines to stderr: `hsu up > app.log` keeps them apart.
  const logsDone = (async () => {
    const controller = new AbortController();
    void running.done.then(() => controller.abort());
    for await (const line of master.logLines([], 0, true, controller.signal)) {
      spin.log(`${prefix.format(line.unit, line.stream === "stderr")} ${line.text}`, process.stdout);
    }
  })();
  spin.update(progressText(list()));
  let failure: unknown;
  await master.up().catch((e: unknown) => (failure = e));
  // A unit that did not start ends a foreground `up`: everything is stopped and the exit code says so.
  phase = "running";
  const units = list().map(viewToStatus);
  const took = formatDuration(Date.now() - started).replace(/^0s$/, "<1s");
  if (failure) spin.stop(`${paint("✘", "red", color)} up: ${(failure as Error).message}`);
  else spin.stop(`${paint("✔", "green", color)} up in ${took} · ${summaryLine(units, color)} · Ctrl-C stops them all`);
  process.stderr.write(`${psTable(units, { color, startTimeOf: procStartTime })}\n`);
  let interrupts = 0;
  const onInterrupt = () => {
    interrupts++;
    const left = list().filter((u) => u.pid && u.kind !== "unmanaged");
    if (interrupts === 1) {
      phase = "stopping";
      process.stderr.write("\n");
      spin = spinner(`stopping ${left.length} processes (Ctrl-C again to see what is left)`);
    } else if (interrupts === 2) say(`still stopping: ${left.map((u) => u.id).join(", ") || "the master"}; Ctrl-C again to quit without waiting`);
    else process.exit(130);
  };
  // runMaster stops the master on the first SIGINT; these only report and offer a way out.
  process.on("SIGINT", onInterrupt);
  process.on("SIGTERM", onInterrupt);
  if (failure) {
    phase = "stopping";
    spin = spinner("a unit did not start: stopping every unit and the master");
    void running.stop();
  }
  // Adopted (unmanaged) processes are not the master's to stop; every other pid must be gone at the end.
  const pids = new Set<number>();
  const remember = (units: readonly UnitStatusView[]) => units.forEach((u) => u.pid && u.kind !== "unmanaged" && pids.add(u.pid));
  // Every pid appears with a state change of its unit, so each event is the moment to look at that unit
  // (no timer wakes an idle master, and an event costs one unit's views, not every unit's).
  const untrack = master.onEvent((e) => {
    try {
      remember(master.get(e.unit));
    } catch {
      // The unit is being removed: its pid, if any, was seen at its earlier events.
    }
  });
  remember(list());
  await running.done;
  untrack();
  await logsDone.catch(() => {});
  const alive = [...pids].filter(isAlive);
  spin.stop(
    alive.length
      ? `${paint("✘", "red", color)} master stopped, but ${alive.length} of its processes still run: pid ${alive.join(", ")}`
      : `${paint("✔", "green", color)} stopped every unit and the master; none of their ${pids.size} processes is left`,
  );
  process.off("SIGINT", onInterrupt);
  process.off("SIGTERM", onInterrupt);
  return alive.length || failure ? 1 : 0;
}

/** One master event as a person reads it: "flaky running -> exited: pid 5023 ended with exit code 1". */
export function describeEvent(e: MasterEvent, color: boolean): string {
  const to = paint(e.to, stateColor(e.to), color);
  // A cron run's reason starts with its ISO due time; the line is printed when it happens, so the time is noise.
  const reason = e.reason.replace(/^run due \S+: /, "run ");
  return `${paint(e.unit, "bold", color)} ${e.from === e.to ? to : `${e.from} -> ${to}`}: ${reason}`;
}

// A cron job's every start and exit would drown the screen; its run results say what matters.
// While units come up the spinner counts them, so "stopped -> starting" adds nothing.
function quiet(e: MasterEvent, kind: string | undefined, phase: string): boolean {
  if (kind === "scheduled") return e.from !== "scheduled" && e.to !== "failed";
  return phase === "starting" && e.from === "stopped" && e.to === "starting";
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
