import { createClient } from "@connectrpc/connect";
import { ControlService } from "@hsu/proto";
import { createUnitTransport } from "@hsu/transport";
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync, statfsSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { alive, hsu, hsuWith, markedUnits, until } from "../test-support/hsu-cli.ts";

// The secrets of issue 12 through the real `hsu` CLI and daemon, and the real `age` CLI
// (Debian's /usr/bin/age, installed by scripts/tools/debian.sh): delivery to every kind of
// unit, redaction of what a unit prints, and the places a value must never reach.

const run = randomBytes(6).toString("hex");
const dir = mkdtempSync(join(tmpdir(), "hsu-secrets-"));
const stateDir = join(dir, ".hsu");
const secretsDir = join(stateDir, "secrets");
const echoUnit = join(import.meta.dirname, "..", "..", "..", "..", "examples", "echo", "src", "unit.ts");

// Distinct values, each easy to grep for and none a substring of another.
const DB = `db-pw-${randomBytes(8).toString("hex")}`;
const OFFBOX = `offbox-${randomBytes(8).toString("hex")}`;
const API = `api-key-${randomBytes(8).toString("hex")}`;
// Binary: newlines, a NUL, invalid UTF-8, 200 KiB in all.
const BLOB = Buffer.concat([Buffer.from("line one\nline two\n\0\xff\xfe"), randomBytes(200 * 1024)]);
// A value that is also a word of the unit's ordinary output.
const WORD = "listening";
const values = [DB, OFFBOX, API];

const mark = `TEST_RUN: "${run}"`;
const spec = (extra = "") => `units:
  app:
    command: sh
    args: ["-c", 'echo "db=$(cat "$HSU_CREDENTIALS_DIR/db_password") off=$(cat "$HSU_CREDENTIALS_DIR/offbox") key=$API_KEY"; echo "$API_KEY" >&2; echo "server listening on :80"; exec sleep 600']
    env: { ${mark} }
    graceful_timeout: 2s
    secrets:
      db_password: {}
      offbox: {}
      blob: { file: blob.bin }
      api_key: { env: API_KEY }
      word: {}
  workers:
    command: sh
    args: ["-c", 'echo "worker $HSU_INDEX db=$(cat "$HSU_CREDENTIALS_DIR/db_password")"; exec sleep 600']
    env: { ${mark} }
    graceful_timeout: 2s
    replicas: 2
    secrets: [db_password]
  tick:
    command: sh
    args: ["-c", 'echo "tick files=$(ls "$HSU_CREDENTIALS_DIR") db=$(cat "$HSU_CREDENTIALS_DIR/db_password")"']
    env: { ${mark} }
    schedule: { cron: "* * * * * *" }
    secrets: [db_password]
  echo:
    kind: integrated
    command: ${process.execPath}
    args: ["--conditions=@hsu/source", "${echoUnit}"]
    env: { ${mark} }
    on_demand: false
    graceful_timeout: 2s
    secrets: { db_password: {}, api_key: { env: ECHO_KEY } }
  crashy:
    command: sh
    args: ["-c", 'echo "crashy up"; exec sleep 600']
    env: { ${mark} }
    graceful_timeout: 2s
    restart: { policy: always, delay: 100ms }
    secrets: [db_password]
  corrupt:
    command: sleep
    args: ["600"]
    env: { ${mark} }
    secrets: [damaged]
  stranger:
    command: sleep
    args: ["600"]
    env: { ${mark} }
    secrets: [foreign]
  missing:
    command: sleep
    args: ["600"]
    env: { ${mark} }
    secrets: [never_set]
  nulenv:
    command: sleep
    args: ["600"]
    env: { ${mark} }
    secrets: { blob: { env: BLOB } }
${extra}`;

