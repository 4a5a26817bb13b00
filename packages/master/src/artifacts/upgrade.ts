// `hsu upgrade` and `hsu rollback` of a source unit, as a small state machine whose every step
// is persisted in units/<unit>/upgrade.json before it runs (upgrade-state.ts):
//   upgrade:  installing -> restarting -> gating -> (done)
//                                          \-> rolling-back -> restarting-back -> (rolled back)
//   rollback: rolling-back -> restarting-back -> (done)
// `current` only ever moves by one rename (store.ts), so whatever step a kill -9 lands on, the
// unit's `current` is one whole tree, and the next run knows from upgrade.json where to go.
import { HsuError } from "@hsu/client";
import type { Deployment, UnitConfig } from "../config/defaults.ts";
import { installUnit, lockStore, type InstallOptions } from "./install.ts";
import { currentSha, hasTree, readHistory, recordInstall, storePaths, switchCurrent, type HistoryEntry, type StorePaths } from "./store.ts";
import { clearUpgradeState, readUpgradeState, writeUpgradeState, type UpgradeState } from "./upgrade-state.ts";

/** What the gate saw: the unit runs (pid) and, with a health check, is healthy; or why not. */
export type GateResult = { ok: true; pid: number } | { ok: false; why: string };

/**
 * The running master, as an upgrade needs it (the CLI gives one over the control API). A master
 * that cannot be reached throws HsuError `unavailable`; a unit that does not come up is a GateResult.
 */
export interface MasterLink {
  /** The unit's pid now (0: no process). */
  pid(unit: string): Promise<number>;
  /** Restarts the unit (stop, then start from `current`). */
  restart(unit: string): Promise<void>;
  /** Waits until a process other than `before` runs steadily (and is healthy if the unit has a check), at most `timeoutMs`. */
  gate(unit: string, before: number, timeoutMs: number): Promise<GateResult>;
}

/** What an upgrade or a rollback ended with. */
export interface UpgradeOutcome {
  unit: string;
  /** upgraded: on the new version (gated when a master runs); current: nothing to do; rolled-back: the new version failed its gate. */
  action: "upgraded" | "current" | "rolled-back";
  from: HistoryEntry | undefined;
  to: HistoryEntry | undefined;
  /** The unit's pid after it, when a master runs it. */
  pid?: number;
  /** No master was running: the store is switched, the unit starts on it at the next `hsu up`. */
  noMaster?: boolean;
  /** An upgrade or rollback a killed process left was finished first. */
  recovered?: UpgradeState;
  /** Why the new version was rolled back (upgrade), or why the version rolled back to did not come up (rollback). */
  why?: string;
  /** upgrade: why the version it rolled back to did not come up either. */
  backWhy?: string;
  /** The master went away mid-way: `current` is switched, the restart is left to the next `hsu rollback`. */
  masterGone?: boolean;
}

/** Options of {@link upgradeUnit} / {@link rollbackUnit}. */
export interface UpgradeOptions extends InstallOptions {
  /** The master that runs the unit, when one runs. */
  master: MasterLink | undefined;
}

/**
 * `hsu upgrade <unit>`: finishes what a killed upgrade or rollback left, installs the source
 * hsu.yaml names (which switches `current`), restarts the unit on it and gates it; a version
 * that does not run, or is not healthy within upgrade.health_timeout, is rolled back.
 */
