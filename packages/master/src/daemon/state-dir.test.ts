import { chmodSync, chownSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { checkControlSocketPath } from "../control/socket-path.ts";
import { openRunDir } from "./run-dir.ts";
import { checkStateDir } from "./state-dir.ts";

const root = mkdtempSync(join(tmpdir(), "hsu-sd-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const fresh = () => join(root, `case-${n++}`);

describe("checkStateDir", () => {
  it("creates a missing state dir with mode 0700, parents included", () => {
    const dir = join(fresh(), "a", "b");
    checkStateDir(dir);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    checkStateDir(dir);
  });

  it("refuses a dir writable by others, a symlink, a file, and another user's dir, naming master.state_dir", () => {
    const open = fresh();
    mkdirSync(open);
    chmodSync(open, 0o777);
    expect(() => checkStateDir(open)).toThrow(`master.state_dir: ${open} is writable by others (mode 0777)`);
    chmodSync(open, 0o770);
    expect(() => checkStateDir(open)).toThrow("mode 0770");
    const link = fresh();
    const real = fresh();
    mkdirSync(real, { mode: 0o700 });
    symlinkSync(real, link);
    expect(() => checkStateDir(link)).toThrow(`master.state_dir: ${link} is a symlink (to ${real})`);
    const file = fresh();
    writeFileSync(file, "x");
    expect(() => checkStateDir(file)).toThrow(`master.state_dir: ${file} exists and is not a directory`);
    expect(readFileSync(file, "utf8")).toBe("x");
    if (process.getuid?.() === 0) {
      const theirs = fresh();
      mkdirSync(theirs, { mode: 0o700 });
      chownSync(theirs, 65534, 65534);
      expect(() => checkStateDir(theirs)).toThrow(`master.state_dir: ${theirs} is owned by uid 65534, not by you (uid 0)`);
    }
  });
});

describe("checkControlSocketPath", () => {
  it("accepts nothing at the path and refuses a file, a directory or a symlink, naming master.control.socket", async () => {
    await checkControlSocketPath(fresh());
    const file = fresh();
    writeFileSync(file, "x");
    await expect(checkControlSocketPath(file)).rejects.toThrow(`master.control.socket: ${file} is a regular file, not a socket`);
    const dir = fresh();
    mkdirSync(dir);
    await expect(checkControlSocketPath(dir)).rejects.toThrow(`master.control.socket: ${dir} is a directory, not a socket`);
    const link = fresh();
    symlinkSync(file, link);
    await expect(checkControlSocketPath(link)).rejects.toThrow(`master.control.socket: ${link} is a symlink, not a socket`);
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
  });
});

describe("openRunDir", () => {
  const deep = () => {
    const d = join(fresh(), "s".repeat(60));
    mkdirSync(d, { recursive: true, mode: 0o700 });
    return d;
  };

  it("keeps a short state dir's run dir inside it", () => {
    const state = fresh();
    mkdirSync(state, { mode: 0o700 });
    const run = openRunDir(state);
    expect(run.path).toBe(join(state, "run"));
    run.remove();
    expect(statSync(run.path).isDirectory()).toBe(true);
  });

  it("records a deep state dir's temp run dir, removes it on remove(), and takes a crashed master's over on the next open", () => {
    const state = deep();
    const first = openRunDir(state);
    expect(first.path.startsWith(join(tmpdir(), "hsu-run-"))).toBe(true);
    expect(statSync(first.path).mode & 0o777).toBe(0o700);
    expect(readFileSync(join(state, "run-dir"), "utf8")).toBe(`${first.path}\n`);
    first.remove();
    expect(() => statSync(first.path)).toThrow();
    const crashed = openRunDir(state); // never removed: its master "died"
    writeFileSync(join(crashed.path, "registrar.sock"), "");
    const next = openRunDir(state);
    // Taken over (re-adopted units may still listen there), so only one temp dir ever exists per state dir.
    expect(next.path).toBe(crashed.path);
    next.remove();
    expect(() => statSync(crashed.path)).toThrow();
  });

  it("never removes a recorded path that is not a temp run dir of ours", () => {
    const state = deep();
    const precious = fresh();
    mkdirSync(precious);
    writeFileSync(join(state, "run-dir"), `${precious}\n`);
    openRunDir(state).remove();
    expect(statSync(precious).isDirectory()).toBe(true);
  });
});
