import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { createProjects, hsu, hsuWith, until } from "../test-support/hsu-cli.ts";

const projects = createProjects("hsu-unit-config-");
afterAll(() => projects.removeAll());

type Ps = { id: string; pid: number | null }[];
const ps = async (dir: string): Promise<Ps> => JSON.parse((await hsu(dir, "ps", "--json")).stdout) as Ps;
const pidOf = (list: Ps, id: string) => list.find((u) => u.id === id)?.pid ?? null;
// Each unit writes what it was given to out-<id> in the project dir, then stays up.
const report = (id: string) => `{ cat "$HSU_CONFIG_DIR/app.conf"; echo "A=$A B=$B C=$C"; } > out-${id}.tmp && mv out-${id}.tmp out-${id}; exec sleep 600`;

const spec = `vars: { greeting: hello, port: "1000" }
units:
  api:
    kind: integrated
    command: sh
    args: ["-c", "exec sleep 600"]
  one:
    command: sh
    args: ["-c", '${report("one")}']
    env_file: [base.env, { path: local.env }, { path: missing.env, required: false }]
    env: { C: from-env }
    vars: { port: "2000" }
    config:
      app.conf:
        template: one.tmpl
  two:
    command: sh
    args: ["-c", '${report("two")}']
    env_file: two.env
    config:
      app.conf:
        content: "{{ vars.greeting }} two {{ vars.port }}\\n"
`;

describe("env_file and config templates under a real master", () => {
  const dir = projects.make(spec);
  writeFileSync(join(dir, "base.env"), "\uFEFFexport A=base\r\nB='from base'\r\nC=base\r\n");
  writeFileSync(join(dir, "local.env"), '# later files win\nB="local\\tvalue"\n');
  writeFileSync(join(dir, "two.env"), "A=two-a\n");
  writeFileSync(join(dir, "one.tmpl"), "{{ vars.greeting }} {{ vars.port }}\nhome={{ env.HSU_TEST_VALUE }}\napi={{ units.api.address }}\n");
  const out = (id: string) => (existsSync(join(dir, `out-${id}`)) ? readFileSync(join(dir, `out-${id}`), "utf8") : "");

  it("values from env files, vars, the master's environment and another unit's address reach the unit", async () => {
    const r = await hsuWith({ cwd: dir, env: { HSU_TEST_VALUE: "from-master-env" } }, "up", "--detach");
    expect(r.code, r.stderr).toBe(0);
    await until("both units wrote what they got", () => out("one") !== "" && out("two") !== "");

    const lines = out("one").split("\n");
    expect(lines[0]).toBe("hello 2000");
    expect(lines[1]).toBe("home=from-master-env");
    expect(lines[2]).toMatch(/^api=unix:\/.*\/api\.sock$/);
    expect(lines[3]).toBe("A=base B=local\tvalue C=from-env");
    expect(out("two")).toBe("hello two 1000\nA=two-a B= C=\n");
    const cfgDir = join(dir, ".hsu", "config", "one");
    expect(statSync(cfgDir).mode & 0o777).toBe(0o700);
    expect(statSync(join(cfgDir, "app.conf")).mode & 0o777).toBe(0o600);
  }, 60_000);

  it("hsu apply restarts only the unit whose template or env file changed", async () => {
    const before = await ps(dir);
    writeFileSync(join(dir, "one.tmpl"), "changed {{ vars.port }}\n");
    let r = await hsu(dir, "apply", "--json");
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ changed: ["one"], unchanged: ["api", "two"] });
    let after = await ps(dir);
    expect(pidOf(after, "two")).toBe(pidOf(before, "two"));
    expect(pidOf(after, "one")).not.toBe(pidOf(before, "one"));
    await until("one rendered again", () => out("one").startsWith("changed 2000\n"));

    writeFileSync(join(dir, "two.env"), "A=two-b\n");
    r = await hsu(dir, "apply", "--json");
    expect(JSON.parse(r.stdout)).toMatchObject({ changed: ["two"], unchanged: ["api", "one"] });
    const again = await ps(dir);
    expect(pidOf(again, "one")).toBe(pidOf(after, "one"));
    await until("two got its new env file", () => out("two").includes("A=two-b"));

    // A bad line at apply: refused with file:line, nothing is restarted.
    writeFileSync(join(dir, "two.env"), "A=two-c\nbroken\n");
    r = await hsu(dir, "apply", "--json");
    expect(r.code).not.toBe(0);
    expect(r.stdout + r.stderr).toMatch(/two\.env:2: "broken" has no "="/);
    expect((await ps(dir)).map((u) => u.pid)).toEqual(again.map((u) => u.pid));
    writeFileSync(join(dir, "two.env"), "A=two-b\n");

    // Nothing changed: nothing restarts.
    r = await hsu(dir, "apply", "--json");
    expect(JSON.parse(r.stdout)).toMatchObject({ changed: [], unchanged: ["api", "one", "two"] });
    after = await ps(dir);
    expect(after.map((u) => u.pid)).toEqual(again.map((u) => u.pid));
    expect((await hsu(dir, "down")).code).toBe(0);
  }, 60_000);
});

