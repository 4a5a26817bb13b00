// The two shipped shapes of `hsu` that are not this source tree: the single
// executable (dist-sea/hsu, Node's SEA) and the npm bundle (dist/bundle/),
// each copied away from the repository and run as a user would, through a
// whole `up -d` / `ps` / `logs` / `down` with real processes.
import { execFile } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, readdirSync, realpathSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildSea, bundleEsm, isFresh, outputs } from "../../scripts/bundle.ts";
import { DAEMON_NODE_FLAGS } from "../daemon/v8-flags.ts";
import { alive, createProjects, markedUnits, until, type HsuResult } from "../test-support/hsu-cli.ts";

const repoRoot = join(import.meta.dirname, "..", "..", "..", "..");
const { version } = JSON.parse(readFileSync(join(import.meta.dirname, "..", "..", "package.json"), "utf8")) as { version: string };
const tmp = mkdtempSync(join(tmpdir(), "hsu-single-"));
const projects = createProjects("hsu-single-project-");
afterAll(() => {
  projects.removeAll();
  rmSync(tmp, { recursive: true, force: true });
});

/** Builds the output unless a build newer than its sources is there, and copies it into `dir`. */
async function copyOf(kind: "sea" | "esm", dir: string): Promise<string> {
  if (!isFresh(outputs[kind])) await (kind === "sea" ? buildSea() : bundleEsm());
  mkdirSync(dir, { recursive: true });
  if (kind === "sea") {
    cpSync(outputs.sea, join(dir, "hsu"));
    return join(dir, "hsu");
  }
  cpSync(join(outputs.esm, ".."), dir, { recursive: true });
  return join(dir, "hsu.js");
}

/**
 * Runs one command with a minimal environment (no NODE_OPTIONS, no
 * NODE_PATH, nothing of this repository's) and a deadline.
 */
async function exec(command: string, args: string[], cwd: string): Promise<HsuResult> {
  try {
    const r = await promisify(execFile)(command, args, { cwd, env: { PATH: "/usr/local/bin:/usr/bin:/bin", HOME: tmp, NO_COLOR: "1" }, timeout: 60_000 });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const err = e as { code: number | string; signal?: string; stdout?: string; stderr?: string };
    return { code: typeof err.code === "number" ? err.code : 1, stdout: err.stdout ?? "", stderr: `${err.stderr ?? ""} (${err.signal ?? err.code})` };
  }
}

const cmdline = (pid: number) => readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").slice(0, -1);

/** Every file the process has mapped or open: none may be under the repository. */
function filesOf(pid: number): string[] {
  const maps = readFileSync(`/proc/${pid}/maps`, "utf8").split("\n").map((l) => l.split(/\s+/).slice(5).join(" "));
  const fds = readdirSync(`/proc/${pid}/fd`).map((fd) => {
    try {
      return readlinkSync(`/proc/${pid}/fd/${fd}`);
    } catch {
      return "";
    }
  });
  return [...new Set([...maps, ...fds].filter((f) => f.startsWith("/")))];
}

type Ps = { id: string; state: string; pid: number | null }[];

/**
 * `hsu --version`, `up -d`, `ps --json`, `logs`, `down` through `hsu` (the
 * command and its leading arguments), run in `cwd` with `-f` naming the
 * project's spec; checks the units' processes run, then are gone.
 */
