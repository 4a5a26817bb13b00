// `hsu upgrade <unit> [version]` and `hsu rollback <unit>`: the store is changed on disk
// (artifacts/upgrade.ts, under the store's lock); the running master restarts the unit through
// the control API, as `hsu restart` does, and the gate watches it there (GetUnit, StreamEvents).
import { HsuError, specDefaults } from "@hsu/client";
import type { UnitStatus } from "@hsu/proto";
import { setTimeout as sleep } from "node:timers/promises";
import { loadDeployment, type Deployment, type UnitConfig } from "../config/index.ts";
import { checkStateDir } from "../daemon/state-dir.ts";
import { resolveIndex } from "../artifacts/index-file.ts";
import { windowState } from "../artifacts/upgrade-window.ts";
import { label, rollbackUnit, upgradeUnit, type GateResult, type MasterLink, type UpgradeOutcome } from "../artifacts/upgrade.ts";
import { controlClient, READ_TIMEOUT_MS, type ControlClient } from "./client.ts";
import { formatDuration, paint, useColor } from "./format.ts";
import { masterSocket } from "./master-socket.ts";
import { requireSpecFile } from "./spec-file.ts";
import { usageError } from "./usage-error.ts";

type Values = Record<string, string | boolean | undefined>;

/** States in which the process the restart started is gone: the new version did not stay up. */
const DOWN = new Set(["backoff", "killing", "exited", "failed", "stopped"]);
const POLL_MS = 100;

/** `hsu upgrade <unit> [version]`. */
export async function runUpgrade(values: Values, [id, version, ...extra]: string[]): Promise<number> {
  if (!id) throw usageError("upgrade", "name the unit to upgrade", "<unit> [version]");
  if (extra.length) throw usageError("upgrade", `unexpected argument "${extra[0]}"`, "<unit> [version]");
  const { d, unit: named } = await load(values, id);
  if (named.upgrade.window !== undefined && !values.now) {
    const w = windowState(named.upgrade.window, new Date());
    if (!w.open) {
      throw new HsuError(
        "failed_precondition",
        `it is outside its upgrade window (upgrade.window "${named.upgrade.window}")${w.next ? `, which opens next at ${w.next.toString()}` : ""}; run it then, or now with --now`,
        { unit: id, field: `units.${id}.upgrade.window` },
      );
    }
  }
  // An index: the version asked for, or its newest, becomes the source installed (and verified) as url: is.
  const unit = named.source?.index !== undefined ? { ...named, source: await resolveIndex(named.source, version).catch((e: unknown) => inUnit(e, id)) } : named;
  if (version !== undefined && version !== unit.source?.version) {
    throw new HsuError(
      "failed_precondition",
      `hsu.yaml names version ${unit.source?.version === undefined ? "(none)" : `"${unit.source.version}"`} for it, not "${version}": put the artifact of ${version} in units.${id}.source (url, sha256, version), then run \`hsu upgrade ${id}\``,
      { unit: id, field: `units.${id}.source.version` },
    );
  }
  const started = Date.now();
  const master = await masterFor(values, d, unit);
  const color = useColor(process.stderr);
  const log = values.json ? undefined : (l: string) => process.stderr.write(`${paint("»", "gray", color)} ${l}\n`);
  if (master && unit.upgrade.whenIdle && !values.now) await untilAtRest(controlClient(masterSocket(values)), unit, log);
  const o = await upgradeUnit(d, unit, { master, ...(log ? { log } : {}) });
  return report("upgrade", o, values, Date.now() - started);
}

/** `hsu rollback <unit>`. */
export async function runRollback(values: Values, [id, ...extra]: string[]): Promise<number> {
  if (!id) throw usageError("rollback", "name the unit to roll back", "<unit>");
  if (extra.length) throw usageError("rollback", `unexpected argument "${extra[0]}"`, "<unit>");
  const { d, unit } = await load(values, id);
  const started = Date.now();
  const master = await masterFor(values, d, unit);
  const o = await rollbackUnit(d, unit, { master });
  return report("rollback", o, values, Date.now() - started);
}

const inUnit = (e: unknown, unit: string): never => {
  const err = HsuError.from(e);
  throw new HsuError(err.code, err.message, { unit }, { cause: e });
};

