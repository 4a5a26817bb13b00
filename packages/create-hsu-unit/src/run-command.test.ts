// A template command's failure says what failed, its output tail and a
// recovery; a step past its deadline is stopped, not waited for.
import { describe, expect, it } from "vitest";
import { GeneratorError } from "./errors.ts";
import type { ProgressClock, ProgressSink } from "./progress.ts";
import { runCommand } from "./run-command.ts";

function captureSink(isTTY = false): ProgressSink & { text: () => string } {
  let out = "";
  return { isTTY, write: (t) => void (out += t), text: () => out };
}

/** A clock whose ticks fire only when the test says so. */
function manualClock(): ProgressClock & { fire: (ms: number) => void } {
  const ticks = new Map<number, (() => void)[]>();
  return {
    now: () => 0,
    every(ms, tick) {
      ticks.set(ms, [...(ticks.get(ms) ?? []), tick]);
      return () => ticks.set(ms, (ticks.get(ms) ?? []).filter((t) => t !== tick));
    },
    fire: (ms) => (ticks.get(ms) ?? []).forEach((t) => t()),
  };
}

async function failure(promise: Promise<void>): Promise<GeneratorError> {
  try {
    await promise;
  } catch (error) {
    if (GeneratorError.is(error)) return error;
    throw error;
  }
  throw new Error("the command succeeded");
}

describe("runCommand", () => {
  it("announces the step and reports it done", async () => {
    const sink = captureSink();
    await runCommand(["node", "-e", "console.log('hi')"], { cwd: process.cwd(), step: "generate", stdio: "pipe", recovery: "retry", sink });
    expect(sink.text()).toMatch(/^generate: node -e console\.log\('hi'\)\n  generate done in \S+\n$/);
  });

  it("fails with the last 30 lines of output and the recovery", async () => {
    const sink = captureSink();
    const script = "for (let i = 1; i <= 40; i++) console.error('line ' + i); process.exit(3)";
    const error = await failure(runCommand(["node", "-e", script], { cwd: process.cwd(), step: "install", stdio: "pipe", recovery: "Run regen.", sink }));
    expect(error.code).toBe("command_failed");
    expect(error.message).toMatch(/^install: `node -e .*` exited with code 3 after/);
    expect(error.message).toContain("line 11\n");
    expect(error.message).not.toContain("line 10\n");
    expect(error.message).toMatch(/line 40\n---\nRun regen\.$/);
    expect(sink.text()).toMatch(/install failed after/);
  });

  it("names the SDK recovery when npm could not get @hsu/*", async () => {
    const script = "console.error('npm error 404 Not Found - GET https://registry.npmjs.org/@hsu%2fserver - Not found'); process.exit(1)";
    const error = await failure(
      runCommand(["node", "-e", script], { cwd: process.cwd(), step: "install", stdio: "pipe", recovery: "Run regen.", onMissingSdk: "Use --sdk bundled.", sink: captureSink() }),
    );
    expect(error.message).toMatch(/npm could not get @hsu\/server from the registry it uses.*\nUse --sdk bundled\.$/);
    expect(error.message).not.toContain("Run regen.");
  });

  it("stops a step that passes its deadline, with its process group", async () => {
    const clock = manualClock();
    const sink = captureSink();
    // The grandchild holds the pipes; the step must still end once the deadline fires.
    const script = "require('child_process').spawn('sleep', ['600'], { stdio: 'inherit' }); console.log('started')";
    const running = runCommand(["node", "-e", `${script}; setInterval(() => {}, 1000)`], {
      cwd: process.cwd(),
      step: "build",
      stdio: "inherit",
      recovery: "Retry.",
      deadlineMs: 60_000,
      sink,
      clock,
    });
    await expect.poll(() => sink.text(), { timeout: 10_000 }).toContain("started");
    clock.fire(60_000);
    const error = await failure(running);
    expect(error.message).toMatch(/did not finish within its deadline of 1m00s/);
  });

  it("beats while a long step runs without a terminal", async () => {
    const clock = manualClock();
    const sink = captureSink();
    const running = runCommand(["node", "-e", "process.stdin.resume(); setTimeout(() => {}, 100)"], { cwd: process.cwd(), step: "install", stdio: "pipe", recovery: "r", sink, clock });
    clock.fire(30_000);
    await running;
    expect(sink.text()).toMatch(/install still running/);
  });
});
