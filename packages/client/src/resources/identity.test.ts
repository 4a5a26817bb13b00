import { spawn } from "node:child_process";
import { describe, expect, it } from "vitest";
import { currentBootId, identify, isSameProcess } from "./identity.ts";

describe("process identity", () => {
  it("names a live process by pid, start time and boot; pid reuse, another boot and exit all fail the check", async () => {
    const child = spawn("sleep", ["30"], { stdio: "ignore" });
    await new Promise((r) => child.once("spawn", r));
    const id = identify(child.pid!)!;
    expect(id.bootId).toMatch(/^[0-9a-f-]{36}$/);
    expect(id.bootId).toBe(currentBootId());
    expect(isSameProcess(id)).toBe(true);
    // A record written before boot ids were kept still matches by pid and start time.
    expect(isSameProcess({ pid: id.pid, startTime: id.startTime })).toBe(true);
    expect(isSameProcess({ ...id, startTime: id.startTime + 1 })).toBe(false);
    expect(isSameProcess({ ...id, bootId: "00000000-0000-4000-8000-000000000000" })).toBe(false);
    expect(isSameProcess({ ...id, pid: 0 })).toBe(false);
    const gone = new Promise((r) => child.once("exit", r));
    child.kill("SIGKILL");
    await gone;
    expect(isSameProcess(id)).toBe(false);
    expect(identify(child.pid!)).toBeUndefined();
  });
});
