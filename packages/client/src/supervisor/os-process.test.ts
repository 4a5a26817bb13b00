import { readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import type { Readable } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { createSystemClock } from "../clock.ts";
import { listGroupMembers } from "./os-process-linux.ts";
import { createOsProcessApi, groupMembers, signalGroup, stopGroup, type GroupProcess } from "./os-process.ts";
import { fixture } from "./test-support/line-sink.ts";

const os = createOsProcessApi();
const clock = createSystemClock();
const started: GroupProcess[] = [];

async function spawnFixture(name: string, args: string[] = []): Promise<GroupProcess> {
  const p = await os.spawn({ command: fixture(name), args, env: { PATH: process.env.PATH ?? "" }, stdout: "capture", stderr: "inherit" });
  started.push(p);
  return p;
}

function firstLine(stream: Readable | null, match: RegExp): Promise<string> {
  const rl = createInterface({ input: stream! });
  return new Promise((resolve) => rl.on("line", (l) => match.test(l) && resolve(l)));
}

afterEach(async () => {
  // Kill by pgid directly: even if a test failed mid-way, nothing of ours may survive it.
  for (const p of started.splice(0)) {
    signalGroup(p.pgid, "SIGKILL");
    await p.exited;
  }
});

describe("os process layer (real processes)", () => {
  it("spawns the child as leader of a new process group", async () => {
    const p = await spawnFixture("sleeper.sh");
    await firstLine(p.stdout, /^ready/);
    expect(p.pgid).toBe(p.pid);
    expect(listGroupMembers(p.pgid).map((e) => e.pid)).toContain(p.pid);
    expect(listGroupMembers(process.pid).every((e) => e.pid !== p.pid)).toBe(true);
  });

  it("reports an exit code and a signal distinctly", async () => {
    const a = await spawnFixture("exit-with.sh", ["3"]);
    expect(await a.exited).toEqual({ code: 3, signal: null, survivors: [] });
    const b = await spawnFixture("sleeper.sh");
    await firstLine(b.stdout, /^ready/);
    process.kill(b.pid, "SIGKILL");
    expect(await b.exited).toEqual({ code: null, signal: "SIGKILL", survivors: [] });
  });

  it("stops a SIGTERM-handling process gracefully and reports its own exit code", async () => {
    const p = await spawnFixture("graceful.sh", ["7"]);
    const lines = createInterface({ input: p.stdout! });
    const seen: string[] = [];
    lines.on("line", (l) => seen.push(l));
    const closed = new Promise((r) => lines.once("close", r));
    await new Promise<void>((r) => lines.on("line", (l) => l.startsWith("ready") && r()));
    const exit = await stopGroup(p, { signal: "SIGTERM", gracefulTimeoutMs: 5000, clock });
    expect(exit).toEqual({ code: 7, signal: null, survivors: [] });
    await closed;
    expect(seen).toContain("got SIGTERM");
  });

  it("SIGKILLs a tree that ignores SIGTERM after the graceful timeout and leaves no live member", async () => {
    const p = await spawnFixture("stubborn-tree.sh");
    const ready = await firstLine(p.stdout, /^ready/);
    const children = ready.split("children=")[1]!.split(",").map(Number);
    expect(groupMembers(p.pgid)).toEqual(expect.arrayContaining([p.pid, ...children]));
    const t0 = Date.now();
    const exit = await stopGroup(p, { signal: "SIGTERM", gracefulTimeoutMs: 300, clock });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(290);
    expect(exit.signal).toBe("SIGKILL");
    expect(exit.survivors).toEqual([]);
    // Dead-but-unreaped zombies are all that may remain (this sandbox's init does not reap).
    const left = listGroupMembers(p.pgid);
    expect(left.filter((e) => e.state !== "Z" && e.state !== "X")).toEqual([]);
  });

  it("kills grandchildren left behind when the leader exits on its own", async () => {
    const p = await spawnFixture("stubborn-tree.sh");
    await firstLine(p.stdout, /^ready/);
    process.kill(p.pid, "SIGKILL"); // only the leader
    const exit = await p.exited;
    expect(exit).toMatchObject({ signal: "SIGKILL", survivors: [] });
    expect(groupMembers(p.pgid)).toEqual([]);
  });

  it("applies the nice value and honours ignored output", async () => {
    const p = await os.spawn({ command: fixture("sleeper.sh"), args: [], env: {}, stdout: "ignore", stderr: "ignore", nice: 7 });
    started.push(p);
    expect(p.stdout).toBeNull();
    expect(p.warnings).toEqual([]);
    const fields = readFileSync(`/proc/${p.pid}/stat`, "utf8").split(") ")[1]!.split(" ");
    expect(Number(fields[16])).toBe(7); // field 19 of stat: nice
  });

  it("rejects a spawn of a missing program with an HsuError", async () => {
    await expect(os.spawn({ command: "/no/such/program", args: [], env: {}, stdout: "ignore", stderr: "ignore" })).rejects.toMatchObject({
      name: "HsuError",
      code: "unavailable",
    });
  });
});
