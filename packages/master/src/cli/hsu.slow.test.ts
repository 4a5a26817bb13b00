import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { ControlService } from "@hsu/proto";
import { createUnitTransport } from "@hsu/transport";
import { execFile, spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { exists, hsu, hsuArgv, hsuWith } from "../test-support/hsu-cli.ts";

const spec = (tickerArgs: string) => `units:
  ticker:
    command: sh
    args: ["-c", "${tickerArgs}"]
  steady:
    command: sh
    args: ["-c", "echo steady; echo warming up >&2; exec sleep 600"]
  workers:
    command: sh
    args: ["-c", "echo worker $HSU_INDEX up; exec sleep 600"]
    replicas: 2
master:
  control:
    tcp: 127.0.0.1:0
    token_file: ./token
`;
const tick = "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done";

type Ps = { id: string; state: string; pid: number | null; kind: string }[];
const ps = async (dir: string): Promise<Ps> => JSON.parse((await hsu(dir, "ps", "--json")).stdout) as Ps;
const pidOf = (list: Ps, id: string) => list.find((u) => u.id === id)?.pid ?? null;

// The broken-file corpus runs through `hsu validate` and `hsu up` in config/corpus.slow.test.ts.


describe("hsu without a master or a spec", () => {
  it("shows per-command help, suggests a command for a typo, and says what to do when nothing runs", async () => {
    const dir = mkdtempSync(join(tmpdir(), "hsu-help-"));
    const help = await hsu(dir, "logs", "--help");
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: hsu logs \[unit\.\.\.\] \[options\]/);
    expect(help.stdout).toMatch(/-f, --follow\s+keep printing/);
    expect((await hsu(dir, "help", "scale")).stdout).toMatch(/^Usage: hsu scale <pool> <N>/);
    const typo = await hsu(dir, "pss");
    expect(typo.code).toBe(2);
    expect(typo.stderr).toBe('hsu: unknown command "pss". Did you mean `hsu ps`? Run `hsu --help` for the list.\n');
    const noSpec = await hsu(dir, "ps");
    expect(noSpec.code).toBe(1);
    expect(noSpec.stderr).toContain(`no hsu.yaml in ${dir}; run hsu in your project's directory or name the file with -f`);
    writeFileSync(join(dir, "hsu.yaml"), "units:\n  a:\n    command: sh\n");
    const noMaster = await hsu(dir, "ps");
    expect(noMaster.code).toBe(1);
    expect(noMaster.stderr).toMatch(/^hsu ps: no master is running \(no control socket at .*\); start one with `hsu up`/);
  });
});

describe("hsu up in the foreground", () => {
  it("prefixes logs in aligned columns, prints a summary, and stops everything on Ctrl-C", async () => {
    const dir = mkdtempSync(join(tmpdir(), "hsu-fg-"));
    writeFileSync(
      join(dir, "hsu.yaml"),
      `units:
  talker:
    command: sh
    args: ["-c", "echo hello; echo oops >&2; exec sleep 600"]
  workers:
    command: sh
    args: ["-c", "echo worker $HSU_INDEX; exec sleep 600"]
    replicas: 2
`,
    );
    const up = spawn(process.execPath, hsuArgv("up"), { cwd: dir, env: { ...process.env, NO_COLOR: "1" }, detached: true });
    let out = "";
    let err = "";
    const exited = new Promise<number | null>((resolve) => up.once("exit", (code) => resolve(code)));
    try {
      await new Promise<void>((resolve) => {
        const check = () => {
          if (/Ctrl-C stops them all\n[\s\S]*workers-1/.test(err) && out.includes("talker    ! oops") && out.includes("workers-1 | worker 1")) resolve();
        };
        up.stdout.on("data", (d: Buffer) => ((out += d.toString()), check()));
        up.stderr.on("data", (d: Buffer) => ((err += d.toString()), check()));
      });
      expect(err).toMatch(/✔ up in \S+ · 3 units: 3 running · Ctrl-C stops them all/);
      expect(out).toContain("talker    | hello\n");
      const pids = [...err.matchAll(/^(?:talker|workers-\d)\s+\S+\s+running\s+(\d+)/gm)].map((m) => Number(m[1]));
      expect(pids).toHaveLength(3);
      up.kill("SIGINT");
      expect(await exited).toBe(0);
      expect(err).toContain("✔ stopped every unit and the master; none of their");
      expect(err).not.toContain("unit removed");
      expect(pids.filter(exists)).toEqual([]);
      expect(out + err).not.toContain("\x1b");
    } finally {
      if (up.exitCode === null) process.kill(-up.pid!, "SIGKILL");
    }
  }, 60_000);
});