export async function upgradeUnit(d: Deployment, unit: UnitConfig, options: UpgradeOptions): Promise<UpgradeOutcome> {
  const p = storePaths(d.master.stateDir);
  if (!unit.source) throw new HsuError("invalid_argument", `has no source: to upgrade from; give it one (source: { url, sha256 }), see docs/artifacts.md`, { unit: unit.id, field: `units.${unit.id}.source` });
  if (unit.replicas !== undefined || unit.schedule !== undefined) {
    // The gate watches one long-running process: a pool's replicas or a batch run are not that (yet).
    throw new HsuError(
      "failed_precondition",
      `is ${unit.schedule ? "a scheduled unit, whose runs start on their own" : "a pool (replicas)"}: hsu upgrade gates one long-running process; use \`hsu install ${unit.id}\` (the ${unit.schedule ? "next run uses it" : `next \`hsu restart ${unit.id}\` starts it`})`,
      { unit: unit.id },
    );
  }
  if (unit.source.keep < 2) {
    throw new HsuError("failed_precondition", "source.keep is 1, so the version an upgrade leaves would be removed and nothing could roll back to it: set keep: 2 or more", { unit: unit.id, field: `units.${unit.id}.source.keep` });
  }
  const lock = await lockStore(p);
  try {
    const recovered = await finishInterrupted(p, unit, options);
    const from = await currentSha(p, unit.id);
    const history = await readHistory(p, unit.id);
    const fromEntry = history.findLast((e) => e.sha256 === from);
    const state: UpgradeState = { op: "upgrade", from: from ?? "", step: "installing", pid: process.pid, startedAt: new Date().toISOString() };
    if (from) await writeUpgradeState(p, unit.id, state);
    const installed = await installUnit(d, unit, options).catch(async (e: unknown) => {
      // Nothing moved (install switches `current` last): there is nothing to roll back.
      if (from) await clearUpgradeState(p, unit.id);
      throw e;
    });
    const toEntry = (await readHistory(p, unit.id)).findLast((e) => e.sha256 === installed.sha256);
    const base = { unit: unit.id, from: fromEntry, to: toEntry, ...(recovered ? { recovered } : {}) };
    if (!from || installed.sha256 === from) {
      await clearUpgradeState(p, unit.id);
      if (installed.sha256 === from && !options.master) return { ...base, action: "current" };
      if (!options.master) return { ...base, action: "upgraded", noMaster: true };
      if (installed.sha256 === from) return { ...base, action: "current", pid: await options.master.pid(unit.id) };
    }
    state.to = installed.sha256;
    if (!options.master) {
      await clearUpgradeState(p, unit.id);
      return { ...base, action: "upgraded", noMaster: true };
    }
    await writeUpgradeState(p, unit.id, { ...state, step: "restarting" });
    const gate = await restartAndGate(options.master, unit, async () => writeUpgradeState(p, unit.id, { ...state, step: "gating" }));
    if (gate.ok) {
      await clearUpgradeState(p, unit.id);
      return { ...base, action: "upgraded", pid: gate.pid };
    }
    options.log?.(`${unit.id}: ${label(toEntry)} did not pass: ${gate.why}; rolling back to ${label(fromEntry)}`);
    const back = await goBack(p, unit, { op: "rollback", from: installed.sha256, to: from, step: "rolling-back", pid: process.pid, startedAt: state.startedAt }, options);
    const { why: backWhy, ...rest } = back;
    return { ...base, action: "rolled-back", why: gate.why, ...rest, ...(backWhy ? { backWhy } : {}) };
  } finally {
    lock.release();
  }
}

/**
 * `hsu rollback <unit>`: back to the version before `current` in the history (or, when a killed
 * upgrade left its state, to the version that upgrade started from), recorded in the history,
 * and the unit restarted on it when a master runs.
 */
export async function rollbackUnit(d: Deployment, unit: UnitConfig, options: UpgradeOptions): Promise<UpgradeOutcome> {
  const p = storePaths(d.master.stateDir);
  const lock = await lockStore(p);
  try {
    const left = await readUpgradeState(p, unit.id);
    const cur = await currentSha(p, unit.id);
    const history = await readHistory(p, unit.id);
    const target = left ? (left.op === "upgrade" ? left.from : left.to!) : history.findLast((e) => e.sha256 !== cur)?.sha256;
    if (!target) {
      throw new HsuError(
        "failed_precondition",
        history.length ? `has no earlier version to roll back to: its history holds only the one it runs (${label(history.at(-1))})` : "has no installed version (run `hsu install` first)",
        { unit: unit.id },
      );
    }
    const toEntry = history.findLast((e) => e.sha256 === target);
    if (!(await hasTree(p, target))) {
      throw new HsuError("failed_precondition", `cannot roll back to ${label(toEntry) || target.slice(0, 12)}: its tree ${p.trees}/${target} was removed (source.keep keeps the last N versions); install that version again with \`hsu install\``, { unit: unit.id });
    }
    const fromSha = left ? (left.op === "upgrade" ? (left.to ?? cur ?? left.from) : left.from) : cur!;
    const back = await goBack(p, unit, { op: "rollback", from: fromSha, to: target, step: "rolling-back", pid: process.pid, startedAt: new Date().toISOString() }, options);
    return { unit: unit.id, action: "rolled-back", from: history.findLast((e) => e.sha256 === fromSha), to: toEntry, ...(left ? { recovered: left } : {}), ...back };
  } finally {
    lock.release();
  }
}