const unitWith = (extra: string) => `units:
  solo:
    command: sh
    args: ["-c", "touch started; exec sleep 600"]
${extra}`;

describe("bad env files and templates are refused before anything starts", () => {
  const refused = async (extra: string, files: Record<string, string | Buffer>, ...want: RegExp[]) => {
    const dir = projects.make(unitWith(extra));
    for (const [name, body] of Object.entries(files)) {
      mkdirSync(join(dir, name, ".."), { recursive: true });
      writeFileSync(join(dir, name), body);
    }
    const v = await hsu(dir, "validate");
    expect(v.code, v.stdout).not.toBe(0);
    const r = await hsu(dir, "up", "--detach");
    expect(r.code).not.toBe(0);
    for (const w of want) {
      expect(v.stdout + v.stderr).toMatch(w);
      expect(r.stdout + r.stderr).toMatch(w);
    }
    expect(existsSync(join(dir, "started")), "the unit must not have started").toBe(false);
    return dir;
  };

  it("a bad env line: file:line and the unit", () =>
    refused("    env_file: app.env\n", { "app.env": "A=1\nthis is not a line\n" }, /units\.solo\.env_file/, /app\.env:2: "this is not a line" has no "="/));
  it("a NUL byte in an env file", () => refused("    env_file: app.env\n", { "app.env": Buffer.from("A=1\nB=x\0y\n") }, /app\.env:2: contains a NUL byte/));
  it("a FIFO as env file is refused without blocking", async () => {
    const dir = projects.make(unitWith("    env_file: fifo.env\n"));
    execFileSync("mkfifo", [join(dir, "fifo.env")]);
    const v = await hsu(dir, "validate");
    expect(v.code).not.toBe(0);
    expect(v.stdout + v.stderr).toMatch(/fifo\.env is not a regular file/);
  });
  it("a missing env file", () => refused("    env_file: nope.env\n", {}, /nope\.env does not exist/));
  it("an unknown variable: template path:line", () =>
    refused("    config:\n      a.conf:\n        template: t/a.tmpl\n", { "t/a.tmpl": "ok\n\n{{ vars.missing }}\n" }, /t\/a\.tmpl:3: \{\{ vars\.missing \}\}: unknown variable "missing"/));
  it("an unknown environment variable and an unknown unit", () =>
    refused('    config:\n      a.conf:\n        content: "{{ env.HSU_SURELY_UNSET_1 }} {{ units.ghost.address }}"\n', {}, /unknown environment variable "HSU_SURELY_UNSET_1"/, /no unit "ghost"/));
  it("a template path escaping the project dir with .. (the file there exists)", async () => {
    const name = `outside-${process.pid}-${Date.now()}.tmpl`;
    const dir = await refused(`    config:\n      a.conf:\n        template: ../${name}\n`, { [`../${name}`]: "{{ vars.nothing_needed }}" }, /outside the project directory/);
    expect(existsSync(join(dir, "..", name))).toBe(true);
  });
  it("a template symlinked to a file outside the project dir", async () => {
    const outside = projects.make("units: {}\n");
    writeFileSync(join(outside, "secret.tmpl"), "x");
    const dir = projects.make(unitWith("    config:\n      a.conf:\n        template: link.tmpl\n"));
    symlinkSync(join(outside, "secret.tmpl"), join(dir, "link.tmpl"));
    const v = await hsu(dir, "validate");
    expect(v.code).not.toBe(0);
    expect(v.stdout + v.stderr).toMatch(/outside the project directory/);
  });
  it("a huge template", () => refused("    config:\n      a.conf:\n        template: big.tmpl\n", { "big.tmpl": "x".repeat(1024 * 1024 + 1) }, /at most 1048576/));
  it("a template that names a secret that is not set: the unit does not start, the error says how to set it", async () => {
    const dir = projects.make(unitWith('    config:\n      a.conf:\n        content: "{{ secret \\"db\\" }}"\n'));
    const r = await hsu(dir, "up", "--detach");
    expect(r.code).not.toBe(0);
    expect(r.stdout + r.stderr).toMatch(/secret "db" is not set .*hsu secret set db/);
    expect(existsSync(join(dir, "started"))).toBe(false);
    await hsu(dir, "down");
  }, 60_000);
  it("a secret rendered into a config file: in the file (0600, off the project dir), redacted from the unit's output, gone from the state dir", async () => {
    const value = `tpl-secret-${process.pid}-${Date.now()}`;
    const dir = projects.make(`units:
  solo:
    command: sh
    args: ["-c", 'echo "conf: $(cat "$HSU_CONFIG_DIR/a.conf")"; stat -c %a "$HSU_CONFIG_DIR/a.conf" > mode; echo "$HSU_CONFIG_DIR" > where; exec sleep 600']
    config:
      a.conf: { content: 'password={{ secret "db" }}' }
`);
    execFileSync(process.execPath, ["--conditions=@hsu/source", join(import.meta.dirname, "..", "cli", "bin.ts"), "secret", "set", "db"], { cwd: dir, input: value });
    const r = await hsu(dir, "up", "--detach");
    expect(r.code, r.stderr).toBe(0);
    await until("the unit wrote where its config is", () => existsSync(join(dir, "where")) && existsSync(join(dir, "mode")));
    const where = readFileSync(join(dir, "where"), "utf8").trim();
    expect(where.startsWith(dir)).toBe(false);
    expect(readFileSync(join(where, "a.conf"), "utf8")).toBe(`password=${value}`);
    expect(readFileSync(join(dir, "mode"), "utf8").trim()).toBe("600");
    await until("the unit's line is in its log", async () => (await hsu(dir, "logs", "solo")).stdout.includes("conf: "));
    const logs = (await hsu(dir, "logs", "solo")).stdout;
    expect(logs).toContain("conf: password=[redacted]");
    expect(logs).not.toContain(value);
    expect((await hsu(dir, "ps", "--json")).stdout).not.toContain(value);
    // While it runs too: its output is captured on tmpfs, not in the state dir.
    expect(spawnSync("grep", ["-rlF", "--", value, join(dir, ".hsu")], { encoding: "utf8" }).stdout.trim()).toBe("");
    await hsu(dir, "down");
    // After down, no file holds the value: not the state dir (only the .age file), not the tmpfs config dir.
    const holders = spawnSync("grep", ["-rlF", "--", value, join(dir, ".hsu"), where], { encoding: "utf8" }).stdout.trim();
    expect(holders).toBe("");
    expect(existsSync(join(where, "a.conf"))).toBe(false);
  }, 60_000);
  it("a value is never parsed again: a var holding {{ ... }} is written as is", async () => {
    const dir = projects.make(`vars: { self: "{{ vars.self }}" }
units:
  solo:
    command: sh
    args: ["-c", 'cp "$HSU_CONFIG_DIR/a.conf" out; exec sleep 600']
    config:
      a.conf: { content: "v={{ vars.self }}" }
`);
    const r = await hsu(dir, "up", "--detach");
    expect(r.code, r.stderr).toBe(0);
    await until("the unit copied its config", () => existsSync(join(dir, "out")));
    expect(readFileSync(join(dir, "out"), "utf8")).toBe("v={{ vars.self }}");
    await hsu(dir, "down");
  }, 60_000);
});