const control = () => createClient(ControlService, createUnitTransport(`unix:${join(stateDir, "control.sock")}`));
const pidOf = (unit: string) => markedUnits(`TEST_RUN=${run}`).get(unit)?.[0];
const environOf = (pid: number) => Object.fromEntries(readFileSync(`/proc/${pid}/environ`, "latin1").split("\0").filter(Boolean).map((kv) => [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)]));
const credDirOf = (unit: string) => environOf(pidOf(unit)!).HSU_CREDENTIALS_DIR!;
const mode = (p: string) => (statSync(p).mode & 0o777).toString(8);
const json = (v: unknown) => JSON.stringify(v, (_, x) => (typeof x === "bigint" ? x.toString() : x));

/** Every regular file under `root` (recursively), by path. */
function filesUnder(root: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) out.push(p);
    }
  };
  walk(root);
  return out;
}

/** The files under the state dir (but *.age) that hold any of `values`, relative to the state dir. */
function stateFilesHolding(vals: string[]): string[] {
  return filesUnder(stateDir)
    .filter((f) => !f.endsWith(".age"))
    .filter((f) => {
      const text = readFileSync(f, "latin1");
      return vals.some((v) => text.includes(v));
    })
    .map((f) => relative(stateDir, f));
}

const failedReason = async (unit: string) => (await control().getUnit({ id: unit })).unit?.lastExit ?? "";

let upResult: { code: number; stdout: string; stderr: string };

beforeAll(async () => {
  writeFileSync(join(dir, "hsu.yaml"), spec());
  // One through `hsu secret set` (stdin), one through --from-file, one made off-box with the age CLI.
  expect((await hsuWith({ cwd: dir, env: {} }, "secret", "recipient")).code).toBe(0);
  const set = (name: string, value: string) => execFileSync(process.execPath, ["--conditions=@hsu/source", join(import.meta.dirname, "..", "cli", "bin.ts"), "secret", "set", name], { cwd: dir, input: value });
  set("db_password", DB);
  set("api_key", API);
  set("word", WORD);
  writeFileSync(join(dir, "blob.in"), BLOB);
  expect((await hsu(dir, "secret", "set", "blob", "--from-file", join(dir, "blob.in"))).code).toBe(0);
  rmSync(join(dir, "blob.in"));
  const recipient = (await hsu(dir, "secret", "recipient")).stdout.trim();
  expect(recipient).toMatch(/^age1[a-z0-9]+$/);
  execFileSync("age", ["-r", recipient, "-o", join(secretsDir, "offbox.age")], { input: OFFBOX });
  // Hostile stored files: garbage where an age file should be, and one encrypted to someone else.
  writeFileSync(join(secretsDir, "damaged.age"), "age-encryption.org/v1\n-> X25519 garbage\n--- nope\n\x00\x01\x02");
  const otherIdentity = join(dir, "other.txt");
  execFileSync("age-keygen", ["-o", otherIdentity], { stdio: "ignore" });
  const otherRecipient = execFileSync("age-keygen", ["-y", otherIdentity], { encoding: "utf8" }).trim();
  execFileSync("age", ["-r", otherRecipient, "-o", join(secretsDir, "foreign.age")], { input: "for someone else" });
  upResult = await hsu(dir, "up", "--detach");
}, 120_000);

afterAll(async () => {
  await hsu(dir, "down");
  for (const pids of markedUnits(`TEST_RUN=${run}`).values()) for (const p of pids) if (alive(p)) process.kill(-p, "SIGKILL");
  rmSync(dir, { recursive: true, force: true });
}, 60_000);

