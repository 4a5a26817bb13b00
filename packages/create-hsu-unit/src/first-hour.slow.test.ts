// A new user's first hour, outside this repository: every package packed
// with its real prepack, a registry that cannot serve @hsu/* (the scope
// points at a registry that has nothing, so this holds after they are
// published too), and `npx create-hsu-unit` from the packed tarball for
// each language. Each unit is built with the commands the tool printed,
// serves gRPC health on its socket and stops on SIGTERM; the TypeScript
// project installs and builds again after being copied elsewhere.
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { healthCheck, printedSteps, repoRoot, run, startEmptyScopeRegistry, startUnit, stopUnit, waitForSocket } from "./test-support/first-hour.ts";
import { listTree, makeTempDir } from "./test-support/temp.ts";
import { seedCargoTarget } from "@hsu/conformance";
import { packAll } from "../../../scripts/pack-packages.ts";

const minutes = (n: number) => n * 60_000;
// Compiled Rust dependencies, shared across runs (the project's own crates
// still build each time); a cold one starts as a copy of the Rust echo
// conformance unit's, so CI compiles tonic once for every suite.
const rustTargetCache = join(repoRoot, ".cache", "first-hour", "rust-target");

describe("first hour: npx create-hsu-unit from the packed tarball, @hsu/* not on the registry", () => {
  const temp = makeTempDir("hsu-first-hour-");
  let tool = "";
  let registry: Awaited<ReturnType<typeof startEmptyScopeRegistry>>;
  let env: Record<string, string>;
  const started = performance.now();

  beforeAll(async () => {
    registry = await startEmptyScopeRegistry();
    env = { "npm_config_@hsu:registry": registry.url, npm_config_update_notifier: "false" };
    const packs = join(temp.dir, "packs");
    mkdirSync(packs);
    tool = (await packAll(packs)).find((p) => p.name === "create-hsu-unit")!.tarball;
    mkdirSync(join(temp.dir, "work"));
  }, minutes(15));

  afterAll(async () => {
    await registry?.close();
    temp.cleanup();
    console.log(`first-hour suite took ${((performance.now() - started) / 1000).toFixed(0)}s`);
  });

  it("the @hsu scope is unresolvable from the user's npm", async () => {
    await expect(run(["npm", "view", "@hsu/server", "version"], { cwd: temp.dir, env, deadlineMs: minutes(1) })).rejects.toThrow(/E404|404/);
  });

  it.each(["ts", "go", "python", "rust"])(
    "%s: creates, builds with the printed commands, serves health and stops",
    async (lang) => {
      const work = join(temp.dir, "work");
      const name = `first-${lang}`;
      if (lang === "rust") {
        await seedCargoTarget(rustTargetCache, minutes(30));
        mkdirSync(rustTargetCache, { recursive: true });
        mkdirSync(join(work, name));
        symlinkSync(rustTargetCache, join(work, name, "target"));
      }
      const t0 = performance.now();
      const created = await run(["npx", "--yes", "--package", tool, "--", "create-hsu-unit", "--lang", lang, "--name", name, "--yes"], {
        cwd: work,
        env,
        deadlineMs: minutes(20),
      });
      if (lang === "ts") expect(created.output).toMatch(/@hsu\/\w+@\S+ is not on .*using the SDK bundled in create-hsu-unit/);
      expect(created.output).toMatch(/generate: .*\n[\s\S]*generate done in/);
      const steps = printedSteps(created.output);
      const dir = join(work, steps.dir);
      const runLine = steps.commands.at(-1)!;
      for (const command of steps.commands.slice(0, -1)) {
        await run(["bash", "-c", command], { cwd: dir, env, deadlineMs: minutes(20) });
      }
      const socket = join(temp.dir, `${lang}.sock`);
      const unit = startUnit(runLine, dir, socket);
      let health: string;
      try {
        await waitForSocket(unit, socket, minutes(1));
        health = await healthCheck(socket, 10_000);
      } finally {
        const stopped = await stopUnit(unit, 30_000);
        expect({ code: stopped.code, signal: stopped.signal }, stopped.output).toEqual({ code: 0, signal: null });
      }
      expect(health).toBe("SERVING");
      console.log(`${lang}: create + build + serve took ${((performance.now() - t0) / 1000).toFixed(0)}s`);

      // The project's files, not what its build wrote (a Go binary records where it was built).
      const buildOutput = /^(target|bin|build|dist|node_modules|\.venv)\/|__pycache__\/|\.tgz$/;
      for (const file of listTree(dir).filter((f) => !buildOutput.test(f))) {
        const text = readFileSync(join(dir, file));
        expect(text.includes(temp.dir), `${file} names the directory it was made in`).toBe(false);
      }
      if (lang !== "ts") return;
      const copy = join(temp.dir, "elsewhere", name);
      cpSync(dir, copy, { recursive: true });
      rmSync(join(copy, "node_modules"), { recursive: true, force: true });
      rmSync(join(copy, "dist"), { recursive: true, force: true });
      await run(["npm", "install", "--no-audit", "--no-fund", "--loglevel=error"], { cwd: copy, env, deadlineMs: minutes(10) });
      await run(["npm", "run", "build"], { cwd: copy, env, deadlineMs: minutes(5) });
      expect(existsSync(join(copy, "dist/src/main.js"))).toBe(true);
      expect(existsSync(join(copy, "node_modules/@hsu/transport/package.json"))).toBe(true);

      // An older vendored SDK (as made by an older create-hsu-unit) is refreshed by regen from the tool's bundle.
      const vendor = join(copy, "vendor/hsu");
      for (const file of readdirSync(vendor)) renameSync(join(vendor, file), join(vendor, file.replace(/-\d+\.\d+\.\d+\.tgz$/, "-0.0.1.tgz")));
      for (const file of ["package.json", "hsu-unit.json"]) {
        writeFileSync(join(copy, file), readFileSync(join(copy, file), "utf8").replace(/(vendor\/hsu\/hsu-[a-z]+)-\d+\.\d+\.\d+\.tgz/g, "$1-0.0.1.tgz"));
      }
      const regen = await run(["npx", "--yes", "--package", tool, "--", "create-hsu-unit", "regen", "--no-generate"], { cwd: copy, env, deadlineMs: minutes(5) });
      expect(regen.output).toMatch(/Refreshing vendor\/hsu\/ .*0\.0\.1 -> /);
      expect(readdirSync(vendor).some((f) => f.includes("0.0.1"))).toBe(false);
      expect(readFileSync(join(copy, "package.json"), "utf8")).not.toContain("0.0.1");
    },
    minutes(30),
  );

  it("ts with --sdk registry: the E404 names what failed, its output and a recovery that works", async () => {
    const work = join(temp.dir, "registry");
    mkdirSync(work);
    const argv = ["npx", "--yes", "--package", tool, "--", "create-hsu-unit", "--lang", "ts", "--name", "from-registry", "--yes"];
    const failed = await run([...argv, "--sdk", "registry"], { cwd: work, env, deadlineMs: minutes(10) }).then(
      () => undefined,
      (error: Error) => error.message,
    );
    expect(failed).toMatch(/install: `npm install[^`]*` exited with code 1/);
    expect(failed).toMatch(/--- last 30 lines of its output ---\n[\s\S]*404[\s\S]*\n---\n/);
    expect(failed).toMatch(/npm could not get @hsu\/\w+ from the registry it uses[\s\S]*Run the same create-hsu-unit command again with --sdk bundled --force/);
    const recovered = await run([...argv, "--sdk", "bundled", "--force"], { cwd: work, env, deadlineMs: minutes(10) });
    expect(recovered.output).toMatch(/Created from-registry \(ts\)/);
    await run(["npm", "run", "build"], { cwd: join(work, "from-registry"), env, deadlineMs: minutes(5) });
  }, minutes(20));
});
