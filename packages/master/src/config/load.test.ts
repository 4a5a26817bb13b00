import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { deploymentJsonSchema, loadDeployment, parseDeployment, SpecError } from "./index.ts";
import { committedCases, generatedCases } from "./testdata/generated.ts";

const data = join(import.meta.dirname, "testdata");
const tmp = mkdtempSync(join(tmpdir(), "hsu-load-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function specError(fn: () => unknown): SpecError {
  try {
    fn();
  } catch (e) {
    if (e instanceof SpecError) return e;
    throw e;
  }
  throw new Error("accepted");
}

async function loadError(bytes: Uint8Array): Promise<SpecError> {
  const dir = mkdtempSync(join(tmp, "case-"));
  writeFileSync(join(dir, "hsu.yaml"), bytes);
  try {
    await loadDeployment(join(dir, "hsu.yaml"));
  } catch (e) {
    if (e instanceof SpecError) return e;
    throw e;
  }
  throw new Error("accepted");
}

describe("loadDeployment of something that is not a file", () => {
  it("refuses a FIFO, a directory and a device at once, never waiting for a writer or reading forever", async () => {
    const dir = mkdtempSync(join(tmp, "special-"));
    const fifo = join(dir, "hsu.yaml");
    execFileSync("mkfifo", [fifo]);
    for (const path of [fifo, dir, "/dev/zero"]) {
      await expect(loadDeployment(path), path).rejects.toMatchObject({ code: "invalid_config", message: expect.stringContaining("is not a regular file") });
    }
  });
});

describe("parseDeployment", () => {
  it("reads a full spec with defaults, durations and sizes", () => {
    const d = parseDeployment(readFileSync(join(data, "valid.yaml"), "utf8"), "valid.yaml", "/srv/app", { environment: false });
    expect(Object.isFrozen(d) && Object.isFrozen(d.units.api!.restart)).toBe(true);
    const api = d.units.api!;
    expect(api.restart).toMatchObject({ policy: "always", delayMs: 500, backoffMultiplier: 2, breaker: { windowMs: 60_000, maxRestarts: 5 } });
    expect(api.limits).toMatchObject({ memory: 512 * 1024 * 1024, cpu: 0.5, maxOpenFiles: 1024 });
    expect(api.healthCheck).toMatchObject({ type: "http", interval: 10_000, failureThreshold: 3 });
    expect(api.dependsOn).toEqual([{ unit: "db", condition: "healthy" }]);
    expect(api.gracefulTimeoutMs).toBe(30_000);
    expect(api.cwd).toBe("/srv/app");
    expect(d.units.db!.locate).toEqual({ pidFile: "/srv/app/db.pid" });
    expect(d.units.workers!.dependsOn).toEqual([{ unit: "api", condition: "started" }]);
    expect(d.units.nightly!.schedule).toEqual({ cron: "0 0 3 * * *", timezone: "Europe/Berlin", overlap: "skip", history: 20 });
    expect(d.units.nightly!.restart.policy).toBe("never");
    expect(d.units.echo!.idleTimeoutMs).toBe(30_000);
    expect(d.master).toMatchObject({ id: "demo", stateDir: "/srv/app/.hsu", logs: { maxFileBytes: 1024 * 1024, maxFiles: 3 } });
  });

  it("uses the library's defaults for what hsu.yaml leaves out", async () => {
    const { specDefaults } = await import("@hsu/client");
    const d = parseDeployment("units:\n  a:\n    command: sleep\n", "hsu.yaml", tmp);
    expect(d.units.a!.restart).toMatchObject({ delayMs: specDefaults.restart.delayMs, maxDelayMs: specDefaults.restart.maxDelayMs, breaker: specDefaults.restart.breaker });
    expect(d.master.logs).toEqual(specDefaults.logs);
  });

  it("resolves anchors, aliases and merge keys", () => {
    const text = [
      "x-base: &base",
      "  command: sleep",
      "  args: &args [\"60\"]",
      "  restart: { policy: always }",
      "units:",
      "  a:",
      "    <<: *base",
      "  b:",
      "    <<: *base",
      "    args: *args",
      "    restart: { policy: never }",
      "",
    ].join("\n");
    const d = parseDeployment(text, "hsu.yaml", tmp);
    expect(d.units.a).toMatchObject({ command: "sleep", args: ["60"], restart: { policy: "always" } });
    expect(d.units.b).toMatchObject({ command: "sleep", args: ["60"], restart: { policy: "never" } });
  });

  it("reports every problem in one pass", () => {
    const text = "units:\n  a:\n    comand: x\n    graceful_timeout: soon\n  b:\n    command: y\n    depends_on: [zz]\n";
    const e = specError(() => parseDeployment(text));
    expect(e.issues.map((i) => `${i.line}:${i.path}`)).toEqual(["3:units.a.comand", "4:units.a.graceful_timeout"]);
  });

  it("checks upgrade: with its path and line: a bad health_timeout, an unknown key, and upgrade: on a unit without a source", () => {
    const pin = "a".repeat(64);
    const text = [
      "units:",
      "  a:",
      "    command: bin/a",
      `    source: { url: "https://example.com/a.tar.gz", sha256: "${pin}" }`,
      "    upgrade: { health_timeout: soon }",
      "  b:",
      "    command: sleep",
      "    upgrade: { health_timeout: 5s }",
      "  c:",
      "    command: bin/c",
      `    source: { url: "https://example.com/c.tar.gz", sha256: "${pin}" }`,
      "    upgrade: { health_timeout: 5s, windw: x }",
      "",
    ].join("\n");
    const e = specError(() => parseDeployment(text));
    expect(e.issues.map((i) => `${i.line}:${i.path}`)).toEqual(["5:units.a.upgrade.health_timeout", "8:units.b.upgrade", "12:units.c.upgrade.windw"]);
    expect(e.message).toContain("units.b.upgrade: upgrade: applies to a unit installed from an artifact");
    const ok = parseDeployment(text.replace("soon", "1m").replace(", windw: x", "").replace("    upgrade: { health_timeout: 5s }\n  c:", "  c:"));
    expect(ok.units.a!.upgrade.healthTimeoutMs).toBe(60_000);
    expect(ok.units.c!.upgrade.healthTimeoutMs).toBe(5_000);
  });

  it("lists at most 50 problems and says how many more", () => {
    const text = "units:\n  a:\n    command: sleep\n" + Array.from({ length: 80 }, (_, i) => `    bad_${i}: 1\n`).join("");
    const e = specError(() => parseDeployment(text));
    expect(e.issues).toHaveLength(80);
    expect(e.message).toContain("... and 30 more");
  });

  const cases = [...committedCases(), ...generatedCases()];
  it("has a corpus of at least 60 broken files", () => {
    expect(cases.length).toBeGreaterThanOrEqual(60);
  });

  it.each(cases.map((c) => [c.name, c] as const))("reports %s with its path, line and column", async (_, c) => {
    const error = await loadError(c.bytes);
    const hit = error.issues.find((i) => `${i.path}: ${i.message}`.includes(c.expect));
    expect(hit, `issues: ${JSON.stringify(error.issues.slice(0, 5))}`).toBeDefined();
    expect(hit!.line).toBe(c.line);
    expect(hit!.column).toBeGreaterThanOrEqual(1);
    expect(error.message).toContain(`hsu.yaml:${c.line}:${hit!.column}: `);
    expect(error.message).not.toMatch(/\n\s+at /);
  });
});

describe("deploymentJsonSchema", () => {
  it("matches the schema shipped with the package", async () => {
    await expect(JSON.stringify(deploymentJsonSchema(), null, 2) + "\n").toMatchFileSnapshot("../../schema/hsu.schema.json");
  });
});
