import { describeHostCapabilities } from "@hsu/client";
import { createHash } from "node:crypto";
import { type Dirent, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { alive, hsu, until } from "../test-support/hsu-cli.ts";

// Through the real `hsu` binary: a unit hides a SIGTERM-ignoring grandchild in a new session (setsid, double fork).
const escapee = join(import.meta.dirname, "..", "..", "..", "client", "src", "resources", "test-support", "setsid-escapee.sh");
const host = await describeHostCapabilities();
const root = mkdtempSync(join(tmpdir(), "hsu-contain-"));
const strays = new Set<number>();
const dirs: string[] = [];

function project(name: string): string {
  const dir = join(root, name);
  dirs.push(dir);
  return dir;
}

/** hsu.yaml with one escaping unit per name ("stay": runs until stopped, "exit": its leader exits 0 at once). */
function writeSpec(dir: string, units: Record<string, "stay" | "exit">, onRestart = "adopt"): void {
  const body = Object.entries(units)
    .map(([id, mode]) => `  ${id}:\n    command: ${escapee}\n    args: ["${join(dir, `${id}.pid`)}", ${mode}]\n    graceful_timeout: 2s\n    restart: { policy: never }\n`)
    .join("");
  writeFileSync(join(dir, "hsu.yaml"), `units:\n${body}master:\n  on_restart: ${onRestart}\n`);
}

function setUp(name: string, units: Record<string, "stay" | "exit">, onRestart?: string): string {
  const dir = project(name);
  mkdirSync(dir);
  writeSpec(dir, units, onRestart);
  return dir;
}

/** The escapee's pid once a (new) one wrote its file. */
async function escapeeOf(dir: string, unit: string, not?: number): Promise<number> {
  const file = join(dir, `${unit}.pid`);
  let pid = 0;
  await until(`unit ${unit} has an escapee`, () => {
    pid = existsSync(file) ? Number(readFileSync(file, "utf8").trim()) : 0;
    return pid > 0 && pid !== not;
  });
  strays.add(pid);
  return pid;
}

const ownerOf = (dir: string) => createHash("sha256").update(realpathSync(join(dir, ".hsu"))).digest("hex").slice(0, 16);

/** Every cgroup directory of this project's master in every hierarchy on the host. */
function cgroupsOf(dir: string): string[] {
  const name = `hsu-${ownerOf(dir)}`;
  const found: string[] = [];
  const walk = (d: string, depth: number): void => {
    if (depth > 6) return;
    let entries: Dirent[];
    try {
      entries = readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      if (!e.isDirectory()) continue;
      if (e.name === name) found.push(join(d, e.name), ...readdirSync(join(d, e.name), { withFileTypes: true }).filter((x) => x.isDirectory()).map((x) => join(d, e.name, x.name)));
      else if (!e.name.startsWith("hsu-")) walk(join(d, e.name), depth + 1);
    }
  };
  walk("/sys/fs/cgroup", 0);
  return found;
}

const unitCgroup = (dir: string, unit: string) => join(host.containment.parentDir!, `hsu-${ownerOf(dir)}`, unit);
const masterPid = (dir: string) => Number(readFileSync(join(dir, ".hsu", "master.pid"), "utf8").trim());
const masterLog = (dir: string) => readFileSync(join(dir, ".hsu", "master.log"), "utf8");

async function up(dir: string): Promise<void> {
  const r = await hsu(dir, "up", "--detach");
  expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
}

async function crash(dir: string): Promise<void> {
  const pid = masterPid(dir);
  process.kill(pid, "SIGKILL");
  await until("the killed master is gone", () => !alive(pid));
}

afterAll(async () => {
  for (const dir of dirs) if (existsSync(join(dir, ".hsu"))) await hsu(dir, "down");
  for (const pid of strays) if (alive(pid)) process.kill(pid, "SIGKILL");
  rmSync(root, { recursive: true, force: true });
}, 120_000);

describe.skipIf(!host.containment.version)(`hsu contains setsid escapees (${host.containment.reason})`, () => {
  it("hsu stop, the unit's own exit and hsu down each leave no escapee and no cgroup behind", async () => {
    const dir = setUp("basic", { one: "stay", two: "stay", quits: "exit" });
    await up(dir);
    const [one, two, quits] = [await escapeeOf(dir, "one"), await escapeeOf(dir, "two"), await escapeeOf(dir, "quits")];
    expect(alive(one)).toBe(true);
    expect(readFileSync(`/proc/${one}/cgroup`, "utf8")).toContain(`/hsu-${ownerOf(dir)}/one`);

    const stopped = await hsu(dir, "stop", "one");
    expect(stopped.code, stopped.stderr).toBe(0);
    expect(alive(one)).toBe(false);
    expect(existsSync(unitCgroup(dir, "one"))).toBe(false);

    // The leader of "quits" exited by itself; once that exit shows, its escapee is gone.
    await until("quits is reported exited", async () => /quits\s+\S+\s+exited/.test((await hsu(dir, "ps")).stdout));
    expect(alive(quits)).toBe(false);
    expect(existsSync(unitCgroup(dir, "quits"))).toBe(false);

    expect(alive(two)).toBe(true);
    const down = await hsu(dir, "down");
    expect(down.code, down.stderr).toBe(0);
    expect(alive(two)).toBe(false);
    expect(cgroupsOf(dir)).toEqual([]);
  }, 120_000);

  it("after kill -9 of the master: a removed unit's cgroup is reaped, an adopted one kept, on_restart stop reaps", async () => {
    const dir = setUp("crash", { keep: "stay", drop: "stay" }, "adopt");
    await up(dir);
    const keep = await escapeeOf(dir, "keep");
    const drop = await escapeeOf(dir, "drop");
    const keepLeader = Number(JSON.parse(readFileSync(join(dir, ".hsu", "units", "keep.json"), "utf8")).pid);
    await crash(dir);
    expect([alive(keep), alive(drop), alive(keepLeader)]).toEqual([true, true, true]);
    expect(existsSync(unitCgroup(dir, "drop"))).toBe(true);

    // Life 2: "drop" is gone from hsu.yaml, "keep" is re-adopted.
    writeSpec(dir, { keep: "stay" }, "adopt");
    await up(dir);
    expect(alive(drop)).toBe(false);
    expect(existsSync(unitCgroup(dir, "drop"))).toBe(false);
    expect(masterLog(dir)).toMatch(/removed 1 cgroup\(s\) left by the previous master: drop/);
    const ps = JSON.parse((await hsu(dir, "ps", "--json")).stdout) as { id: string; pid: number | null }[];
    expect(ps.find((u) => u.id === "keep")?.pid).toBe(keepLeader);
    expect(alive(keep)).toBe(true);
    expect(existsSync(unitCgroup(dir, "keep"))).toBe(true);
    // The kept cgroup is the re-adopted unit's again: its stop reaches the escapee.
    expect((await hsu(dir, "stop", "keep")).code).toBe(0);
    expect(alive(keep)).toBe(false);
    expect(existsSync(unitCgroup(dir, "keep"))).toBe(false);

    // Life 3 with on_restart: stop, after another crash with the unit running.
    expect((await hsu(dir, "start", "keep")).code).toBe(0);
    const again = await escapeeOf(dir, "keep", keep);
    await crash(dir);
    writeSpec(dir, { keep: "stay" }, "stop");
    await up(dir);
    expect(alive(again)).toBe(false);
    expect(masterLog(dir)).toMatch(/removed 1 cgroup\(s\) left by the previous master: keep/);
    const fresh = await escapeeOf(dir, "keep", again);
    expect(alive(fresh)).toBe(true);
    expect((await hsu(dir, "down")).code).toBe(0);
    expect(alive(fresh)).toBe(false);
    expect(cgroupsOf(dir)).toEqual([]);
  }, 180_000);
});
