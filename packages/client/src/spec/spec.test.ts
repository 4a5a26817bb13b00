import { describe, expect, it } from "vitest";
import {
  checkCronSchedule,
  checkDependencies,
  checkHealthCheckSpec,
  checkManagedUnitSpec,
  checkResourceLimits,
  checkUnmanagedSpec,
  IssueList,
  checkEnv,
  specDefaults,
} from "./index.ts";
import { defaultRestart } from "../supervisor/spec.ts";
import { healthCheckDefaults } from "../health/spec.ts";

describe("one set of defaults", () => {
  it("is what every validator applies", () => {
    expect(defaultRestart).toBe(specDefaults.restart);
    expect(healthCheckDefaults).toBe(specDefaults.health);
    const unit = checkManagedUnitSpec({ id: "a", executable: "sh" }).value!;
    expect(unit.restart).toEqual(specDefaults.restart);
    expect(unit.gracefulTimeoutMs).toBe(specDefaults.gracefulTimeoutMs);
    expect(checkResourceLimits({}).value).toMatchObject(specDefaults.limits);
    expect(checkUnmanagedSpec({ id: "a", pid: 1 }).value).toMatchObject({ gracefulTimeoutMs: specDefaults.gracefulTimeoutMs, pollIntervalMs: specDefaults.unmanagedPollIntervalMs });
  });
});

describe("checks return every issue with its field", () => {
  it("managed unit: environment-dependent checks and env names", () => {
    const { value, issues } = checkManagedUnitSpec({
      id: "a",
      executable: "no-such-program-hsu",
      cwd: "/no/such/dir",
      env: { "A=B": "x", "": "y", C: "n\0ul" },
      restart: { delayMs: 120_000 },
    });
    expect(value).toBeUndefined();
    expect(issues.map((i) => i.field).sort()).toEqual(["cwd", "env", "env.A=B", "env.C", "executable", "restart.delayMs"].sort());
  });

  it("health check: every problem at once", () => {
    const { issues } = checkHealthCheckSpec({ type: "http", url: "nope", intervalMs: 0, bogus: 1 }, "h");
    expect(issues.map((i) => i.field).sort()).toEqual(["h.bogus", "h.intervalMs", "h.url"]);
  });

  it("limits: every problem at once", () => {
    const { issues } = checkResourceLimits({ memoryBytes: 0, cpuCores: -1, policy: "x" }, "l");
    expect(issues.map((i) => i.field).sort()).toEqual(["l.cpuCores", "l.memoryBytes", "l.policy"]);
  });

  it("cron: parsed by the scheduler's library, with its time zone", () => {
    expect(checkCronSchedule("0 0 3 * * *", "Europe/Berlin").issues).toEqual([]);
    expect(checkCronSchedule("a b c d e f").issues[0]!.field).toBe("schedule.cron");
    expect(checkCronSchedule("99 99 99 99 99 99").issues[0]!.message).toMatch(/second/);
    expect(checkCronSchedule("0 0 3 * * *", "Mars/Olympus").issues[0]!.field).toBe("schedule.timezone");
    expect(checkCronSchedule("0 0 0 31 2 *").issues[0]!.message).toMatch(/never runs/);
  });

  it("env: names without = or NUL, non-empty", () => {
    const list = new IssueList("env");
    checkEnv({ ok: "1", "": "x", "a=b": "y" }, list, "");
    expect(list.issues).toHaveLength(2);
  });
});

describe("checkDependencies", () => {
  const node = (id: string, deps: string[] = [], canBeHealthy = false, condition: "started" | "healthy" = "started") => ({
    id,
    dependsOn: deps.map((unit) => ({ unit, condition })),
    canBeHealthy,
  });

  it("finds missing (with a suggestion), self and healthy-without-check", () => {
    const issues = checkDependencies([node("api", ["dbx", "api"]), node("db"), node("web", ["db"], false, "healthy")]);
    expect(issues.map((i) => `${i.field}: ${i.message}`)).toEqual([
      'api.depends_on: depends on "dbx", which is not a unit in this file (did you mean "db"?)',
      'api.depends_on: "api" cannot depend on itself',
      'web.depends_on: waits for "db" to be healthy, but "db" has no health_check: give it one, or depend on it being "started"',
    ]);
  });

  it("finds a cycle, and a chain of 100,000 does not overflow the stack", () => {
    expect(checkDependencies([node("a", ["b"]), node("b", ["c"]), node("c", ["a"])])[0]!.message).toBe("dependency cycle: a -> b -> c -> a");
    const chain = Array.from({ length: 100_000 }, (_, i) => node(`u${i}`, i ? [`u${i - 1}`] : []));
    expect(checkDependencies(chain)).toEqual([]);
  });
});
