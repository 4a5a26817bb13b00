// `hsu upgrade` and `hsu rollback` against a real master and real unit processes: a good upgrade,
// versions that exit at once or fail their health check (rolled back by themselves), a rollback,
// and kill -9 of `hsu upgrade` / `hsu rollback` at every persisted step and of the master mid-gate:
// after each, the unit ends on exactly one whole version, with exactly one process.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, readFileSync, readlinkSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { createClient } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EchoService } from "../../../../examples/echo/src/gen/hsu/examples/echo/v1/echo_pb.js";
import { unitTransport } from "./unit-transport.ts";
import { lockHolder } from "../daemon/lock.ts";
import { alive, createProjects, hsu, hsuWith, markedUnits, until } from "../test-support/hsu-cli.ts";

const projects = createProjects("hsu-upgrade-");
const marker = `TEST_RUN=upgrade-${process.pid}-${Date.now()}`;
let dir: string;
const sha: Record<string, string> = {};

/** bin/app prints its version and stays up (or does what `body` says); ./check is its health check. */
function build(version: string, body: string, check: string): void {
  const b = join(dir, `build-${version}`);
  mkdirSync(join(b, "bin"), { recursive: true });
  writeFileSync(join(b, "bin", "app"), `#!/bin/sh\necho "app ${version} in $(pwd)"\n${body}\n`, { mode: 0o755 });
  writeFileSync(join(b, "check"), `#!/bin/sh\n${check}\n`, { mode: 0o755 });
  const out = join(dir, `app-${version}.tar.gz`);
  execFileSync("tar", ["-czf", out, "-C", b, "."]);
  sha[version] = createHash("sha256").update(readFileSync(out)).digest("hex");
}

const store = () => join(dir, ".hsu", "artifacts");
const current = () => readlinkSync(join(store(), "units", "app", "current")).replace("../../trees/", "");
const history = () => (JSON.parse(readFileSync(join(store(), "units", "app", "history.json"), "utf8")) as { versions: { version: string; rolledBackFrom?: { version: string } }[] }).versions;
const upgradeState = () => join(store(), "units", "app", "upgrade.json");
/** hsu.yaml on version `v`: a pinned file: artifact, its health check run in the tree `current` names. */
const spec = (v: string, window?: string) =>
  [
    "units:",
    "  app:",
    "    command: bin/app",
    `    env: { ${marker.replace("=", ": ")}, MARK: ${dir} }`,
    `    source: { url: "file:app-${v}.tar.gz", sha256: "${sha[v]}", version: "${v}" }`,
    `    upgrade: { health_timeout: 8s${window ? `, window: "${window}"` : ""} }`,
    `    health_check: { type: exec, command: ./check, cwd: ${join(dir, ".hsu", "artifacts", "units", "app", "current")}, env: { MARK: ${dir} }, interval: 150ms, timeout: 2s, failure_threshold: 2 }`,
    "    restart: { delay: 100ms }",
    "",
  ].join("\n");
const on = (v: string) => writeFileSync(join(dir, "hsu.yaml"), spec(v));

/** The unit's processes (group leaders with the marker): exactly one, running from the tree of `v`. */
function runsOnly(v: string, { finished = true } = {}): number {
  const pids = markedUnits(marker).get("app") ?? [];
  expect(pids, `processes of app (want one, on ${v})`).toHaveLength(1);
  expect(readlinkSync(`/proc/${pids[0]}/cwd`)).toBe(join(store(), "trees", sha[v]!));
  expect(current()).toBe(sha[v]);
  if (finished) expect(existsSync(upgradeState())).toBe(false);
  return pids[0]!;
}
const settledOn = async (v: string, options: { finished?: boolean } = {}) => {
  await until(`one process of app runs ${v}`, () => {
    const pids = markedUnits(marker).get("app") ?? [];
    try {
      return pids.length === 1 && readlinkSync(`/proc/${pids[0]}/cwd`).endsWith(sha[v]!);
    } catch {
      return false; // exited while we looked
    }
  }, 20_000);
  return runsOnly(v, options);
};

