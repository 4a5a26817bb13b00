// The real `hsu` names the hsu.yaml key to change when the fix is a config
// change, and starts or writes nothing before it says so.
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { createProjects, hsu, hsuWith } from "../test-support/hsu-cli.ts";

const tmp = mkdtempSync(join(tmpdir(), "hsu-fixcli-"));
const projects = createProjects("hsu-fixcli-second-");
afterAll(() => {
  projects.removeAll();
  rmSync(tmp, { recursive: true, force: true });
});

const sleeper = `units:\n  app:\n    command: sleep\n    args: ["600"]\n`;
// <dir>/.hsu/control.sock is then well past the 107 bytes of a Unix socket path.
const deepDir = join(tmp, "d".repeat(100 - tmp.length));

describe("hsu in a project too deep for the default control socket", () => {
  it.each(["validate", "up", "up --detach"])("hsu %s names master.state_dir and the socket path, and creates nothing", async (command) => {
    mkdirSync(deepDir, { recursive: true });
    writeFileSync(join(deepDir, "hsu.yaml"), sleeper);
    const r = await hsuWith({ cwd: deepDir, timeoutMs: 60_000 }, ...command.split(" "));
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toContain(`hsu.yaml:1:1: master.state_dir: the control socket ${join(deepDir, ".hsu", "control.sock")} would be`);
    expect(r.stderr).toMatch(/a Unix socket path may have at most 107/);
    expect(r.stderr).toMatch(/master: \{state_dir: \/tmp\/hsu-d+\}/);
    expect(r.stderr).toContain("master.control.socket");
    expect(readdirSync(deepDir)).toEqual(["hsu.yaml"]);
  });

  it("the fix it prints works: with that master.state_dir, hsu validate passes", async () => {
    const short = join(tmp, "st");
    writeFileSync(join(deepDir, "hsu.yaml"), `master: {state_dir: ${short}}\n${sleeper}`);
    const r = await hsuWith({ cwd: deepDir, timeoutMs: 60_000 }, "validate");
    expect(r.code, r.stderr).toBe(0);
    expect(existsSync(short)).toBe(false);
  });
});

describe("errors of a running master name the key", () => {
  it("a second hsu.yaml in the same directory is told to set master.state_dir; scaling a plain unit names replicas; stopping an adopted one names can_terminate", async () => {
    const outsider = spawn("sleep", ["600"], { stdio: "ignore" });
    const dir = projects.make(`${sleeper}  legacy:\n    kind: unmanaged\n    pid: ${outsider.pid}\n`);
    writeFileSync(join(dir, "other.yaml"), `units:\n  other:\n    command: sleep\n    args: ["600"]\n`);
    const up = await hsu(dir, "up", "--detach");
    expect(up.code, up.stderr).toBe(0);
    try {
      const second = await hsu(dir, "up", "--detach", "-f", "other.yaml");
      expect(second.code).toBe(1);
      expect(second.stderr).toContain("needs its own master.state_dir");
      const scale = await hsu(dir, "scale", "app", "2");
      expect(scale.code).toBe(1);
      expect(scale.stderr).toContain('hsu scale: unit "app": units.app.replicas: not a pool; give it `replicas: N`');
      const stop = await hsu(dir, "stop", "legacy");
      expect(stop.code).toBe(1);
      expect(stop.stderr).toContain('hsu stop: unit "legacy": units.legacy.can_terminate: ');
      expect(stop.stderr).toContain("set can_terminate: true to allow it");
      expect(outsider.exitCode).toBeNull();
    } finally {
      expect((await hsu(dir, "down")).code).toBe(0);
      outsider.kill("SIGKILL");
    }
  });
});
