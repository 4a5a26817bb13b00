import { spawnSync } from "node:child_process";
import { lstatSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createRegistrar, type Registrar } from "./registrar.ts";
import { launchUnit } from "./launch.ts";
import { EchoService } from "../../../../examples/echo/src/gen/hsu/examples/echo/v1/echo_pb.js";

const unitScript = join(import.meta.dirname, "..", "..", "..", "..", "examples", "echo", "src", "unit.ts");
let registrar: Registrar;
beforeAll(async () => {
  registrar = await createRegistrar();
});
afterAll(() => registrar.close());

/** Starts the echo unit through a shell that first writes its environment to a file. */
async function envOf(inheritEnv: boolean): Promise<string> {
  const file = join(mkdtempSync(join(tmpdir(), "hsu-env-")), "env");
  process.env.HSU_TEST_MASTER_ONLY = "from-the-master";
  const unit = await launchUnit({
    id: `env-${inheritEnv}`,
    command: "/bin/sh",
    args: ["-c", `env > ${file}; exec "${process.execPath}" --conditions=@hsu/source "${unitScript}"`],
    env: { OWN: "mine", PATH: process.env.PATH! },
    inheritEnv,
    registrar,
    stdio: "ignore",
  });
  await unit.stop(2000);
  delete process.env.HSU_TEST_MASTER_ONLY;
  return readFileSync(file, "utf8");
}

describe("launchUnit environment", () => {
  it("merges the unit's env over the master's by default", async () => {
    const env = await envOf(true);
    expect(env).toContain("HSU_TEST_MASTER_ONLY=from-the-master");
    expect(env).toContain("OWN=mine");
    expect(env).toMatch(/^HSU_TOKEN=/m);
  });
  it("gives only the unit's env and the contract's variables when it does not inherit", async () => {
    const env = await envOf(false);
    expect(env).not.toContain("HSU_TEST_MASTER_ONLY");
    expect(env).toContain("OWN=mine");
    expect(env).toMatch(/^HSU_UNIT_ID=env-false$/m);
  });
});

describe("launchUnit connection to the unit", () => {
  // The master connects as soon as the unit's socket appears; a stale socket
  // the unit replaces first must not leave it with a dead connection.
  it("answers the first call when a killed run left a stale socket at the unit's path", async () => {
    const dir = mkdtempSync(join(tmpdir(), "hsu-stale-"));
    try {
      const path = join(dir, "stale.sock");
      const killed = spawnSync(process.execPath, ["-e", `require("net").createServer().listen(${JSON.stringify(path)}, () => process.kill(process.pid, "SIGKILL"))`], {
        timeout: 10_000,
      });
      expect(killed.signal).toBe("SIGKILL");
      expect(lstatSync(path).isSocket()).toBe(true);
      const unit = await launchUnit({
        id: "stale",
        command: process.execPath,
        args: ["--conditions=@hsu/source", unitScript],
        socketDir: dir,
        registrar,
        stdio: "ignore",
      });
      try {
        expect(unit.info.address).toBe(`unix:${path}`);
        const reply = await unit.client.client(EchoService).echo({ message: "first" });
        expect(reply.message).toBe("first");
      } finally {
        await unit.stop(2000);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("answers calls on a unit started in a directory other files come and go in", async () => {
    const dir = mkdtempSync(join(tmpdir(), "hsu-busy-dir-"));
    try {
      const unit = await launchUnit({
        id: "busy",
        command: "/bin/sh",
        args: ["-c", `for i in 1 2 3 4 5; do : > "${dir}/noise-$i"; done; exec "${process.execPath}" --conditions=@hsu/source "${unitScript}"`],
        socketDir: dir,
        registrar,
        stdio: "ignore",
      });
      try {
        expect((await unit.client.client(EchoService).echo({ message: "x" })).message).toBe("x");
      } finally {
        await unit.stop(2000);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