describe("secrets at rest", () => {
  it("the identity is an age X25519 identity (0600), and the age CLI decrypts every stored secret with it", () => {
    const identity = join(secretsDir, "identity.txt");
    expect(mode(identity)).toBe("600");
    expect(mode(secretsDir)).toBe("700");
    expect(readFileSync(identity, "utf8")).toMatch(/^AGE-SECRET-KEY-1[A-Z0-9]+$/m);
    expect(execFileSync("age", ["-d", "-i", identity, join(secretsDir, "db_password.age")], { encoding: "utf8" })).toBe(DB);
    expect(Buffer.compare(execFileSync("age", ["-d", "-i", identity, join(secretsDir, "blob.age")]), BLOB)).toBe(0);
    // Those hsu wrote (the others were written by this test and the age CLI, with their umask).
    for (const f of ["db_password", "api_key", "word", "blob"]) expect(mode(join(secretsDir, `${f}.age`)), f).toBe("600");
  });

  it("hsu secret list shows names, sizes and users, never a value", async () => {
    const r = await hsu(dir, "secret", "list", "--json");
    expect(r.code, r.stderr).toBe(0);
    const list = JSON.parse(r.stdout) as { name: string; bytes: number; usedBy: string[] }[];
    expect(list.map((s) => s.name)).toEqual(["api_key", "blob", "damaged", "db_password", "foreign", "offbox", "word"]);
    expect(list.find((s) => s.name === "db_password")!.usedBy).toEqual(["app", "workers", "tick", "echo", "crashy"]);
    const table = await hsu(dir, "secret", "list");
    for (const v of values) {
      expect(r.stdout).not.toContain(v);
      expect(table.stdout).not.toContain(v);
    }
  });

  it("refuses hostile names before touching anything, and a value on the command line is not an option", async () => {
    for (const name of ["../x", "a/b", ".hidden", "..", "x.age", "", "sp ace"]) {
      const r = await hsuWith({ cwd: dir }, "secret", "set", name, "--from-file", join(dir, "hsu.yaml"));
      expect(r.code, `${name}: ${r.stderr}`).not.toBe(0);
      expect(r.stderr, name).toContain("not a valid secret name");
    }
    expect(existsSync(join(stateDir, "x.age"))).toBe(false);
    expect(existsSync(join(dir, "x.age"))).toBe(false);
    const rm = await hsu(dir, "secret", "rm", "../../hsu.yaml");
    expect(rm.stderr).toContain("not a valid secret name");
    expect(existsSync(join(dir, "hsu.yaml"))).toBe(true);
    const argv = await hsu(dir, "secret", "set", "x", "the-value");
    expect(argv.code).toBe(2);
    expect(existsSync(join(secretsDir, "x.age"))).toBe(false);
  });
});

describe("delivery", () => {
  it("hsu up starts every unit but the three whose secret cannot be had, and says why, naming unit and secret", () => {
    expect(upResult.code).toBe(1);
    const text = upResult.stdout + upResult.stderr;
    expect(text).toMatch(/corrupt: cannot start: secret "damaged" cannot be decrypted from \S+damaged\.age .*set the secret again/);
    expect(text).toMatch(/stranger: cannot start: secret "foreign" cannot be decrypted .*encrypted to another recipient .*hsu secret recipient/);
    expect(text).toMatch(/missing: cannot start: secret "never_set" is not set .*hsu secret set never_set/);
    expect(text).toMatch(/nulenv: cannot start: secret "blob" contains a NUL byte and cannot be the environment variable BLOB: deliver it as a file/);
    for (const u of ["corrupt", "stranger", "missing", "nulenv"]) expect(pidOf(u), u).toBeUndefined();
  });

  it("a secret set with hsu and one made with age -r reach a managed unit as 0400 files in a 0700 dir on tmpfs, byte for byte", () => {
    const d = credDirOf("app");
    expect(d.startsWith("/dev/shm/") || d.startsWith("/run/")).toBe(true);
    expect(lstatSync(d).isDirectory()).toBe(true);
    expect(mode(d)).toBe("700");
    expect(statSync(d).uid).toBe(process.getuid!());
    expect(readdirSync(d).sort()).toEqual(["blob.bin", "db_password", "offbox", "word"]);
    for (const f of readdirSync(d)) expect(mode(join(d, f)), f).toBe("400");
    expect(readFileSync(join(d, "db_password"), "utf8")).toBe(DB);
    expect(readFileSync(join(d, "offbox"), "utf8")).toBe(OFFBOX);
    expect(Buffer.compare(readFileSync(join(d, "blob.bin")), BLOB)).toBe(0);
  });

  it("env delivery: the variable is in the unit's own environment (as with any env var), not a file", () => {
    expect(environOf(pidOf("app")!).API_KEY).toBe(API);
    expect(existsSync(join(credDirOf("app"), "api_key"))).toBe(false);
  });

  it("every kind gets its own dir through the one mechanism: pool replicas, an integrated unit, a scheduled run", async () => {
    const w0 = credDirOf("workers-0");
    const w1 = credDirOf("workers-1");
    expect(w0).not.toBe(w1);
    for (const d of [w0, w1]) expect(readFileSync(join(d, "db_password"), "utf8")).toBe(DB);
    await until("the integrated unit runs", () => pidOf("echo") !== undefined);
    const e = environOf(pidOf("echo")!);
    expect(e.ECHO_KEY).toBe(API);
    expect(readFileSync(join(e.HSU_CREDENTIALS_DIR!, "db_password"), "utf8")).toBe(DB);
    await until("the scheduled unit ran with its secret", async () => (await hsu(dir, "logs", "tick")).stdout.includes("tick files=db_password db=[redacted]"));
  });
});