beforeAll(async () => {
  dir = projects.make("");
  for (const v of ["1", "2", "3"]) build(v, "exec sleep 1000", "exit 0");
  build("3-exits", "echo 'cannot open the database' >&2\nexit 3", "exit 0");
  build("3-sick", "exec sleep 1000", "echo 'GET /health: 503 database unreachable'\nexit 1");
  // Healthy only once the process has been up for 1.5 s, its check waiting for that (no failure counted before):
  // a gate that lasts long enough to kill the master in.
  build("3-slow", 'rm -f "$MARK/slow-ready"\n(sleep 1.5; touch "$MARK/slow-ready") &\nexec sleep 1000', 'for i in $(seq 15); do test -e "$MARK/slow-ready" && exit 0; sleep 0.1; done; exit 1');
  on("1");
  const up = await hsu(dir, "up", "-d");
  expect(up.code, up.stderr).toBe(0);
  await settledOn("1");
}, 60_000);

afterAll(async () => {
  await hsu(dir, "down");
  projects.removeAll();
});

describe("hsu upgrade and hsu rollback", () => {
  it("upgrades 1 -> 2: a new process runs from the new tree, the history has both", async () => {
    const before = runsOnly("1");
    on("2");
    const r = await hsu(dir, "upgrade", "app");
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/✔ app upgraded from 1 \(sha256 [0-9a-f]{12}\) to 2 \(sha256 [0-9a-f]{12}\), running as pid \d+ in/);
    const pid = runsOnly("2");
    expect(pid).not.toBe(before);
    expect(alive(before)).toBe(false);
    expect(history().map((e) => e.version)).toEqual(["1", "2"]);
    const again = await hsu(dir, "upgrade", "app", "2");
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain("app: already on 2");
    expect(runsOnly("2")).toBe(pid);
  });

  it("a version that hsu.yaml does not name is refused, nothing moves", async () => {
    const r = await hsu(dir, "upgrade", "app", "9");
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/unit "app": units\.app\.source\.version: hsu\.yaml names version "2" for it, not "9"/);
    runsOnly("2");
  });

  it("hsu rollback after a good upgrade: back on 1, recorded; hsu install then holds it there", async () => {
    const before = runsOnly("2");
    const r = await hsu(dir, "rollback", "app");
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/✔ app rolled back from 2 \(sha256 [0-9a-f]{12}\) to 1 \(sha256 [0-9a-f]{12}\), running as pid \d+/);
    expect(runsOnly("1")).not.toBe(before);
    expect(history().at(-1)).toMatchObject({ version: "1", rolledBackFrom: { version: "2" } });
    const install = await hsu(dir, "install");
    expect(install.code, install.stderr).toBe(0);
    expect(install.stdout).toContain("app 1: held here by `hsu rollback`");
    runsOnly("1");
    // A second rollback goes to the version before the one it runs now: 2 again.
    expect((await hsu(dir, "rollback", "app")).code).toBe(0);
    await settledOn("2");
  });

  it("a version that exits at once is rolled back by itself; hsu upgrade exits 1 naming the unit, version and exit", async () => {
    on("3-exits");
    const r = await hsu(dir, "upgrade", "app");
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/hsu upgrade: unit "app": version 3-exits \(sha256 [0-9a-f]{12}\) failed: it is (backoff|exited|failed) \(code 3\).*; rolled back to 2 \(sha256 [0-9a-f]{12}\), which runs again as pid \d+/);
    await settledOn("2");
    expect(history().at(-1)).toMatchObject({ version: "2", rolledBackFrom: { version: "3-exits" } });
  });

  it("a version that fails its health check is rolled back by itself, with the check's output", async () => {
    on("3-sick");
    const r = await hsu(dir, "upgrade", "app");
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/unit "app": version 3-sick .* failed: .*unhealthy: .*503 database unreachable.*; rolled back to 2 .*which runs again/s);
    await settledOn("2");
  });

  it("upgrade.window: refused outside it (saying when it opens), done with --now; a bad window fails hsu validate", async () => {
    const closed = `* ${(new Date().getHours() + 12) % 24} * * *`;
    writeFileSync(join(dir, "hsu.yaml"), spec("3", closed));
    const r = await hsu(dir, "upgrade", "app");
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/hsu upgrade: unit "app": units\.app\.upgrade\.window: it is outside its upgrade window \(upgrade\.window ".*"\), which opens next at .*; run it then, or now with --now/);
    runsOnly("2");
    const now = await hsu(dir, "upgrade", "app", "--now");
    expect(now.code, now.stderr).toBe(0);
    await settledOn("3");
    writeFileSync(join(dir, "hsu.yaml"), spec("3", "* * 31 2 *"));
    const never = await hsu(dir, "validate");
    expect(never.code).toBe(1);
    expect(never.stderr).toMatch(/hsu\.yaml:\d+:\d+: units\.app\.upgrade\.window: "\* \* 31 2 \*" never runs/);
    on("3");
  });

  it("no rollback without an earlier version, or when its tree is gone", async () => {
    const d = projects.make(`units:\n  solo:\n    command: bin/app\n    source: { url: "file:${join(dir, "app-1.tar.gz")}", sha256: "${sha["1"]}" }\n`);
    const none = await hsu(d, "rollback", "solo");
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/hsu rollback: unit "solo": has no installed version/);
    expect((await hsu(d, "install")).code).toBe(0);
    const one = await hsu(d, "rollback", "solo");
    expect(one.code).toBe(1);
    expect(one.stderr).toMatch(/unit "solo": has no earlier version to roll back to: its history holds only the one it runs/);
    writeFileSync(join(d, "hsu.yaml"), `units:\n  solo:\n    command: bin/app\n    source: { url: "file:${join(dir, "app-2.tar.gz")}", sha256: "${sha["2"]}" }\n`);
    expect((await hsu(d, "install")).code).toBe(0);
    const tree = join(d, ".hsu", "artifacts", "trees", sha["1"]!);
    execFileSync("chmod", ["-R", "u+w", tree]);
    execFileSync("rm", ["-rf", tree]);
    const gone = await hsu(d, "rollback", "solo");
    expect(gone.code).toBe(1);
    expect(gone.stderr).toMatch(/unit "solo": cannot roll back to \(sha256 [0-9a-f]{12}\): its tree .*trees\/[0-9a-f]{64} was removed/);
    expect(readlinkSync(join(d, ".hsu", "artifacts", "units", "solo", "current"))).toBe(`../../trees/${sha["2"]}`);
    writeFileSync(join(d, "hsu.yaml"), `units:\n  solo:\n    command: bin/app\n    replicas: 2\n    source: { url: "file:${join(dir, "app-1.tar.gz")}", sha256: "${sha["1"]}" }\n`);
    const pool = await hsu(d, "upgrade", "solo");
    expect(pool.code).toBe(1);
    expect(pool.stderr).toMatch(/unit "solo": is a pool \(replicas\): hsu upgrade gates one long-running process; use `hsu install solo`/);
  });
});

