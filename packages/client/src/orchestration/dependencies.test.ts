import { spawn } from "node:child_process";
import { describe, expect, it } from "vitest";
import { HsuError } from "../errors.ts";
import { buildDependencyGraph, startInOrder, stopInReverse, type GraphUnit } from "./dependencies.ts";

const u = (id: string, ...deps: string[]): GraphUnit => ({ id, dependsOn: deps.map((d) => ({ unit: d, condition: "started" as const })) });

describe("buildDependencyGraph", () => {
  it("orders units in waves", () => {
    const g = buildDependencyGraph([u("api", "db", "cache"), u("db"), u("cache"), u("web", "api")]);
    expect(g.waves).toEqual([["cache", "db"], ["api"], ["web"]]);
  });
  it("rejects a cycle, naming it, and a missing unit, before anything starts", () => {
    let err: unknown;
    try {
      buildDependencyGraph([u("a", "b"), u("b", "c"), u("c", "a"), u("d", "ghost")]);
    } catch (e) {
      err = e;
    }
    expect(HsuError.is(err, "invalid_config")).toBe(true);
    expect((err as Error).message).toContain('unit "d" depends on "ghost", which does not exist');
    expect((err as Error).message).toContain("dependency cycle: a -> b -> c -> a");
  });
});

describe("startInOrder / stopInReverse with real processes", () => {
  it("starts dependencies first, independent units in parallel, and stops in reverse", async () => {
    const graph = buildDependencyGraph([u("db"), u("cache"), u("api", "db", "cache"), u("web", "api")]);
    const log: string[] = [];
    const procs = new Map<string, ReturnType<typeof spawn>>();
    let inFlight = 0;
    let maxInFlight = 0;
    await startInOrder(graph, {
      async start(id) {
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        const child = spawn("sh", ["-c", "echo up; exec sleep 30"], { stdio: ["ignore", "pipe", "ignore"] });
        procs.set(id, child);
        // "started" means the process runs and said so.
        await new Promise((r) => child.stdout!.once("data", r));
        log.push(`start ${id}`);
        inFlight--;
      },
      reached: async () => {},
      async stop() {},
    });
    expect(log.indexOf("start db")).toBeLessThan(log.indexOf("start api"));
    expect(log.indexOf("start cache")).toBeLessThan(log.indexOf("start api"));
    expect(log.indexOf("start api")).toBeLessThan(log.indexOf("start web"));
    expect(maxInFlight).toBe(2); // db and cache together
    await stopInReverse(graph, {
      async stop(id) {
        const child = procs.get(id)!;
        const exited = new Promise((r) => child.once("exit", r));
        child.kill("SIGTERM");
        await exited;
        log.push(`stop ${id}`);
      },
    });
    const stops = log.filter((l) => l.startsWith("stop"));
    expect(stops.indexOf("stop web")).toBeLessThan(stops.indexOf("stop api"));
    expect(stops.indexOf("stop api")).toBeLessThan(stops.indexOf("stop db"));
    expect(stops.indexOf("stop api")).toBeLessThan(stops.indexOf("stop cache"));
  });

  it("does not start a unit whose dependency failed its condition", async () => {
    const graph = buildDependencyGraph([u("db"), { id: "api", dependsOn: [{ unit: "db", condition: "healthy" }] }]);
    const started: string[] = [];
    await expect(
      startInOrder(graph, {
        start: async (id) => void started.push(id),
        reached: async (id) => {
          throw new HsuError("unavailable", `${id} never became healthy`);
        },
        stop: async () => {},
      }),
    ).rejects.toThrow(/unit "api": not started: dependency "db" did not become healthy/);
    expect(started).toEqual(["db"]);
  });
});
