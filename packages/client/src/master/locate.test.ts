import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { HsuError } from "../errors.ts";
import { locateMaster, masterPaths } from "./locate.ts";

const root = mkdtempSync(join(tmpdir(), "hsu-locate-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const project = (name: string, spec?: string) => {
  const dir = join(root, name);
  mkdirSync(join(dir, "src", "deep"), { recursive: true });
  if (spec !== undefined) writeFileSync(join(dir, "hsu.yaml"), spec);
  return dir;
};
const noEnv = {};

describe("locateMaster", () => {
  it("finds the nearest hsu.yaml from a subdirectory and uses <dir>/.hsu/control.sock by default", () => {
    const dir = project("plain", "units: {}\n");
    const found = locateMaster({ cwd: join(dir, "src", "deep"), env: noEnv });
    expect(found).toEqual({ socket: join(dir, ".hsu", "control.sock"), source: "spec", file: join(dir, "hsu.yaml") });
  });

  it("honours master.state_dir and master.control.socket, relative to the spec's directory", () => {
    const a = project("state", "master:\n  state_dir: ../run/state\nunits: {}\n");
    expect(locateMaster({ cwd: join(a, "src"), env: noEnv }).socket).toBe(join(root, "run", "state", "control.sock"));
    const b = project("sock", "master:\n  state_dir: /var/x\n  control:\n    socket: ctl/m.sock\n");
    expect(locateMaster({ cwd: b, env: noEnv }).socket).toBe(join(b, "ctl", "m.sock"));
  });

  it("reads the two keys through YAML anchors and ignores the rest of a spec written for another machine", () => {
    const dir = project("anchors", "x: &d { state_dir: /tmp/elsewhere }\nmaster: *d\nunits:\n  a: { command: /no/such/binary }\n");
    expect(locateMaster({ cwd: dir, env: noEnv }).socket).toBe("/tmp/elsewhere/control.sock");
  });

  it("lets the socket option win over HSU_CONTROL, and HSU_CONTROL over hsu.yaml; relative paths from cwd; host:port kept", () => {
    const dir = project("env", "units: {}\n");
    expect(locateMaster({ cwd: dir, env: { HSU_CONTROL: "m.sock" } })).toEqual({ socket: join(dir, "m.sock"), source: "HSU_CONTROL" });
    expect(locateMaster({ cwd: dir, socket: "/s", env: { HSU_CONTROL: "m.sock" } })).toEqual({ socket: "/s", source: "option" });
    expect(locateMaster({ cwd: dir, env: { HSU_CONTROL: "127.0.0.1:7000" } }).socket).toBe("127.0.0.1:7000");
  });

  it("an explicit file that is missing, or no hsu.yaml up to /, says what was looked for and how to fix it", () => {
    const dir = project("none");
    let err: unknown;
    try {
      locateMaster({ cwd: join(dir, "src"), env: noEnv });
    } catch (e) {
      err = e;
    }
    expect(HsuError.is(err, "not_found")).toBe(true);
    expect((err as Error).message).toBe(
      `cannot find the hsu master: HSU_CONTROL is not set and there is no hsu.yaml in ${join(dir, "src")} or any directory above it; run in your project's directory (where \`hsu up\` runs), or set HSU_CONTROL to the master's control socket`,
    );
    expect(() => locateMaster({ cwd: dir, file: "other.yaml", env: noEnv })).toThrow(`there is no spec file at ${join(dir, "other.yaml")};`);
  });

  it("a spec that is not YAML, or a state_dir that is not a path, is refused with the file and key", () => {
    const bad = project("bad", "master: [unclosed\n");
    expect(() => locateMaster({ cwd: bad, env: noEnv })).toThrow(`${join(bad, "hsu.yaml")}: cannot read it to find the master:`);
    const num = project("num", "master:\n  state_dir: 42\n");
    expect(() => locateMaster({ cwd: num, env: noEnv })).toThrow(`${join(num, "hsu.yaml")}: master.state_dir: must be a non-empty path`);
  });

  it("a billion-laughs spec is refused, not expanded", () => {
    const lol = ["a: &a [x,x,x,x,x,x,x,x,x,x]"];
    for (let i = 1; i < 9; i++) lol.push(`${"abcdefghij"[i]}: &${"abcdefghij"[i]} [${Array(10).fill(`*${"abcdefghij"[i - 1]}`).join(",")}]`);
    const dir = project("lol", `${lol.join("\n")}\nmaster: { state_dir: x }\n`);
    expect(() => locateMaster({ cwd: dir, env: noEnv })).toThrow(/cannot read it to find the master/);
  });
});

describe("masterPaths", () => {
  it("is the state dir and socket rule: defaults, relative and absolute", () => {
    expect(masterPaths("/p")).toEqual({ stateDir: "/p/.hsu", controlSocket: "/p/.hsu/control.sock" });
    expect(masterPaths("/p", "s", "/abs.sock")).toEqual({ stateDir: "/p/s", controlSocket: "/abs.sock" });
  });
});
