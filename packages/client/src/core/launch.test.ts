import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createRegistrar, type Registrar } from "./registrar.ts";
import { launchUnit } from "./launch.ts";

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
