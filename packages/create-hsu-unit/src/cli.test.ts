import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { makeTempDir } from "./test-support/temp.ts";

const cli = fileURLToPath(new URL("./cli.ts", import.meta.url));
const cleanups: (() => void)[] = [];
afterEach(() => cleanups.splice(0).forEach((c) => c()));

function run(args: string[], cwd: string) {
  return spawnSync(process.execPath, ["--conditions=@hsu/source", cli, ...args], { cwd, encoding: "utf8", stdio: "pipe" });
}

describe("create-hsu-unit CLI", () => {
  it("prints usage for --help", () => {
    const result = run(["--help"], process.cwd());
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/Usage:[\s\S]*--lang go\|python\|rust\|ts[\s\S]*regen/);
  });

  it("creates a project from flags without asking", () => {
    const t = makeTempDir("hsu-cli-");
    cleanups.push(t.cleanup);
    const result = run(["--lang", "ts", "--name", "orders", "--yes", "--no-generate"], t.dir);
    expect(result.stderr).toBe("");
    expect(result.status).toBe(0);
    expect(result.stdout).toContain("src/services/orders-service.ts");
    expect(existsSync(join(t.dir, "orders/src/main.ts"))).toBe(true);
  });

  it("exits 2 with a usage error for an unknown language or flag", () => {
    const bad = run(["--lang", "cobol", "--name", "x", "--yes"], process.cwd());
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/--lang cobol.*go, python, rust, ts/);
    const unknown = run(["--bogus"], process.cwd());
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toMatch(/--bogus/);
  });

  it("does not prompt without a terminal: asks for flags instead", () => {
    const result = run([], process.cwd());
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(/pass --name and --lang/);
  });

  it("exits 1 with buf's position for a bad proto", () => {
    const t = makeTempDir("hsu-cli-");
    cleanups.push(t.cleanup);
    const proto = join(t.dir, "bad.proto");
    spawnSync("bash", ["-c", `printf 'syntax = "proto3";\\nservice S {\\n' > ${proto}`]);
    const result = run(["--lang", "ts", "--name", "bad", "--proto", "bad.proto", "--yes", "--no-generate"], t.dir);
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/bad\.proto:\d+:\d+/);
  });
});