describe("kill -9 at every step", () => {
  const steps = { upgrade: ["installing", "restarting", "gating"], back: ["rolling-back", "restarting-back"] } as const;
  const killedAt = async (step: string, ...args: string[]) => {
    const r = await hsuWith({ cwd: dir, env: { HSU_FAILPOINT: `upgrade:${step}` } }, ...args);
    expect(r.stderr).toContain("killed by SIGKILL");
    expect(existsSync(upgradeState())).toBe(true);
    // Whatever the step: `current` is one whole tree of the store.
    expect(Object.values(sha)).toContain(current());
    expect(existsSync(join(store(), "trees", current(), "bin", "app"))).toBe(true);
  };
  /** Back to 1 running, with hsu.yaml naming `next`. */
  const reset = async (next: string) => {
    on("1");
    if (current() !== sha["1"]) expect((await hsu(dir, "upgrade", "app")).code).toBe(0);
    await settledOn("1");
    on(next);
  };

  for (const step of steps.upgrade) {
    it(`hsu upgrade killed at "${step}": hsu rollback puts it on the old version; a re-run of hsu upgrade completes`, async () => {
      await reset("2");
      await killedAt(step, "upgrade", "app");
      const back = await hsu(dir, "rollback", "app");
      expect(back.code, back.stderr).toBe(0);
      expect(back.stderr).toContain(`finished the upgrade a killed process left at step "${step}" first`);
      await settledOn("1");
      await killedAt(step, "upgrade", "app");
      const again = await hsu(dir, "upgrade", "app");
      expect(again.code, again.stderr).toBe(0);
      await settledOn("2");
      expect(history().at(-1)).toMatchObject({ version: "2" });
    }, 60_000);
  }

  for (const step of steps.back) {
    it(`a failed upgrade killed while rolling back ("${step}"): hsu rollback or a re-run completes it, never onto the bad version`, async () => {
      await reset("3-exits");
      await killedAt(step, "upgrade", "app");
      const back = await hsu(dir, "rollback", "app");
      expect(back.code, back.stderr).toBe(0);
      await settledOn("1");
      await killedAt(step, "upgrade", "app");
      const again = await hsu(dir, "upgrade", "app");
      expect(again.code).toBe(1);
      expect(again.stderr).toMatch(/version 3-exits .* failed: .*code 3/);
      await settledOn("1");
    }, 60_000);

    it(`hsu rollback killed at "${step}": the next hsu rollback completes that rollback, it does not flip back`, async () => {
      await reset("2");
      expect((await hsu(dir, "upgrade", "app")).code).toBe(0);
      await settledOn("2");
      await killedAt(step, "rollback", "app");
      const back = await hsu(dir, "rollback", "app");
      expect(back.code, back.stderr).toBe(0);
      await settledOn("1");
    }, 60_000);
  }

  // The master killed the moment upgrade.json shows each step (the step may be over by then: the kill lands
  // wherever it lands after it). Then `hsu up` and, if a state is left, `hsu rollback`: one process, on `current`.
  for (const [step, next] of [["installing", "2"], ["restarting", "2"], ["gating", "3-slow"], ["rolling-back", "3-exits"], ["restarting-back", "3-exits"]] as const) {
    it(`the master killed -9 when the upgrade is at "${step}": after hsu up (and hsu rollback) one process runs the version current names`, async () => {
      if (!existsSync(join(dir, ".hsu", "control.sock")) || !lockHolder(join(dir, ".hsu")).pid) expect((await hsu(dir, "up", "-d")).code).toBe(0);
      await reset(next);
      const masterPid = lockHolder(join(dir, ".hsu")).pid!;
      const upgrade = hsu(dir, "upgrade", "app");
      let done = false;
      void upgrade.then(() => (done = true));
      await until(`the upgrade reaches "${step}" (or ends)`, () => done || (existsSync(upgradeState()) && readFileSync(upgradeState(), "utf8").includes(`"${step}"`)), 20_000).catch(() => {});
      process.kill(masterPid, "SIGKILL");
      const r = await upgrade;
      expect(r.stderr).not.toContain("internal");
      expect(Object.values(sha)).toContain(current());
      const up = await hsu(dir, "up", "-d");
      expect(up.code, up.stderr).toBe(0);
      if (existsSync(upgradeState())) {
        const back = await hsu(dir, "rollback", "app");
        expect(back.code, back.stderr).toBe(0);
      }
      const v = Object.entries(sha).find(([, h]) => h === current())![0];
      expect(["1", "2"]).toContain(v);
      await settledOn(v);
    }, 60_000);
  }

  it("the master killed -9 mid-gate: hsu upgrade says so; after hsu up and hsu rollback the old version runs, once", async () => {
    await reset("3-slow");
    const masterPid = lockHolder(join(dir, ".hsu")).pid!;
    const upgrade = hsu(dir, "upgrade", "app");
    await until("the upgrade is gating", () => existsSync(upgradeState()) && readFileSync(upgradeState(), "utf8").includes('"gating"'), 20_000);
    process.kill(masterPid, "SIGKILL");
    const r = await upgrade;
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/unit "app": version 3-slow .* failed: the master could not be reached.*`current` is back on 1 .*`hsu rollback app` restarts it there once a master runs/);
    expect(current()).toBe(sha["1"]);
    // The unit's process outlived the master, on the new tree; the next master stops it and starts `current`.
    const up = await hsu(dir, "up", "-d");
    expect(up.code, up.stderr).toBe(0);
    await settledOn("1", { finished: false });
    const back = await hsu(dir, "rollback", "app");
    expect(back.code, back.stderr).toBe(0);
    await settledOn("1");
  }, 60_000);
});