async function wholeLife(hsu: string[], cwd: string, daemonArgv: (spec: string) => string[]): Promise<void> {
  const marker = `TEST_RUN=${Math.random().toString(36).slice(2)}`;
  const env = `env: { TEST_RUN: "${marker.split("=")[1]}" }`;
  const dir = projects.make(`units:
  alpha:
    command: sh
    args: ["-c", "echo hello from alpha; exec sleep 600"]
    ${env}
  beta:
    command: sleep
    args: ["600"]
    ${env}
`);
  const spec = join(dir, "hsu.yaml");
  const run = (...args: string[]) => exec(hsu[0]!, [...hsu.slice(1), ...args], cwd);

  const v = await run("--version");
  expect(v, v.stderr).toMatchObject({ code: 0, stdout: `hsu ${version}\n` });

  const up = await run("up", "-d", "-f", spec);
  expect(up.code, up.stderr).toBe(0);
  const master = Number(/master running \(pid (\d+)\)/.exec(up.stderr)?.[1]);
  expect(alive(master), up.stderr).toBe(true);
  // The daemon is this same hsu run again, not something found on disk.
  expect(cmdline(master)).toEqual(daemonArgv(spec));
  // (The bundle's Node is this repository's pinned one; nothing else of the repository may be open.)
  expect(filesOf(master).filter((f) => f.startsWith(repoRoot) && f !== realpathSync(process.execPath))).toEqual([]);

  await until("alpha and beta run", () => markedUnits(marker).get("alpha")?.length === 1 && markedUnits(marker).get("beta")?.length === 1);
  const units = markedUnits(marker);
  const ps = await run("ps", "--json", "-f", spec);
  expect(ps.code, ps.stderr).toBe(0);
  const listed = (JSON.parse(ps.stdout) as Ps).map((u) => ({ id: u.id, state: u.state, pid: u.pid })).sort((a, b) => a.id.localeCompare(b.id));
  expect(listed).toEqual([
    { id: "alpha", state: "running", pid: units.get("alpha")![0] },
    { id: "beta", state: "running", pid: units.get("beta")![0] },
  ]);

  let logs: HsuResult | undefined;
  await until("alpha's line is in hsu logs", async () => (logs = await run("logs", "--file", spec)).stdout.includes("hello from alpha"));
  expect(logs!.code, logs!.stderr).toBe(0);

  const down = await run("down", "-f", spec);
  expect(down.code, down.stderr).toBe(0);
  expect(down.stdout).toContain(`the master (pid ${master}); none of their processes is left`);
  expect(markedUnits(marker)).toEqual(new Map());
  await until("the master has exited", () => !alive(master));
}

describe("the single executable hsu", () => {
  let plain = "";
  let spaced = "";
  beforeAll(async () => {
    plain = await copyOf("sea", join(tmp, "sea"));
    spaced = await copyOf("sea", join(tmp, "a dir with spaces", "bin dir"));
  }, 300_000);

  it("runs a whole up -d / ps / logs / down from an empty directory, its daemon being itself", async () => {
    const cwd = join(tmp, "sea");
    await wholeLife([plain], cwd, (spec) => [plain, "daemon", "-f", spec]);
  });

  it("works from a path with spaces, run from a directory that is not the project's", async () => {
    const elsewhere = mkdtempSync(join(tmp, "elsewhere "));
    await wholeLife([spaced], elsewhere, (spec) => [spaced, "daemon", "-f", spec]);
  });
});

describe("the npm bundle of hsu", () => {
  let entry = "";
  beforeAll(async () => {
    entry = await copyOf("esm", join(tmp, "bundle"));
  }, 120_000);

  it("is in the package's tarball, every chunk of it", async () => {
    const pkgDir = join(import.meta.dirname, "..", "..");
    const { stdout } = await promisify(execFile)("npm", ["pack", "--dry-run", "--json", "--ignore-scripts"], { cwd: pkgDir, timeout: 60_000 });
    const packed = new Set((JSON.parse(stdout) as { files: { path: string }[] }[])[0]!.files.map((f) => f.path));
    for (const f of readdirSync(join(outputs.esm, ".."))) expect(packed, f).toContain(`dist/bundle/${f}`);
    expect(packed).toContain("bin/hsu.js");
  });

  it("runs a whole up -d / ps / logs / down copied away from node_modules, its daemon being the bundle", async () => {
    await wholeLife([process.execPath, entry], tmp, (spec) => [process.execPath, ...DAEMON_NODE_FLAGS, entry, "daemon", "-f", spec]);
  });
});