describe("never leaked", () => {
  it("what units print is [redacted] in hsu logs and in the log files, a word of ordinary output included", async () => {
    await until("app printed", async () => (await hsu(dir, "logs", "app")).stdout.includes("off="));
    await until("workers printed", async () => (await hsu(dir, "logs", "workers")).stdout.includes("worker 1"));
    const logs = (await hsu(dir, "logs", "app", "workers", "-n", "100")).stdout;
    expect(logs).toContain("db=[redacted] off=[redacted] key=[redacted]");
    expect(logs).toMatch(/app\s+! \[redacted\]$/m); // its stderr line
    expect(logs).toContain("server [redacted] on :80");
    expect(logs).toContain("worker 0 db=[redacted]");
    const file = readFileSync(join(stateDir, "logs", "app.log"), "utf8");
    expect(file).toContain("db=[redacted] off=[redacted] key=[redacted]");
    for (const v of values) {
      expect(logs).not.toContain(v);
      expect(file).not.toContain(v);
    }
  });

  it("the value is in none of: master.log, hsu ps --json, GetUnit/ListUnits, any unit's /proc/PID/cmdline, the records", async () => {
    const ps = await hsu(dir, "ps", "--json");
    expect(ps.code).toBe(0);
    const list = await control().listUnits({});
    const one = await Promise.all(list.units.map((u) => control().getUnit({ id: u.id })));
    const events = json(list) + json(one);
    const cmdlines = [...markedUnits(`TEST_RUN=${run}`).values()].flat().map((p) => readFileSync(`/proc/${p}/cmdline`, "latin1")).join("\n");
    const masterLog = readFileSync(join(stateDir, "master.log"), "utf8");
    const records = readdirSync(join(stateDir, "units")).map((f) => readFileSync(join(stateDir, "units", f), "utf8")).join("\n");
    expect(records.length).toBeGreaterThan(0);
    for (const v of values) {
      expect(masterLog, "master.log").not.toContain(v);
      expect(ps.stdout, "hsu ps --json").not.toContain(v);
      expect(events, "GetUnit/ListUnits").not.toContain(v);
      expect(cmdlines, "cmdline").not.toContain(v);
      expect(records, "units/*.json").not.toContain(v);
    }
  });

  it("while units run, no state dir file but the age files holds a value: their output is captured on tmpfs (0700 dir)", () => {
    expect(stateFilesHolding(values)).toEqual([]);
    // The records say where each run's output is captured: for a unit that gets secrets, outside the state dir.
    const files = readdirSync(join(stateDir, "units"))
      .map((f) => JSON.parse(readFileSync(join(stateDir, "units", f), "utf8")) as { stdoutFile?: string })
      .flatMap((r) => (r.stdoutFile ? [r.stdoutFile] : []));
    const outside = files.filter((f) => !f.startsWith(`${stateDir}/`));
    expect(outside.length).toBeGreaterThan(0);
    for (const f of outside) {
      expect(statfsSync(f).type, f).toBe(0x01021994); // tmpfs
      const parent = lstatSync(join(f, ".."));
      expect(parent.isDirectory() && (parent.mode & 0o777) === 0o700, f).toBe(true);
    }
    // What the units printed is there, unredacted - it is their output before the log collector reads it.
    expect(outside.some((f) => values.some((v) => readFileSync(f, "latin1").includes(v)))).toBe(true);
  });
});

