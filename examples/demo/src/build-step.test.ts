// The demo's build steps say what runs, how long it has been running, how
// long it took, and the end of its output when it fails; a step that hangs is
// stopped at its deadline. Real processes; time moves by a fake clock.
import { createFakeClock } from "@hsu/client";
import { tmpdir } from "node:os";
import { describe, expect, it } from "vitest";
import { runStep, type BuildStep } from "./build-step.ts";

const sh = (label: string, script: string): BuildStep => ({ label, command: ["sh", "-c", script], cwd: tmpdir(), where: "tmp" });

function recorder() {
  const lines: string[] = [];
  return { lines, write: (l: string) => void lines.push(l) };
}

describe("runStep", () => {
  it("says what runs and where, then how long it took; stderr is kept too", async () => {
    const out = recorder();
    const r = await runStep(sh("echo-go: build", "echo compiling >&2"), { write: out.write });
    expect(r).toMatchObject({ ok: true, tail: ["compiling"] });
    expect(out.lines[0]).toBe("demo: echo-go: build: sh -c echo compiling >&2 (in tmp)");
    expect(out.lines[1]).toMatch(/^demo: echo-go: build: done in \d+\.\d s$/);
    expect(out.lines).toHaveLength(2);
  });

  it("a failing step shows its exit and only the last lines of its output", async () => {
    const out = recorder();
    const r = await runStep(sh("echo-rust: build", 'for i in $(seq 1 200); do echo "line $i"; done; echo "error[E0428]: defined twice"; exit 101'), {
      write: out.write,
      tailLines: 5,
    });
    expect(r.ok).toBe(false);
    expect(r.why).toBe("exit 101");
    expect(r.tail).toEqual(["line 197", "line 198", "line 199", "line 200", "error[E0428]: defined twice"]);
    expect(out.lines[1]).toMatch(/^demo: echo-rust: build: FAILED \(exit 101\) after \d+\.\d s; the last 5 lines of its output:$/);
    expect(out.lines.slice(2)).toEqual(r.tail.map((l) => `  ${l}`));
  });

  it("a command that does not exist fails with the reason, not a throw", async () => {
    const out = recorder();
    const r = await runStep({ label: "x: build", command: ["hsu-no-such-tool-here"], cwd: tmpdir() }, { write: out.write });
    expect(r.ok).toBe(false);
    expect(r.why).toMatch(/^cannot run hsu-no-such-tool-here: .*ENOENT/);
  });

  it("a long step says it is still running, with its elapsed time and latest output, and is stopped at its deadline", async () => {
    const clock = createFakeClock(1_000_000);
    const out = recorder();
    const hour = 3_600_000;
    const pending = runStep(sh("echo-python: install", "echo resolving; exec sleep 600"), { clock, write: out.write, heartbeatMs: 15_000, timeoutMs: hour });
    expect(out.lines).toEqual(["demo: echo-python: install: sh -c echo resolving; exec sleep 600 (in tmp)"]);
    // Fake time moves a beat at a time until the real process's output has come through its pipe (bounded).
    for (const end = Date.now() + 10_000; !out.lines.at(-1)!.endsWith(": resolving"); ) {
      if (Date.now() > end) throw new Error(`no heartbeat showed the output within 10 s: ${out.lines.join(" | ")}`);
      clock.advance(15_000);
      await new Promise((r) => setTimeout(r, 10));
    }
    const beats = out.lines.slice(1);
    expect(beats[0]).toMatch(/^demo: echo-python: install: running, 15\.0 s(: resolving)?$/);
    expect(beats.every((l, i) => l.startsWith(`demo: echo-python: install: running, ${(15 * (i + 1)).toFixed(1)} s`))).toBe(true);
    clock.advance(1_000_000 + hour - clock.now());
    const r = await pending;
    expect(r.ok).toBe(false);
    expect(r.why).toBe("timed out after 3600.0 s, stopped");
    expect(out.lines.at(-2)).toBe("demo: echo-python: install: FAILED (timed out after 3600.0 s, stopped) after 3600.0 s; the last line of its output:");
    expect(out.lines.at(-1)).toBe("  resolving");
  });

  it("a tool that writes one endless line (\\r progress) stays bounded", async () => {
    const r = await runStep(sh("x: build", "head -c 1000000 /dev/zero | tr '\\0' 'x'; printf '\\rdone\\n'"), { write: () => {} });
    expect(r.ok).toBe(true);
    expect(r.tail.every((l) => l.length <= 403)).toBe(true);
    expect(r.tail.at(-1)).toBe("done");
  });
});