async function load(values: Values, id: string): Promise<{ d: Deployment; unit: UnitConfig }> {
  const file = requireSpecFile(String(values.file));
  // The new version's program is checked once its tree is there, as `hsu install` does.
  const d = await loadDeployment(file);
  checkStateDir(d.master.stateDir);
  const unit = d.units[id];
  if (!unit) throw new HsuError("not_found", `no unit "${id}" in ${file} (units: ${Object.keys(d.units).join(", ") || "none"})`);
  if (!unit.source) throw new HsuError("failed_precondition", `has no source: to upgrade or roll back; give it one (source: { url, sha256 }), see docs/artifacts.md`, { unit: id, field: `units.${id}.source` });
  return { d, unit };
}

function report(command: "upgrade" | "rollback", o: UpgradeOutcome, values: Values, ms: number): number {
  const failed = o.action === "rolled-back" && command === "upgrade";
  const backFailed = o.why !== undefined && command === "rollback";
  if (values.json) {
    process.stdout.write(`${JSON.stringify({ ...o, ms })}\n`);
    return failed || backFailed ? 1 : 0;
  }
  const color = useColor();
  const ok = paint("✔", "green", color);
  const where = o.noMaster ? "; no master is running: the unit starts on it at the next `hsu up`" : o.pid ? `, running as pid ${o.pid}` : "";
  const took = ` in ${formatDuration(ms).replace(/^0s$/, "<1s")}`;
  if (o.recovered) process.stderr.write(`hsu ${command}: unit "${o.unit}": finished the ${o.recovered.op} a killed process left at step "${o.recovered.step}" first\n`);
  if (o.action === "current") {
    process.stdout.write(`${ok} ${o.unit}: already on ${label(o.to)}${where}\n`);
    return 0;
  }
  if (command === "upgrade" && o.action === "upgraded") {
    process.stdout.write(`${ok} ${o.unit} upgraded${o.from ? ` from ${label(o.from)}` : ""} to ${label(o.to)}${where}${took}\n`);
    return 0;
  }
  if (failed) {
    const back = o.masterGone
      ? `; \`current\` is back on ${label(o.from)}, and \`hsu rollback ${o.unit}\` restarts it there once a master runs`
      : o.pid
        ? `; rolled back to ${label(o.from)}, which runs again as pid ${o.pid}`
        : `; rolled back to ${label(o.from)}${o.backWhy ? `, which did not come up either: ${o.backWhy}` : ""}`;
    process.stderr.write(`hsu upgrade: unit "${o.unit}": version ${label(o.to)} failed: ${o.why}${back}\n`);
    return 1;
  }
  if (backFailed) {
    process.stderr.write(`hsu rollback: unit "${o.unit}": switched back to ${label(o.to)}, but ${o.masterGone ? `the master could not restart it (${o.why}); run \`hsu rollback ${o.unit}\` again once a master runs` : `it did not come up: ${o.why}`}\n`);
    return 1;
  }
  process.stdout.write(`${ok} ${o.unit} rolled back${o.from ? ` from ${label(o.from)}` : ""} to ${label(o.to)}${where}${took}\n`);
  return 0;
}

/**
 * upgrade.when_idle: waits until the integrated unit is at rest (stopped after idle_timeout, shown
 * as idle), at most twice its idle_timeout plus health_timeout. A call that wakes it again after
 * that is still safe: the restart lets leased calls finish first.
 */
async function untilAtRest(c: ControlClient, unit: UnitConfig, log: ((l: string) => void) | undefined): Promise<void> {
  const waitMs = 2 * (unit.idleTimeoutMs ?? 0) + unit.upgrade.healthTimeoutMs;
  const end = Date.now() + waitMs;
  let said = false;
  for (let i = 0; i < 1_000_000; i++) {
    const u = (await c.getUnit({ id: unit.id }, { timeoutMs: READ_TIMEOUT_MS })).unit;
    if (!u || u.state === "idle") return;
    if (Date.now() > end) {
      throw new HsuError("failed_precondition", `did not come to rest within ${formatDuration(waitMs)} (upgrade.when_idle; it is ${u.state} and busy): run it again later, or with --now to upgrade it under load`, { unit: unit.id, field: `units.${unit.id}.upgrade.when_idle` });
    }
    if (!said) log?.(`${unit.id}: waiting for it to be at rest (upgrade.when_idle, at most ${formatDuration(waitMs)})`);
    said = true;
    await sleep(POLL_MS);
  }
}

/** The running master that runs `unit`, or undefined when none runs (a stale socket included). */
async function masterFor(values: Values, d: Deployment, unit: UnitConfig): Promise<MasterLink | undefined> {
  let c: ControlClient;
  try {
    c = controlClient(masterSocket(values));
    await c.getUnit({ id: unit.id }, { timeoutMs: READ_TIMEOUT_MS });
  } catch (e) {
    const err = HsuError.from(e);
    if (err.code === "unavailable") return undefined;
    if (err.code === "not_found") throw new HsuError("failed_precondition", `the running master has no unit "${unit.id}" (its hsu.yaml is older): \`hsu apply\` it first`, { unit: unit.id });
    throw err;
  }
  return controlLink(c, unit);
}