describe("removal", () => {
  it("the dir is gone after a stop, and a crashed unit's is gone before its restart makes a new one", async () => {
    const w1 = credDirOf("workers-1");
    expect((await hsu(dir, "stop", "workers-1")).code).toBe(0);
    expect(existsSync(w1)).toBe(false);
    const pid = pidOf("crashy")!;
    const d = credDirOf("crashy");
    const before = statSync(join(d, "db_password")).ino;
    writeFileSync(join(d, "..", "marker-of-crashy"), ""); // not ours to remove: outside the unit's dir
    process.kill(-pid, "SIGKILL");
    await until("crashy restarted", () => (pidOf("crashy") ?? pid) !== pid);
    expect(credDirOf("crashy")).toBe(d);
    expect(statSync(join(d, "db_password")).ino).not.toBe(before);
    rmSync(join(d, "..", "marker-of-crashy"));
  });

  it("after a master crash the re-adopted units keep theirs; a leftover of a unit no longer there is removed at the next start", async () => {
    const masterPid = Number(readFileSync(join(stateDir, "master.pid"), "utf8").trim());
    const appDir = credDirOf("app");
    const base = join(appDir, "..");
    const crashyPid = pidOf("crashy")!;
    process.kill(masterPid, "SIGKILL");
    await until("the master is gone", () => !alive(masterPid));
    expect(existsSync(join(base, "crashy"))).toBe(true);
    // crashy dies with the master, and hsu.yaml no longer has it: its dir is a leftover.
    process.kill(-crashyPid, "SIGKILL");
    writeFileSync(join(dir, "hsu.yaml"), spec().replace(/  crashy:\n(    .*\n)+?(?=  corrupt:)/, ""));
    const again = await hsu(dir, "up", "--detach");
    expect(again.stdout + again.stderr).toContain("did not start");
    expect(existsSync(join(base, "crashy"))).toBe(false);
    expect(readFileSync(join(appDir, "db_password"), "utf8")).toBe(DB);
    const masterLog = readFileSync(join(stateDir, "master.log"), "utf8");
    expect(masterLog).toMatch(/removed the credentials of \d+ unit\(s\) left by the previous master: .*crashy/);
    for (const v of values) expect(masterLog).not.toContain(v);
  });

  it("after hsu down no credentials dir is left, and no state dir file but the age files holds a value", async () => {
    const base = join(credDirOf("app"), "..");
    const captureDirs = [...new Set(readdirSync(join(stateDir, "units"))
      .map((f) => (JSON.parse(readFileSync(join(stateDir, "units", f), "utf8")) as { stdoutFile?: string }).stdoutFile ?? "")
      .filter((f) => f && !f.startsWith(`${stateDir}/`))
      .map((f) => join(f, "..")))];
    expect(captureDirs.length).toBeGreaterThan(0);
    expect((await hsu(dir, "down")).code).toBe(0);
    expect(existsSync(base)).toBe(false);
    for (const d of captureDirs) expect(existsSync(d), d).toBe(false);
    expect(stateFilesHolding(values)).toEqual([]);
  });
});
