import { execFileSync } from "node:child_process";
import { mkdirSync, readdirSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";

const repoRoot = resolve(import.meta.dirname, "../../../..");

/**
 * Builds and packs the SDK packages a TypeScript unit installs into
 * `.cache/sdk-create-hsu-unit` (for --sdk in slow tests).
 */
export function packSdk(): string {
  const out = join(repoRoot, ".cache", "sdk-create-hsu-unit");
  mkdirSync(out, { recursive: true });
  for (const file of readdirSync(out)) rmSync(join(out, file), { force: true });
  for (const pkg of ["proto", "transport", "server"]) {
    const cwd = join(repoRoot, "packages", pkg);
    execFileSync("bash", [join(repoRoot, "scripts", "build-and-pack.sh"), cwd, out], { cwd, stdio: "pipe" });
  }
  return out;
}