/** A killed upgrade is rolled back, a killed rollback completed, before a new upgrade starts. */
async function finishInterrupted(p: StorePaths, unit: UnitConfig, options: UpgradeOptions): Promise<UpgradeState | undefined> {
  const left = await readUpgradeState(p, unit.id);
  if (!left) return undefined;
  const target = left.op === "upgrade" ? left.from : left.to!;
  const from = left.op === "upgrade" ? (left.to ?? (await currentSha(p, unit.id)) ?? left.from) : left.from;
  options.log?.(`${unit.id}: an ${left.op} killed at step "${left.step}" (pid ${left.pid}) is finished first: back to ${target.slice(0, 12)}`);
  const back = await goBack(p, unit, { ...left, op: "rollback", from, to: target, step: "rolling-back" }, options);
  if (back.why && !back.masterGone) throw new HsuError("unavailable", `the version it went back to after an interrupted ${left.op} does not run either: ${back.why}`, { unit: unit.id });
  return left;
}

/**
 * rolling-back: `current` -> state.to, recorded in the history with the version left;
 * restarting-back: the unit restarted on it (when a master runs). Then the state is cleared.
 */
async function goBack(p: StorePaths, unit: UnitConfig, state: UpgradeState, options: UpgradeOptions): Promise<{ pid?: number; noMaster?: boolean; why?: string; masterGone?: boolean }> {
  const to = state.to!;
  await writeUpgradeState(p, unit.id, state);
  const history = await readHistory(p, unit.id);
  const entry = history.findLast((e) => e.sha256 === to);
  const left = history.findLast((e) => e.sha256 === state.from);
  // A kill between an install's history write and its switch leaves the new version newest in the
  // history with `current` still old: the version gone back to is made the newest either way.
  if (history.at(-1)?.sha256 !== to) {
    await recordInstall(
      p,
      unit.id,
      {
        ...(entry ?? { sha256: to, url: "" }),
        installedAt: new Date().toISOString(),
        ...(left && state.from !== to ? { rolledBackFrom: { sha256: left.sha256, url: left.url, ...(left.version ? { version: left.version } : {}) } } : {}),
      },
      unit.source?.keep ?? 3,
    );
  }
  if ((await currentSha(p, unit.id)) !== to) await switchCurrent(p, unit.id, to);
  if (!options.master) {
    // The master that starts next runs `current`, and stops a process a crashed one left on another tree.
    await clearUpgradeState(p, unit.id);
    return { noMaster: true };
  }
  await writeUpgradeState(p, unit.id, { ...state, step: "restarting-back" });
  const gate = await restartAndGate(options.master, unit);
  // A master that went away mid-way (kill -9) has not restarted the unit: the state stays, so the next
  // `hsu rollback` restarts it; a master started meanwhile stops a process it finds on another tree.
  if (!gate.ok && "masterGone" in gate) return { why: gate.why, masterGone: true };
  await clearUpgradeState(p, unit.id);
  return gate.ok ? { pid: gate.pid } : { why: gate.why };
}

/** Restart, then the gate; a master that cannot be reached (any more) ends it with `masterGone`. */
async function restartAndGate(master: MasterLink, unit: UnitConfig, between?: () => Promise<void>): Promise<GateResult | { ok: false; why: string; masterGone: true }> {
  try {
    const before = await master.pid(unit.id);
    await master.restart(unit.id);
    await between?.();
    return await master.gate(unit.id, before, unit.upgrade.healthTimeoutMs);
  } catch (e) {
    const err = HsuError.from(e);
    if (err.code === "unavailable") return { ok: false, why: `the master could not be reached (${err.message})`, masterGone: true };
    return { ok: false, why: err.message };
  }
}

/** "1.2.0 (sha256 3f2a...)" */
export function label(e: HistoryEntry | undefined): string {
  if (!e) return "";
  return `${e.version ? `${e.version} ` : ""}(sha256 ${e.sha256.slice(0, 12)})`;
}
