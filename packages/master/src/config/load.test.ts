import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { deploymentJsonSchema, parseDeployment, SpecError } from "./index.ts";

const data = join(import.meta.dirname, "testdata");

describe("parseDeployment", () => {
  it("reads a full spec with defaults, durations and sizes", () => {
    const d = parseDeployment(readFileSync(join(data, "valid.yaml"), "utf8"), "valid.yaml", "/srv/app");
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

  const broken = readdirSync(join(data, "broken")).filter((f) => f.endsWith(".yaml"));
  it.each(broken)("reports %s with its path and line, without throwing anything else", (name) => {
    const text = readFileSync(join(data, "broken", name), "utf8");
    const m = /^# expect: (.*) @(\d+)$/m.exec(text)!;
    const [, want, line] = m;
    let error: unknown;
    try {
      parseDeployment(text, name);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(SpecError);
    const issues = (error as SpecError).issues;
    const hit = issues.find((i) => `${i.path}: ${i.message}`.includes(want!));
    expect(hit, `issues: ${JSON.stringify(issues)}`).toBeDefined();
    expect(hit!.line).toBe(Number(line));
    expect((error as SpecError).message).toContain(`${name}:${line}:`);
  });

  it("reports every problem in one pass", () => {
    const text = "units:\n  a:\n    comand: x\n    graceful_timeout: soon\n  b:\n    command: y\n    depends_on: [zz]\n";
    const e = (() => {
      try {
        parseDeployment(text);
      } catch (err) {
        return err as SpecError;
      }
    })()!;
    expect(e.issues.map((i) => `${i.line}:${i.path}`)).toEqual(["2:units.a.command", "3:units.a.comand", "4:units.a.graceful_timeout", "7:units.b.depends_on"]);
  });
});

describe("deploymentJsonSchema", () => {
  it("matches the schema shipped with the package", async () => {
    await expect(JSON.stringify(deploymentJsonSchema(), null, 2) + "\n").toMatchFileSnapshot("../../schema/hsu.schema.json");
  });
});
