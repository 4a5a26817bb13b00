import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { openUnitRecord, processStartTime } from "./unit-record.ts";

const dir = mkdtempSync(join(tmpdir(), "hsu-record-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("an integrated unit's record", () => {
  it("keeps one token across opens, in a file only the owner can read", () => {
    const file = join(dir, "a", "u.json");
    const first = openUnitRecord(file);
    expect(first.token.length).toBeGreaterThanOrEqual(16);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(openUnitRecord(file).token).toBe(first.token);
  });

  it("a torn or hostile file gives a fresh token, never a crash", () => {
    const file = join(dir, "torn.json");
    writeFileSync(file, '{"token": "short"');
    const r = openUnitRecord(file);
    expect(r.token).not.toBe("short");
    writeFileSync(file, JSON.stringify({ token: 42 }));
    expect(typeof openUnitRecord(file).token).toBe("string");
  });

  it("re-attaches only to the very process that registered: same pid and start time, still alive", async () => {
    const file = join(dir, "live.json");
    const child = spawn("sleep", ["30"], { stdio: "ignore" });
    await new Promise((r) => child.once("spawn", r));
    const r = openUnitRecord(file);
    r.attach({ pid: child.pid!, startTime: processStartTime(child.pid!), address: "unix:/x.sock" });
    expect(openUnitRecord(file).live()).toMatchObject({ pid: child.pid, address: "unix:/x.sock" });
    // The same pid with another start time is another process (pid reuse).
    r.attach({ pid: child.pid!, startTime: processStartTime(child.pid!) - 1, address: "unix:/x.sock" });
    expect(openUnitRecord(file).live()).toBeUndefined();
    // Same pid and start time, recorded in another boot: after a reboot it is another process.
    r.attach({ pid: child.pid!, startTime: processStartTime(child.pid!), bootId: "00000000-0000-4000-8000-000000000000", address: "unix:/x.sock" });
    expect(openUnitRecord(file).live()).toBeUndefined();
    r.attach({ pid: child.pid!, startTime: processStartTime(child.pid!), address: "unix:/x.sock" });
    const gone = new Promise((res) => child.once("exit", res));
    child.kill("SIGKILL");
    await gone;
    expect(openUnitRecord(file).live()).toBeUndefined();
  });
});