describe("hsu against a running master", () => {
  let dir: string;
  const seen = new Set<number>();
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "hsu-e2e-"));
    writeFileSync(join(dir, "hsu.yaml"), spec(tick));
    writeFileSync(join(dir, "token"), "s3cret-token\n");
    const r = await hsu(dir, "up", "--detach");
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/UNIT\s+KIND\s+STATE/);
  }, 60_000);
  afterAll(async () => {
    await hsu(dir, "down");
  });

  it("lists every unit as running", async () => {
    const list = await ps(dir);
    expect(list.map((u) => [u.id, u.state])).toEqual([
      ["steady", "running"],
      ["ticker", "running"],
      ["workers-0", "running"],
      ["workers-1", "running"],
    ]);
    list.forEach((u) => seen.add(u.pid!));
  });

  it("shows logs, and follows new lines with -f", async () => {
    const r = await hsu(dir, "logs", "workers-0", "workers-1");
    expect(r.stdout).toContain("workers-0 | worker 0 up");
    const follow = spawn(process.execPath, hsuArgv("logs", "-f", "-n", "0", "ticker"), { cwd: dir, env: { ...process.env, NO_COLOR: "1" } });
    const got = await new Promise<string>((resolve) => {
      let buf = "";
      follow.stdout.on("data", (d: Buffer) => {
        buf += d.toString();
        if (/ticker\s+\| tick \d+\n.*ticker\s+\| tick \d+\n/s.test(buf)) resolve(buf);
      });
    });
    follow.kill();
    const numbers = [...got.matchAll(/tick (\d+)/g)].map((m) => Number(m[1]));
    expect(numbers[1]).toBe(numbers[0]! + 1);
  });

  it("prints a table with a summary line and no escape codes on a pipe, even without NO_COLOR", async () => {
    const r = await hsuWith({ cwd: dir, env: { NO_COLOR: undefined } }, "ps");
    expect(r.code).toBe(0);
    expect(r.stdout).not.toContain("\x1b");
    expect(r.stdout).toMatch(/^steady\s+managed\s+running\s+\d+\s+\d+s\s+0\s/m);
    expect(r.stdout.trimEnd().split("\n").at(-1)).toBe("4 units: 4 running");
    const wide = await hsu(dir, "ps", "--wide");
    expect(wide.stdout).toMatch(/ADDRESS\s+LAST EXIT\s+DESCRIPTION/);
  });

  it("marks stderr lines with ! and filters logs by age with --since", async () => {
    const r = await hsu(dir, "logs", "steady");
    expect(r.stdout).toContain("steady | steady\n");
    expect(r.stdout).toContain("steady ! warming up\n");
    const recent = await hsu(dir, "logs", "--since", "10m", "-t", "steady");
    expect(recent.stdout).toMatch(/^\d\d:\d\d:\d\d\.\d{3} steady ! warming up$/m);
    const json = (await hsu(dir, "logs", "--json", "steady")).stdout.trim().split("\n").map((l) => JSON.parse(l) as { stream: string; text: string });
    expect(json).toContainEqual(expect.objectContaining({ stream: "stderr", text: "warming up" }));
    expect((await hsu(dir, "logs", "--since", "soon")).code).toBe(2);
    const unknown = await hsu(dir, "logs", "nope");
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('no unit "nope"; units are: steady, ticker, workers-0, workers-1');
  });

  it("refuses a second master, in the foreground or detached, and returns at once", async () => {
    for (const args of [["up"], ["up", "--detach"]]) {
      const r = await hsu(dir, ...args);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/^hsu up: a master is already running on .*control\.sock; /);
    }
  });

  it("answers usage mistakes with exit code 2 and what to type", async () => {
    const scale = await hsu(dir, "scale", "workers", "many");
    expect(scale.code).toBe(2);
    expect(scale.stderr).toContain("usage: hsu scale <pool> <N>");
    expect((await hsu(dir, "stop")).code).toBe(2);
    expect((await hsu(dir, "ps", "--bogus")).code).toBe(2);
    const notFound = await hsu(dir, "restart", "nope");
    expect(notFound.code).toBe(1);
    expect(notFound.stderr).toMatch(/^hsu restart: .*no unit "nope"/);
  });

  it("apply --dry-run says what would change and changes nothing", async () => {
    const before = await ps(dir);
    writeFileSync(join(dir, "hsu.yaml"), spec(tick.replace("tick $i", "tuck $i")));
    const r = await hsu(dir, "apply", "--dry-run");
    writeFileSync(join(dir, "hsu.yaml"), spec(tick));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^would restart\s+ticker$/m);
    expect(r.stdout).toContain("dry run: nothing was changed");
    expect(pidOf(await ps(dir), "ticker")).toBe(pidOf(before, "ticker"));
  });

  it("stops, starts and restarts one unit", async () => {
    const before = pidOf(await ps(dir), "steady")!;
    expect((await hsu(dir, "stop", "steady")).code).toBe(0);
    expect((await ps(dir)).find((u) => u.id === "steady")?.state).toBe("stopped");
    expect(exists(before)).toBe(false);
    expect((await hsu(dir, "start", "steady")).code).toBe(0);
    const started = pidOf(await ps(dir), "steady")!;
    expect(started).not.toBe(before);
    expect((await hsu(dir, "restart", "steady")).code).toBe(0);
    const restarted = pidOf(await ps(dir), "steady")!;
    expect(restarted).not.toBe(started);
    [started, restarted].forEach((p) => seen.add(p));
  });

  it("scales a pool up and down", async () => {
    expect((await hsu(dir, "scale", "workers", "3")).code).toBe(0);
    expect((await ps(dir)).filter((u) => u.kind === "pool").map((u) => u.state)).toEqual(["running", "running", "running"]);
    (await ps(dir)).forEach((u) => seen.add(u.pid!));
    expect((await hsu(dir, "scale", "workers", "1")).code).toBe(0);
    expect((await ps(dir)).filter((u) => u.kind === "pool").map((u) => u.id)).toEqual(["workers-0"]);
  });

  it("apply restarts only the unit that changed", async () => {
    const before = await ps(dir);
    writeFileSync(join(dir, "hsu.yaml"), spec(tick.replace("tick $i", "tock $i")).replace("replicas: 2", "replicas: 1"));
    const r = await hsu(dir, "apply", "--json");
    expect(r.code, r.stderr).toBe(0);
    const plan = JSON.parse(r.stdout) as Record<string, string[]>;
    expect(plan.changed).toEqual(["ticker", "workers"]);
    expect(plan.unchanged).toEqual(["steady"]);
    const after = await ps(dir);
    expect(pidOf(after, "steady")).toBe(pidOf(before, "steady"));
    expect(pidOf(after, "ticker")).not.toBe(pidOf(before, "ticker"));
    after.forEach((u) => seen.add(u.pid!));
  });

  it("serves the control socket to its owner only (mode 0600 in a 0700 directory)", async () => {
    const sock = join(dir, ".hsu", "control.sock");
    expect(statSync(sock).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, ".hsu")).mode & 0o777).toBe(0o700);
    const probe = `require("net").connect(${JSON.stringify(sock)}).on("connect",()=>{console.log("CONNECTED");process.exit(0)}).on("error",e=>{console.log(e.code);process.exit(0)})`;
    const { stdout } = await promisify(execFile)("setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", process.execPath, "-e", probe]);
    expect(stdout.trim()).toBe("EACCES");
  });

  it("refuses TCP control calls without the token or with a wrong one", async () => {
    const addr = readFileSync(join(dir, ".hsu", "control-tcp.addr"), "utf8").trim();
    const call = (token?: string) => createClient(ControlService, createUnitTransport(addr, token ? { token } : {})).listUnits({});
    await expect(call()).rejects.toMatchObject({ code: Code.Unauthenticated });
    // A token that is not valid is no credential: UNAUTHENTICATED (docs/auth.md).
    await expect(call("wrong")).rejects.toMatchObject({ code: Code.Unauthenticated });
    const ok = await call("s3cret-token");
    expect(ok.units.length).toBeGreaterThan(0);
    expect(ConnectError).toBeDefined();
  });

  it("down stops everything: no unit process is left", async () => {
    (await ps(dir)).forEach((u) => u.pid && seen.add(u.pid));
    const r = await hsu(dir, "down");
    expect(r.code, r.stderr).toBe(0);
    const masterPid = Number.NaN;
    expect(Number.isNaN(masterPid)).toBe(true);
    const left = [...seen].filter((p) => p && exists(p));
    expect(left).toEqual([]);
    expect((await hsu(dir, "ps")).code).toBe(1);
  });
});
