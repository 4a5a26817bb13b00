import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { specDefaults } from "@hsu/client";
import type { Deployment } from "./index.ts";
import { parseDeployment } from "./index.ts";
import { runMaster } from "../daemon/run.ts";
import { committedCases, generatedCases, type BrokenCase } from "./testdata/generated.ts";

const bin = join(import.meta.dirname, "..", "cli", "bin.ts");
const root = mkdtempSync(join(tmpdir(), "hsu-corpus-"));
afterAll(() => {
  // Whatever a failing test left running under these dirs is ended here, by pid.
  for (const line of [root, ...readdirSync(root).map((d) => join(root, d))].flatMap(processesOf)) {
    try {
      process.kill(Number(line.split(":")[0]), "SIGKILL");
    } catch {
      // already gone
    }
  }
  rmSync(root, { recursive: true, force: true });
});

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  killed: boolean;
}

/** Runs the real `hsu` in `cwd`; `deadlineMs` bounds it (a hang is a failure, reported as killed). */
function hsu(cwd: string, deadlineMs: number, ...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ["--conditions=@hsu/source", bin, ...args],
      { cwd, timeout: deadlineMs, killSignal: "SIGKILL", env: { ...process.env, NO_COLOR: "1", FORCE_COLOR: undefined }, maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const e = error as (Error & { code?: number; killed?: boolean }) | null;
        resolve({ code: e ? (typeof e.code === "number" ? e.code : null) : 0, stdout, stderr, killed: !!e?.killed });
      },
    );
  });
}

/** Every file under `dir` (but its state dir) with size and mtime, to tell whether anything was written. */
function snapshot(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (relative(dir, p) === ".hsu") continue;
      const st = statSync(p);
      if (st.isDirectory()) walk(p);
      else out.push(`${relative(dir, p)} ${st.size} ${st.mtimeMs}`);
    }
  };
  walk(dir);
  return out.sort();
}

/** Processes that belong to `dir`: a unit marked with its owner, or a master started on its hsu.yaml. */
function processesOf(dir: string): string[] {
  let owner = "-";
  try {
    owner = createHash("sha256").update(join(realpathSync(dir), ".hsu")).digest("hex").slice(0, 16);
  } catch {
    // the dir is gone: match by path only
  }
  const found: string[] = [];
  for (const pid of readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
    try {
      const env = readFileSync(`/proc/${pid}/environ`, "latin1");
      const cmd = readFileSync(`/proc/${pid}/cmdline`, "latin1").replace(/\0/g, " ");
      if (env.includes(`HSU_OWNER=${owner}`) || cmd.includes(dir)) found.push(`${pid}: ${cmd}`);
    } catch {
      // gone, or not ours to read
    }
  }
  return found;
}