describe("source.index: versions picked from a JSON index over HTTP, each verified by its minisign signature", () => {
  let idx: string;
  let base = "";
  const served = new Map<string, Buffer>();
  const server = createServer((req, res) => {
    const body = served.get(req.url ?? "");
    if (!body) return void res.writeHead(404).end();
    res.writeHead(200, { "content-length": body.length }).end(body);
  });
  const serve = (name: string) => served.set(`/${name}`, readFileSync(join(idx, name)));
  const publish = (versions: { version: string; file: string }[]) =>
    served.set("/index.json", Buffer.from(JSON.stringify({ versions: versions.map((v) => ({ version: v.version, url: v.file, sha256: createHash("sha256").update(readFileSync(join(idx, v.file))).digest("hex") })) })));
  const idxPids = () => markedUnits(marker).get("indexed") ?? [];
  const treeOf = (pid: number) => readlinkSync(`/proc/${pid}/cwd`).split("/").pop();

  beforeAll(async () => {
    idx = projects.make("");
    for (const name of ["keys", "other"]) {
      mkdirSync(join(idx, name));
      expect((await hsu(idx, "key", "generate", "--no-password", "-o", name)).code).toBe(0);
    }
    // Versions 1.9, 1.10 and 2.0-rc.1 signed by the trusted key; 1.11 (the bytes of 1.10, whose tree is in the store) by a key hsu.yaml does not trust.
    for (const [version, from, key] of [["1.9", "1", "keys"], ["1.10", "2", "keys"], ["2.0-rc.1", "3", "keys"], ["1.11", "2", "other"]] as const) {
      const file = `app-${version}.tar.gz`;
      copyFileSync(join(dir, `app-${from}.tar.gz`), join(idx, file));
      expect((await hsu(idx, "sign", file, "-k", join(k(key), "hsu.key"))).code).toBe(0);
      serve(file);
      serve(`${file}.minisig`);
    }
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    publish([{ version: "1.9", file: "app-1.9.tar.gz" }, { version: "2.0-rc.1", file: "app-2.0-rc.1.tar.gz" }, { version: "1.10", file: "app-1.10.tar.gz" }]);
    writeFileSync(
      join(idx, "hsu.yaml"),
      `master:\n  trusted_keys: [{ file: keys/hsu.pub }]\nunits:\n  indexed:\n    command: bin/app\n    env: { ${marker.replace("=", ": ")}, HSU_X: indexed }\n    source: { index: "${base}/index.json" }\n`,
    );
  });
  const k = (name: string) => join(idx, name);

  afterAll(async () => {
    await hsu(idx, "down");
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  it("hsu up installs the newest release (1.10 over 1.9; not the pre-release); hsu upgrade <version> picks one by name", async () => {
    const up = await hsu(idx, "up", "-d");
    expect(up.code, up.stderr).toBe(0);
    await until("indexed runs", () => idxPids().length === 1);
    expect(treeOf(idxPids()[0]!)).toBe(sha["2"]);
    const rc = await hsu(idx, "upgrade", "indexed", "2.0-rc.1");
    expect(rc.code, rc.stderr).toBe(0);
    expect(rc.stdout).toMatch(/indexed upgraded from 1\.10 .* to 2\.0-rc\.1 /);
    expect(treeOf(idxPids()[0]!)).toBe(sha["3"]);
    const down = await hsu(idx, "upgrade", "indexed", "1.9");
    expect(down.code, down.stderr).toBe(0);
    expect(idxPids()).toHaveLength(1);
    expect(treeOf(idxPids()[0]!)).toBe(sha["1"]);
  });

  it("a newest version signed by an untrusted key is refused; the running version runs on", async () => {
    const before = idxPids()[0]!;
    publish([{ version: "1.9", file: "app-1.9.tar.gz" }, { version: "1.10", file: "app-1.10.tar.gz" }, { version: "1.11", file: "app-1.11.tar.gz" }]);
    const r = await hsu(idx, "upgrade", "indexed");
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/unit "indexed": .*app-1\.11\.tar\.gz: signature check failed: .*not a trusted key.*Nothing was installed/);
    expect(idxPids()).toEqual([before]);
    expect(existsSync(join(idx, ".hsu", "artifacts", "units", "indexed", "upgrade.json"))).toBe(false);
    const none = await hsu(idx, "upgrade", "indexed", "7");
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/unit "indexed": .*index\.json has no version "7" \(it lists 1\.9, 1\.10, 1\.11\)/);
  });

  it("hsu validate: an index needs trusted keys, and takes no url, sha256 or version of its own", async () => {
    const d = projects.make(`units:\n  a:\n    command: bin/a\n    source: { index: "${base}/index.json", version: "1" }\n  b:\n    command: bin/b\n    source: { url: "${base}/a.tar.gz", index: "${base}/index.json" }\n`);
    const r = await hsu(d, "validate");
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/hsu\.yaml:4:\d+: units\.a\.source\.version: with an index, each version's version comes from the index/);
    expect(r.stderr).toMatch(/hsu\.yaml:4:\d+: units\.a\.source\.index: an index needs master\.trusted_keys/);
    expect(r.stderr).toMatch(/hsu\.yaml:7:\d+: units\.b\.source\.index: give url \(one artifact\) or index \(a list of versions\), not both/);
  });
});

