// units/<unit>/upgrade.json: the step an upgrade (or a rollback) of one unit is at, written
// (tmp + rename) before the step's work starts and removed when it is over. A process killed at
// any step leaves it behind; the next `hsu rollback` or `hsu upgrade` reads it and finishes the
// job from there: an interrupted upgrade is rolled back to `from`, an interrupted rollback is
// completed to `to`.
import { HsuError } from "@hsu/client";
import { randomBytes } from "node:crypto";
import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { StorePaths } from "./store.ts";

/**
 * The steps, in order. An upgrade: installing (fetch, verify, extract, switch `current`) ->
 * restarting -> gating (the new version must run, and be healthy when it has a check);
 * a failed gate or a rollback: rolling-back (switch `current` back) -> restarting-back.
 */
export const upgradeSteps = ["installing", "restarting", "gating", "rolling-back", "restarting-back"] as const;

/** One step of {@link upgradeSteps}. */
export type UpgradeStep = (typeof upgradeSteps)[number];

/** What upgrade.json holds. */
export interface UpgradeState {
  op: "upgrade" | "rollback";
  /** The sha256 of the tree the unit ran before this began. */
  from: string;
  /** The tree it is going to: known once installed (upgrade), from the start (rollback). */
  to?: string;
  step: UpgradeStep;
  /** The pid of the process that wrote it (`hsu upgrade` / `hsu rollback`). */
  pid: number;
  startedAt: string;
}

/** How long a new version has to run (and be healthy) when `upgrade.health_timeout` is not set. */
export const DEFAULT_HEALTH_TIMEOUT_MS = 30_000;

const file = (p: StorePaths, unit: string) => join(p.units, unit, "upgrade.json");

/** The unit's upgrade in progress (left by a process that was killed), if any. */
export async function readUpgradeState(p: StorePaths, unit: string): Promise<UpgradeState | undefined> {
  let text: string;
  try {
    text = await readFile(file(p, unit), "utf8");
  } catch {
    return undefined;
  }
  try {
    const v = JSON.parse(text) as UpgradeState;
    if ((v.op === "upgrade" || v.op === "rollback") && /^[0-9a-f]{64}$/.test(v.from) && upgradeSteps.includes(v.step)) return v;
  } catch {
    // Reported below: a torn file cannot come from tmp + rename, so it was edited by hand.
  }
  throw new HsuError("internal", `${file(p, unit)} is not an upgrade state hsu wrote; remove it, then run \`hsu rollback ${unit}\` to pick a version`, { unit });
}

/**
 * Persists the step about to start. With HSU_FAILPOINT=upgrade:<step> the
 * process then ends itself with SIGKILL: how the tests kill it at each step.
 */
export async function writeUpgradeState(p: StorePaths, unit: string, state: UpgradeState): Promise<void> {
  const dir = join(p.units, unit);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const tmp = join(dir, `.upgrade-${randomBytes(6).toString("hex")}.json`);
  await writeFile(tmp, `${JSON.stringify(state)}\n`, { mode: 0o600 });
  await rename(tmp, file(p, unit));
  if (process.env.HSU_FAILPOINT === `upgrade:${state.step}`) process.kill(process.pid, "SIGKILL");
}

/** The upgrade is over (done, or rolled back). */
export async function clearUpgradeState(p: StorePaths, unit: string): Promise<void> {
  await rm(file(p, unit), { force: true });
}