const stackTrace = /\n\s+at .*[:(]|\.ts:\d+:\d+/;

/** The one line of the report that names the expected issue: "hsu.yaml:L:C: path: message". */
function issueLine(text: string, c: BrokenCase): string | undefined {
  return text.split("\n").find((l) => l.includes(`hsu.yaml:${c.line}:`) && l.includes(c.expect));
}

describe.concurrent("every broken hsu.yaml, through the real hsu validate, up and up --detach", () => {
  const cases = [...committedCases(), ...generatedCases()];

  // vitest runs at most maxConcurrency (5) of these at once: the small pool.
  it.concurrent.each(cases.map((c) => [c.name, c] as const))("%s: same path:line:column from all three, exit 1, nothing started or written", { timeout: 120_000 }, async (_, c) => {
    const problems: string[] = [];
    const dir = mkdtempSync(join(root, "case-"));
    writeFileSync(join(dir, "hsu.yaml"), c.bytes);
    const before = snapshot(dir);
    const deadline = 30_000;
    const validate = await hsu(dir, deadline, "validate");
    const up = await hsu(dir, deadline, "up");
    const detached = await hsu(dir, deadline, "up", "--detach");
    const want = issueLine(validate.stderr, c);
    if (!want) problems.push(`validate does not report "${c.expect}" at line ${c.line}:\n${validate.stderr.slice(0, 600)}`);
    const trimmed = want?.trim().replace(/^✘\s*/, "");
    for (const [name, r] of [["validate", validate], ["up", up], ["up --detach", detached]] as const) {
      if (r.killed) problems.push(`${name} did not return within ${deadline} ms`);
      if (r.code !== 1) problems.push(`${name} exited ${r.code}`);
      if (trimmed && !r.stderr.includes(trimmed)) problems.push(`${name} does not say "${trimmed}":\n${r.stderr.slice(0, 600)}`);
      if (stackTrace.test(r.stdout + r.stderr)) problems.push(`${name} printed a stack trace:\n${(r.stdout + r.stderr).slice(0, 600)}`);
    }
    let log = "";
    try {
      log = readFileSync(join(dir, ".hsu", "master.log"), "utf8");
    } catch {
      // no log: nothing was started
    }
    if (stackTrace.test(log)) problems.push(`master.log holds a stack trace:\n${log.slice(0, 600)}`);
    const left = processesOf(dir);
    if (left.length) problems.push(`processes left: ${left.join("; ")}`);
    const after = snapshot(dir);
    if (after.join("\n") !== before.join("\n")) problems.push(`files changed outside the state dir: ${after.filter((f) => !before.includes(f)).join(", ")}`);
    let stateDir: string[] = [];
    try {
      stateDir = readdirSync(join(dir, ".hsu"));
    } catch {
      // not created: the best outcome
    }
    if (stateDir.length) problems.push(`a state dir was written: ${stateDir.join(", ")}`);
    expect(problems).toEqual([]);
  });
});

/** Waits (bounded) until no process of `dir` is left; `hsu down` may return while the master exits. */
async function noneLeft(dir: string, ms = 15_000): Promise<string[]> {
  for (const until = Date.now() + ms; ; ) {
    const left = processesOf(dir);
    if (!left.length || Date.now() > until) return left;
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe("a unit that cannot start at run time: up returns non-zero within the start timeout, nothing left", () => {
  // The unit's start timeout, plus what a loaded machine needs to start node and the master.
  const deadline = specDefaults.startTimeoutMs + specDefaults.startSettleMs + 20_000;

  const scenarios: { name: string; files: Record<string, string>; expect: RegExp }[] = [
    {
      name: "exit 127 (the command is not found by the shell)",
      files: { "hsu.yaml": 'units:\n  ok:\n    command: sleep\n    args: ["60"]\n  bad:\n    command: sh\n    args: ["-c", "no-such-command-hsu"]\n' },
      expect: /bad: cannot start: exit code 127 \(command not found\)/,
    },
    {
      name: "the executable is gone by the time the unit starts",
      files: {
        "hsu.yaml": [
          "units:",
          "  remover:",
          "    command: sh",
          '    args: ["-c", "rm ./server"]',
          "    restart: { policy: never }",
          "  server:",
          "    command: ./server",
          "    depends_on: { remover: completed }",
          "",
        ].join("\n"),
        server: "#!/bin/sh\nexec sleep 60\n",
      },
      expect: /server: cannot start: executable .*server.* does not exist/,
    },
  ];

  for (const s of scenarios) {
    for (const detach of [false, true]) {
      it(`${s.name} (${detach ? "up --detach" : "up"})`, { timeout: 2 * deadline + 10_000 }, async () => {
        const dir = mkdtempSync(join(root, "run-"));
        for (const [name, text] of Object.entries(s.files)) writeFileSync(join(dir, name), text);
        if (s.files.server) chmodSync(join(dir, "server"), 0o755);
        expect((await hsu(dir, deadline, "validate")).code).toBe(0);
        const r = await hsu(dir, deadline, ...(detach ? ["up", "--detach"] : ["up"]));
        if (detach) await hsu(dir, deadline, "down");
        expect(r.killed, "up did not return within the start timeout").toBe(false);
        expect(r.code).toBe(1);
        expect(r.stderr).toMatch(s.expect);
        expect(r.stderr).not.toMatch(stackTrace);
        expect(await noneLeft(dir)).toEqual([]);
        const state = readdirSync(join(dir, ".hsu"));
        expect(state).not.toContain("control.sock");
        expect(state).not.toContain("master.pid");
      });
    }
  }

  for (const detach of [false, true]) {
    it(`a master that cannot start (its TCP control port is taken) exits and leaves nothing (${detach ? "up --detach" : "up"})`, { timeout: deadline + 10_000 }, async () => {
      const dir = mkdtempSync(join(root, "port-"));
      const taken = createServer();
      await new Promise<void>((r) => taken.listen(0, "127.0.0.1", r));
      try {
        const port = (taken.address() as AddressInfo).port;
        writeFileSync(join(dir, "token"), "t0ken\n");
        writeFileSync(join(dir, "hsu.yaml"), `master:\n  control:\n    tcp: 127.0.0.1:${port}\n    token_file: ./token\nunits:\n  a:\n    command: sleep\n    args: ["60"]\n`);
        const r = await hsu(dir, deadline, ...(detach ? ["up", "--detach"] : ["up"]));
        expect(r.killed, "up did not return").toBe(false);
        expect(r.code).toBe(1);
        expect(r.stderr).toMatch(/EADDRINUSE/);
        expect(r.stderr).not.toMatch(stackTrace);
        expect(await noneLeft(dir)).toEqual([]);
        const state = readdirSync(join(dir, ".hsu"));
        expect(state).not.toContain("control.sock");
        expect(state).not.toContain("master.pid");
      } finally {
        await new Promise((r) => taken.close(r));
      }
    });
  }

  it("a health check that cannot be built (a spec that bypassed the loader) stops the master from starting, leaving nothing", { timeout: deadline }, async () => {
    const dir = mkdtempSync(join(root, "health-"));
    const good = parseDeployment('units:\n  api:\n    command: sleep\n    args: ["60"]\n    health_check: { type: process }\n', "hsu.yaml", dir);
    const api = good.units.api!;
    const broken: Deployment = { ...good, units: { api: { ...api, healthCheck: { type: "http", url: "not a url" } } } };
    mkdirSync(join(dir, ".hsu"), { recursive: true });
    await expect(runMaster(broken, { log: () => {}, handleSignals: false })).rejects.toThrow(/health_check\.url.*absolute http/);
    expect(readdirSync(join(dir, ".hsu"))).not.toContain("control.sock");
    expect(readdirSync(join(dir, ".hsu"))).not.toContain("master.pid");
    expect(processesOf(dir)).toEqual([]);
  });
});