describe("an integrated unit upgraded under a load of calls", () => {
  const echoUnit = join(import.meta.dirname, "..", "..", "..", "..", "examples", "echo", "src", "unit.ts");
  let d: string;
  const echoPids = () => markedUnits(marker).get("echo") ?? [];
  let yaml: (v: string, rest?: string) => string;
  const shaOf = (file: string) => createHash("sha256").update(readFileSync(join(d, file))).digest("hex");

  beforeAll(async () => {
    d = projects.make("");
    for (const v of ["1", "2"]) {
      const b = join(d, `build-${v}`);
      mkdirSync(join(b, "bin"), { recursive: true });
      writeFileSync(join(b, "bin", "echo"), `#!/bin/sh\nexec ${process.execPath} --conditions=@hsu/source ${echoUnit}\n`, { mode: 0o755 });
      writeFileSync(join(b, "VERSION"), v);
      execFileSync("tar", ["-czf", join(d, `echo-${v}.tar.gz`), "-C", b, "."]);
    }
    yaml = (v: string, rest = "    on_demand: false\n") =>
      `units:\n  echo:\n    kind: integrated\n${rest}    command: bin/echo\n    env: { ${marker.replace("=", ": ")} }\n    graceful_timeout: 5s\n    source: { url: "file:echo-${v}.tar.gz", sha256: "${shaOf(`echo-${v}.tar.gz`)}", version: "${v}" }\n`;
    writeFileSync(join(d, "hsu.yaml"), yaml("1"));
    const up = await hsu(d, "up", "-d");
    expect(up.code, up.stderr).toBe(0);
    writeFileSync(join(d, "hsu.yaml"), yaml("2"));
  }, 60_000);

  afterAll(async () => {
    await hsu(d, "down");
  });

  it("loses no call: every call during hsu upgrade is answered, by the old process or the new one", async () => {
    const echo = createClient(EchoService, unitTransport(join(d, ".hsu", "control.sock"), "echo"));
    expect((await echo.echo({ message: "warm" })).unitId).toBe("echo");
    const before = echoPids();
    expect(before).toHaveLength(1);
    const tally = { ok: 0, failed: [] as string[], duringUpgrade: 0 };
    let upgrading = false;
    let stop = false;
    const deadline = Date.now() + 60_000;
    // 4 callers, one call at a time each, until the upgrade is over (at most 60 s or 50000 calls each).
    const callers = Array.from({ length: 4 }, async (_, c) => {
      for (let i = 0; !stop && i < 50_000 && Date.now() < deadline; i++) {
        try {
          const r = await echo.echo({ message: `${c}-${i}` });
          if (r.message !== `${c}-${i}`) tally.failed.push(`${c}-${i}: answered ${r.message}`);
          else tally.ok++;
          if (upgrading) tally.duringUpgrade++;
        } catch (e) {
          tally.failed.push(`${c}-${i}: ${(e as Error).message}`);
        }
      }
    });
    await until("calls flow", () => tally.ok > 50);
    upgrading = true;
    const r = await hsu(d, "upgrade", "echo");
    upgrading = false;
    await until("calls flow after the upgrade", () => tally.ok > tally.duringUpgrade + 100);
    stop = true;
    await Promise.all(callers);
    console.log(`integrated upgrade under load: ${tally.ok} calls answered (${tally.duringUpgrade} during hsu upgrade), ${tally.failed.length} failed`);
    expect(r.code, r.stderr).toBe(0);
    expect(tally.failed.slice(0, 5)).toEqual([]);
    expect(tally.duringUpgrade).toBeGreaterThan(0);
    const after = echoPids();
    expect(after).toHaveLength(1);
    expect(after[0]).not.toBe(before[0]);
    expect(readlinkSync(`/proc/${after[0]}/cwd`)).toBe(join(d, ".hsu", "artifacts", "trees", shaOf("echo-2.tar.gz")));
  }, 120_000);

  // A call of 2.5 s in flight when the unit restarts, with graceful_timeout 300ms: only drain_timeout lets it finish.
  const slowCallAcrossRestart = async (rest: string): Promise<string> => {
    writeFileSync(join(d, "hsu.yaml"), yaml("2", `    on_demand: false\n${rest}`).replace("graceful_timeout: 5s", "graceful_timeout: 300ms"));
    const apply = await hsu(d, "apply");
    expect(apply.code, apply.stderr).toBe(0);
    const echo = createClient(EchoService, unitTransport(join(d, ".hsu", "control.sock"), "echo"));
    await echo.echo({ message: "warm" });
    const slow = echo.echo({ message: "slow", delayMs: 2500 }).then((r) => r.message, (e: Error) => `failed: ${e.message}`);
    await new Promise((r) => setTimeout(r, 300));
    const restart = await hsu(d, "restart", "echo");
    expect(restart.code, restart.stderr).toBe(0);
    return slow;
  };

  it("upgrade.drain_timeout: a call in flight at a restart finishes though it outlasts graceful_timeout", async () => {
    expect(await slowCallAcrossRestart("    upgrade: { drain_timeout: 10s }\n")).toBe("slow");
    expect(await slowCallAcrossRestart("")).toMatch(/^failed: /); // the control: graceful_timeout alone cuts it
  }, 60_000);

  it("upgrade.when_idle: hsu upgrade waits until the unit is at rest, then upgrades it", async () => {
    const rest = "    on_demand: true\n    idle_timeout: 2s\n    upgrade: { when_idle: true }\n";
    writeFileSync(join(d, "hsu.yaml"), yaml("2", rest));
    const apply = await hsu(d, "apply");
    expect(apply.code, apply.stderr).toBe(0);
    const echo = createClient(EchoService, unitTransport(join(d, ".hsu", "control.sock"), "echo"));
    await echo.echo({ message: "wake" });
    expect(echoPids()).toHaveLength(1);
    writeFileSync(join(d, "hsu.yaml"), yaml("1", rest));
    const t0 = Date.now();
    const r = await hsu(d, "upgrade", "echo");
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain("echo: waiting for it to be at rest (upgrade.when_idle");
    expect(Date.now() - t0).toBeGreaterThan(1000);
    expect(r.stdout).toMatch(/echo upgraded from 2 .* to 1 /);
    expect(await echo.echo({ message: "after" })).toMatchObject({ message: "after" });
    const pids = echoPids();
    expect(pids).toHaveLength(1);
    expect(readlinkSync(`/proc/${pids[0]}/cwd`)).toBe(join(d, ".hsu", "artifacts", "trees", shaOf("echo-1.tar.gz")));
    writeFileSync(join(d, "hsu.yaml"), yaml("1", "    upgrade: { when_idle: true }\n"));
    const v = await hsu(d, "validate");
    expect(v.code).toBe(1);
    expect(v.stderr).toMatch(/hsu\.yaml:\d+:\d+: units\.echo\.upgrade\.when_idle: the unit never comes to rest without idle_timeout/);
  }, 60_000);
});
