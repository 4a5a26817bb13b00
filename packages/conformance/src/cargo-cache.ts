import { existsSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { acquireLock } from "./lock.ts";
import { repoRoot } from "./paths.ts";
import { prepareUnit } from "./prepare.ts";
import { runOk } from "./run.ts";

const echoUnit = join(repoRoot, ".cache/conformance/rust/unit");

/**
 * Every generated Rust project has the same Cargo.lock and dependencies, so
 * a cold `target/` for another project (the proto corpus, the first-hour
 * test) starts as a copy of the Rust echo conformance unit's: tonic and its
 * dependencies compile once per machine, in whichever suite runs first, and
 * cargo then rebuilds only the project's own crates. Builds the echo unit
 * first when it is not built yet (the conformance suite needs it anyway).
 * Copied under that unit's lock, so no build writes it meanwhile. No-op when
 * `target` exists.
 */
export async function seedCargoTarget(target: string, lockTimeoutMs: number): Promise<void> {
  if (existsSync(target)) return;
  if (!existsSync(join(echoUnit, "target"))) (await prepareUnit("rust", lockTimeoutMs)).release?.();
  mkdirSync(dirname(target), { recursive: true });
  const release = await acquireLock(join(dirname(echoUnit), "lock"), lockTimeoutMs);
  try {
    await runOk("seed target/ from the Rust echo unit", ["cp", "-a", join(echoUnit, "target"), target], { cwd: repoRoot });
  } finally {
    release();
  }
}
