// Every load error whose remedy is a change to hsu.yaml names the key to
// change, where it is (path:line) and a value that works; and nothing is
// created before it (no state dir, no socket).
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { loadDeployment, SpecError } from "./index.ts";

const tmp = mkdtempSync(join(tmpdir(), "hsu-fix-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

// Deep enough that <dir>/.hsu/control.sock passes 107 bytes (a project under a long home or CI path).
const deep = (name: string) => join(tmp, name, "d".repeat(110 - tmp.length - name.length));
const sleeper = `units:\n  app:\n    command: sleep\n    args: ["100"]\n`;

interface Case {
  name: string;
  dir: string;
  spec: string;
  /** The issue's path: the key to change. */
  key: string;
  /** hsu.yaml line of the issue. */
  line: number;
  /** What the message must say besides the key. */
  says: RegExp[];
}

const cases: Case[] = [
  {
    name: "a deep project dir: the default state dir's socket is too long",
    dir: deep("default"),
    spec: sleeper,
    key: "master.state_dir",
    line: 1,
    says: [/control\.sock would be 1\d\d bytes; a Unix socket path may have at most 107/, /master\.state_dir is not set/, /state_dir: \/tmp\/hsu-/, /master\.control\.socket/],
  },
  {
    name: "a state_dir whose socket is too long",
    dir: join(tmp, "explicit"),
    spec: `master:\n  state_dir: ${"s".repeat(100)}\n${sleeper}`,
    key: "master.state_dir",
    line: 2,
    says: [/\/s{100}\/control\.sock would be \d+ bytes/, /at most 107/, /state_dir: \/tmp\/hsu-explicit/],
  },
  {
    name: "a control.socket that is too long",
    dir: join(tmp, "socket"),
    spec: `master:\n  control:\n    socket: ${"k".repeat(100)}.sock\n${sleeper}`,
    key: "master.control.socket",
    line: 3,
    says: [/k{100}\.sock would be \d+ bytes/, /at most 107/, /socket: \/tmp\/hsu-socket\.sock/],
  },
  {
    name: "waiting for an integrated unit to complete",
    dir: join(tmp, "integrated-completed"),
    spec: `units:\n  echo:\n    kind: integrated\n    command: sleep\n    args: ["100"]\n  client:\n    command: sleep\n    args: ["1"]\n    depends_on:\n      echo: completed\n`,
    key: "units.client.depends_on.echo",
    line: 10,
    says: [/"echo" is integrated, which never completes/, /started or healthy/],
  },
  {
    name: "waiting for an unmanaged unit to complete",
    dir: join(tmp, "unmanaged-completed"),
    spec: `units:\n  legacy:\n    kind: unmanaged\n    pid: 1\n  client:\n    command: sleep\n    args: ["1"]\n    depends_on: {legacy: completed}\n`,
    key: "units.client.depends_on.legacy",
    line: 8,
    says: [/"legacy" is unmanaged, which never completes: depend on it as started \[/],
  },
];

describe("a load error with a config fix names its key", () => {
  it.each(cases)("$name -> $key", async (c) => {
    mkdirSync(c.dir, { recursive: true });
    writeFileSync(join(c.dir, "hsu.yaml"), c.spec);
    const error = await loadDeployment(join(c.dir, "hsu.yaml")).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(SpecError);
    const issues = (error as SpecError).issues;
    expect(issues.map((i) => i.path)).toEqual([c.key]);
    expect(issues[0]!.line).toBe(c.line);
    for (const s of c.says) expect(issues[0]!.message).toMatch(s);
    expect((error as SpecError).message).toContain(`hsu.yaml:${c.line}:`);
    // Nothing was created before the error.
    expect(readdirSync(c.dir)).toEqual(["hsu.yaml"]);
  });

  it("a deep project dir with a short state_dir loads", async () => {
    const dir = deep("fixed");
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "hsu.yaml"), `master:\n  state_dir: ${join(tmp, "st")}\n${sleeper}`);
    await expect(loadDeployment(join(dir, "hsu.yaml"))).resolves.toMatchObject({ master: { controlSocket: join(tmp, "st", "control.sock") } });
  });

  it("a socket path of exactly 107 bytes loads; 108 does not", async () => {
    const dir = join(tmp, "edge");
    mkdirSync(dir, { recursive: true });
    for (const [bytes, ok] of [[107, true], [108, false]] as const) {
      const name = "e".repeat(bytes - dir.length - 1);
      writeFileSync(join(dir, "hsu.yaml"), `master:\n  control:\n    socket: ${name}\n${sleeper}`);
      const loaded = await loadDeployment(join(dir, "hsu.yaml")).then(
        () => true,
        (e: unknown) => (e instanceof SpecError ? false : Promise.reject(e)),
      );
      expect(loaded, `${bytes} bytes`).toBe(ok);
    }
  });
});
