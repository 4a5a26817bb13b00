import { readFileSync } from "node:fs";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseDeployment } from "../config/index.ts";
import { createMaster, type Master } from "./master.ts";
import type { MasterEvent } from "./slot.ts";

// A unit that holds 16 MiB at first, then grows by 16 MiB every 100 ms.
const hog = `const keep = []; keep.push(Buffer.alloc(16 << 20, 1)); console.log("hog up"); setInterval(() => keep.push(Buffer.alloc(16 << 20, 1)), 100);`;

let master: Master;
const events: MasterEvent[] = [];

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), "hsu-limits-"));
  const spec = `units:
  hog:
    command: ${process.execPath}
    args: ["-e", ${JSON.stringify(hog)}]
    limits: { memory: 96MiB, policy: restart, check_interval: 200ms }
    restart: { policy: on-failure, delay: 100ms, breaker: { window: 1m, max_restarts: 100 } }
  capped:
    command: sh
    args: ["-c", "exec sleep 600"]
    limits: { max_open_files: 256, max_processes: 64 }
`;
  master = await createMaster({ deployment: parseDeployment(spec, "hsu.yaml", dir), log: () => {} });
  master.onEvent((e) => events.push(e));
  await master.up();
});
afterAll(() => master.shutdown());

describe("limits through the master", () => {
  it("a unit that allocates past its memory limit is ended and restarted per its policy", async () => {
    const first = master.get("hog")[0]!.pid;
    const deadline = Date.now() + 20_000;
    while (master.get("hog")[0]!.restarts === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const view = master.get("hog")[0]!;
    expect(view.restarts).toBeGreaterThan(0);
    expect(view.lastExit).toMatch(/signal SIGKILL|signal SIGTERM|code/);
    const why = events.filter((e) => e.unit === "hog").map((e) => e.reason).join("\n");
    // Either the kernel (cgroup) killed it or the monitor reported the violation; both name memory.
    expect(why).toMatch(/memory|oom|SIGKILL/i);
    expect(view.pid === undefined || view.pid !== first).toBe(true);
  });

  it("open-file and process limits are in force inside the child", () => {
    const pid = master.get("capped")[0]!.pid!;
    const limits = readFileSync(`/proc/${pid}/limits`, "utf8");
    expect(limits).toMatch(/^Max open files\s+256\s+256\s+files/m);
    // As root RLIMIT_NPROC is not enforced by the kernel; the limit is set anyway, and a cgroup enforces it where available.
    expect(limits).toMatch(/^Max processes\s+64\s+64\s+processes/m);
  });
});