/** The MasterLink over the control API. */
export function controlLink(c: ControlClient, unit: UnitConfig): MasterLink {
  const get = async (id: string) => {
    const u = (await c.getUnit({ id }, { timeoutMs: READ_TIMEOUT_MS })).unit;
    if (!u) throw new HsuError("internal", "the master answered GetUnit without the unit", { unit: id });
    return u;
  };
  return {
    pid: async (id) => (await get(id)).pid,
    restart: async (id) => {
      await c.restartUnit({ id });
    },
    gate: (id, before, timeoutMs) => gate(c, get, id, before, timeoutMs, unit.healthCheck !== undefined),
  };
}

/**
 * The health gate: a process other than `before` must run for startSettleMs without being
 * replaced, and with a health check be ready (healthy), before `timeoutMs`. The reason of the
 * last exit or failed check (the master's events) says why it did not.
 */
async function gate(c: ControlClient, get: (id: string) => Promise<UnitStatus>, id: string, before: number, timeoutMs: number, hasHealth: boolean): Promise<GateResult> {
  const end = Date.now() + timeoutMs;
  const stop = new AbortController();
  let reason = "";
  const events = (async () => {
    try {
      for await (const r of c.streamEvents({ units: [id] }, { signal: stop.signal })) {
        // The first failure says why (an unhealthy check, an exit); what follows (backoff, a restart) is its consequence.
        if (r.event && DOWN.has(r.event.toState) && r.event.reason && !reason) reason = r.event.reason;
      }
    } catch {
      // Ended by the abort below, or the master went away: the polls say so.
    }
  })();
  const why = async (what: string) => {
    await sleep(300); // the event that says why may trail the state by a moment
    return { ok: false as const, why: reason ? `${what}: ${reason}` : what };
  };
  try {
    let steady: { pid: number; since: number } | undefined;
    let last = await get(id);
    for (let i = 0; Date.now() < end && i < 1_000_000; i++) {
      last = await get(id);
      const exit = last.lastExit ? ` (${last.lastExit})` : "";
      // An integrated unit that ran and then came to rest (its idle_timeout) did start: that passes.
      if (steady && last.state === "idle") return { ok: true, pid: steady.pid };
      if (DOWN.has(last.state) && (steady || last.pid !== before)) return await why(`it ${last.state === "killing" ? "was being killed" : `is ${last.state}`}${exit}`);
      if (last.pid && last.pid !== before && (last.state === "running" || last.state === "ready")) {
        if (steady && steady.pid !== last.pid) return await why(`its process ${steady.pid} exited${exit} and was replaced`);
        steady ??= { pid: last.pid, since: Date.now() };
        if (hasHealth ? last.state === "ready" || last.health === "healthy" : Date.now() - steady.since >= specDefaults.startSettleMs) return { ok: true, pid: last.pid };
      }
      await sleep(POLL_MS);
    }
    const health = hasHealth ? `, health ${last.health || "unknown"}` : "";
    return await why(`not ${hasHealth ? "healthy" : "running"} within upgrade.health_timeout (${formatDuration(timeoutMs)}): state ${last.state}${health}`);
  } finally {
    stop.abort();
    await events;
  }
}
