import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { createFakeClock, createSystemClock } from "./clock.ts";

const clockFile = fileURLToPath(new URL("./clock.ts", import.meta.url));

/** Runs a fresh Node that sets one 30 ms timer on a system clock and reports whether it fired before the process ended. */
function runTimerInChild(unref: boolean): Promise<string> {
  const code = [
    `const { createSystemClock } = await import(${JSON.stringify(clockFile)});`,
    `createSystemClock({ unref: ${unref} }).setTimer(30, () => console.log("fired"));`,
  ].join("\n");
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ["--input-type=module", "-e", code], { timeout: 20_000 }, (err, stdout) =>
      err ? reject(err) : resolve(stdout.trim()),
    );
  });
}

describe("createSystemClock", () => {
  it("reads Date.now and fires a timer on real time", async () => {
    const clock = createSystemClock();
    const before = Date.now();
    expect(clock.now()).toBeGreaterThanOrEqual(before);
    const firedAt = await new Promise<number>((resolve) => clock.setTimer(5, () => resolve(clock.now())));
    expect(firedAt).toBeGreaterThanOrEqual(before);
  });

  it("never fires a cancelled timer", async () => {
    const clock = createSystemClock();
    let fired = false;
    clock.setTimer(1, () => (fired = true)).cancel();
    // A later timer firing proves the cancelled one had its chance.
    await new Promise<void>((resolve) => clock.setTimer(20, resolve));
    expect(fired).toBe(false);
  });

  it("rejects sleep with the abort reason", async () => {
    const clock = createSystemClock({ unref: true });
    const controller = new AbortController();
    const slept = clock.sleep(60_000, controller.signal);
    controller.abort(new Error("stop"));
    await expect(slept).rejects.toThrow("stop");
  });

  it("keeps the process alive for a pending timer by default", async () => {
    expect(await runTimerInChild(false)).toBe("fired");
  });

  it("lets the process end with a pending timer when unref is set", async () => {
    expect(await runTimerInChild(true)).toBe("");
  });
});

describe("createFakeClock", () => {
  it("starts where told and moves only on advance", () => {
    const clock = createFakeClock(1000);
    expect(clock.now()).toBe(1000);
    clock.advance(250);
    expect(clock.now()).toBe(1250);
  });

  it("fires due timers in due order, ties in creation order, at their due time", () => {
    const clock = createFakeClock();
    const fired: string[] = [];
    clock.setTimer(30, () => fired.push(`c@${clock.now()}`));
    clock.setTimer(10, () => fired.push(`a@${clock.now()}`));
    clock.setTimer(10, () => fired.push(`b@${clock.now()}`));
    clock.setTimer(31, () => fired.push("late"));
    clock.advance(30);
    expect(fired).toEqual(["a@10", "b@10", "c@30"]);
    expect(clock.pending()).toBe(1);
    expect(clock.now()).toBe(30);
  });

  it("fires a timer set by a firing timer when it falls due inside the window", () => {
    const clock = createFakeClock();
    const fired: number[] = [];
    clock.setTimer(10, () => {
      fired.push(clock.now());
      clock.setTimer(10, () => fired.push(clock.now()));
      clock.setTimer(100, () => fired.push(clock.now()));
    });
    clock.advance(50);
    expect(fired).toEqual([10, 20]);
    expect(clock.pending()).toBe(1);
  });

  it("treats a negative delay as zero and drops cancelled timers", () => {
    const clock = createFakeClock();
    let fired = 0;
    clock.setTimer(-5, () => fired++);
    const cancelled = clock.setTimer(1, () => fired++);
    cancelled.cancel();
    cancelled.cancel();
    expect(clock.pending()).toBe(1);
    clock.advance(0);
    expect(fired).toBe(1);
    clock.advance(10);
    expect(fired).toBe(1);
    expect(clock.pending()).toBe(0);
  });

  it("resolves sleep on advance and rejects it on abort, leaving no timer behind", async () => {
    const clock = createFakeClock();
    const slept = clock.sleep(100);
    clock.advance(99);
    expect(clock.pending()).toBe(1);
    clock.advance(1);
    await expect(slept).resolves.toBeUndefined();

    const controller = new AbortController();
    const aborted = clock.sleep(100, controller.signal);
    controller.abort(new Error("cancelled"));
    await expect(aborted).rejects.toThrow("cancelled");
    expect(clock.pending()).toBe(0);

    await expect(clock.sleep(1, controller.signal)).rejects.toThrow("cancelled");
    expect(clock.pending()).toBe(0);
  });
});
