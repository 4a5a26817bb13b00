// Builds and packs every published package (`pnpm pack`, which applies
// `publishConfig` and runs `prepack`) into one directory: the tarballs a user
// would install. Used by the tarball lint test and the doc-snippet test.
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

export const repoRoot = join(import.meta.dirname, "..");

/** scripts/locked.sh: runs a command holding one package's build lock. */
export const lockedScript = join(repoRoot, "scripts", "locked.sh");

/** scripts/build-and-pack.sh: builds one package and packs it into a directory, under its build lock. */
export const buildAndPackScript = join(repoRoot, "scripts", "build-and-pack.sh");

/** The published packages' folders under packages/, lower layers first (build order). */
export const publishedDirs = ["proto", "transport", "server", "client", "master", "gateway", "create-hsu-unit"] as const;

/** One packed package. */
export interface PackedPackage {
  readonly name: string;
  readonly dir: string;
  readonly tarball: string;
}

const execFileP = promisify(execFile);

async function step(what: string, cmd: string, args: string[], cwd: string): Promise<void> {
  try {
    await execFileP(cmd, args, { cwd, encoding: "utf8", timeout: 300_000, maxBuffer: 64 * 1024 * 1024 });
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string; message: string };
    throw new Error(`${what} failed (${cwd}: ${cmd} ${args.join(" ")}): ${err.message}\n${err.stdout ?? ""}${err.stderr ?? ""}`);
  }
}

/** Builds each published package and packs it into `dest` (which should be empty). */
export async function packAll(dest: string): Promise<PackedPackage[]> {
  const out: PackedPackage[] = [];
  for (const dir of publishedDirs) {
    const cwd = join(repoRoot, "packages", dir);
    const pkg = JSON.parse(readFileSync(join(cwd, "package.json"), "utf8")) as { name: string; version: string; private?: boolean };
    if (pkg.private) throw new Error(`packages/${dir} is private; publishedDirs lists only published packages`);
    const before = new Set(readdirSync(dest));
    await step(`build and pack ${pkg.name}`, "bash", [buildAndPackScript, cwd, dest], cwd);
    const made = readdirSync(dest).filter((f) => f.endsWith(".tgz") && !before.has(f));
    if (made.length !== 1) throw new Error(`pnpm pack of ${pkg.name} wrote ${made.length} tarballs into ${dest}: ${made.join(", ")}`);
    out.push({ name: pkg.name, dir: cwd, tarball: join(dest, made[0]!) });
  }
  return out;
}
