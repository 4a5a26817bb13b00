// Runs every suite of the project - contract checks, TypeScript type checks,
// vitest (fast and slow: conformance builds Go, Python and Rust units), and
// each language example's own tests - and ends with one line
// "N passed, N failed" over all of them. Exits non-zero on any failure.
import { spawnSync, type SpawnSyncOptions } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";

const root = join(import.meta.dirname, "..");
const only = process.argv.slice(2);
const fastOnly = process.env.HSU_TEST_FAST === "1";
let passed = 0;
let failed = 0;
const failures: string[] = [];

function run(cmd: string, args: string[], opts: SpawnSyncOptions = {}): { ok: boolean; out: string } {
  const r = spawnSync(cmd, args, { cwd: root, encoding: "utf8", maxBuffer: 512 * 1024 * 1024, ...opts });
  const out = `${r.stdout ?? ""}${r.stderr ?? ""}`;
  return { ok: r.status === 0, out };
}

function record(suite: string, name: string, ok: boolean, detail = ""): void {
  if (ok) passed++;
  else {
    failed++;
    failures.push(`${suite}: ${name}${detail ? `\n${detail.trim().split("\n").slice(-30).join("\n")}` : ""}`);
  }
  console.log(`${ok ? "ok  " : "FAIL"} ${suite}: ${name}`);
}

function suite(name: string, body: () => void): void {
  if (only.length && !only.includes(name)) return;
  console.log(`\n=== ${name}`);
  const started = Date.now();
  body();
  console.log(`=== ${name} took ${Math.round((Date.now() - started) / 1000)} s`);
}

suite("contracts", () => {
  const lint = run("buf", ["lint"]);
  record("contracts", "buf lint", lint.ok, lint.out);
  const fmt = run("buf", ["format", "--diff", "--exit-code"]);
  record("contracts", "buf format", fmt.ok, fmt.out);
  const breaking = run("buf", ["breaking", "proto", "--against", "proto/baseline.binpb"]);
  record("contracts", "buf breaking against proto/baseline.binpb", breaking.ok, breaking.out);
  const gen = run("pnpm", ["-r", "--if-present", "run", "generate"]);
  // Every generated folder in the tree, committed and checked: packages, examples, conformance.
  const dirty = run("git", ["status", "--porcelain", "--", ":(glob)**/gen/**"]);
  const stale = dirty.out.trim();
  record(
    "contracts",
    "generated code is up to date",
    gen.ok && dirty.ok && stale === "",
    gen.ok ? `regenerating changed these files; run \`pnpm generate\` and commit:\n${stale}` : gen.out,
  );
});

suite("typecheck", () => {
  const r = run("pnpm", ["-r", "--if-present", "run", "typecheck"]);
  record("typecheck", "tsc --noEmit in every package", r.ok, r.out);
});

suite("packages", () => {
  // What users install: every public package builds, and its packed form passes publint.
  const build = run("pnpm", ["turbo", "run", "build", "--filter=./packages/*", "--output-logs=errors-only"]);
  record("packages", "turbo build of every package", build.ok, build.out);
  for (const dir of readdirSync(join(root, "packages"))) {
    const pkg = JSON.parse(readFileSync(join(root, "packages", dir, "package.json"), "utf8")) as { name: string; private?: boolean };
    if (pkg.private) continue;
    const lint = run("npx", ["publint", "--strict"], { cwd: join(root, "packages", dir) });
    record("packages", `publint ${pkg.name}`, lint.ok && !/Errors:/.test(lint.out), lint.out);
  }
});

suite("vitest", () => {
  mkdirSync(join(root, ".cache"), { recursive: true });
  const report = join(root, ".cache", "vitest-report.json");
  const args = ["vitest", "run", "--reporter=default", "--reporter=json", `--outputFile.json=${report}`];
  if (fastOnly) args.push("--project", "fast");
  const r = spawnSync("npx", args, { cwd: root, stdio: "inherit" });
  if (!existsSync(report)) {
    record("vitest", "vitest produced a report", false, `exit ${r.status}`);
    return;
  }
  const json = JSON.parse(readFileSync(report, "utf8")) as {
    numPassedTests: number;
    numFailedTests: number;
    testResults: { name: string; status: string; message: string; assertionResults: { fullName: string; status: string }[] }[];
  };
  passed += json.numPassedTests;
  failed += json.numFailedTests;
  for (const file of json.testResults) {
    for (const t of file.assertionResults) if (t.status === "failed") failures.push(`vitest: ${t.fullName}`);
    if (file.status === "failed" && file.assertionResults.length === 0) {
      failed++;
      failures.push(`vitest: ${file.name} failed to load: ${file.message}`);
    }
  }
  if (r.status !== 0 && json.numFailedTests === 0 && !failures.some((f) => f.startsWith("vitest"))) {
    record("vitest", "vitest exited cleanly", false, `exit ${r.status}`);
  }
});

suite("rpc-conformance", () => {
  // connectrpc's conformance suite against serveUnit and createUnitTransport, fast path on and off:
  // every case counts; each failing case is named (packages/rpc-conformance/README.md).
  mkdirSync(join(root, ".cache"), { recursive: true });
  const report = join(root, ".cache", "rpc-conformance-report.json");
  rmSync(report, { force: true });
  const r = run("node", ["--conditions=@hsu/source", "packages/rpc-conformance/src/suite.ts", "all", `--json=${report}`], { timeout: 30 * 60_000 });
  if (!existsSync(report)) {
    record("rpc-conformance", "the suite produced a report", false, r.out);
    return;
  }
  type Result = { name: string; passed: number; failed: number; failures: { name: string; detail: string }[] };
  for (const res of JSON.parse(readFileSync(report, "utf8")) as Result[]) {
    passed += res.passed;
    console.log(`     rpc-conformance: ${res.name}: ${res.passed} cases passed`);
    for (const f of res.failures) record("rpc-conformance", `${res.name}: ${f.name}`, false, f.detail);
    // Cases the runner could not run are one entry, not one per case.
    failed += Math.max(0, res.failed - res.failures.length);
  }
});

// Each language example's own test suite, with its own runner.
function examples(marker: string): string[] {
  const dir = join(root, "examples");
  return readdirSync(dir)
    .map((d) => join(dir, d))
    .filter((d) => existsSync(join(d, marker)));
}

suite("go", () => {
  for (const dir of examples("go.mod")) {
    const r = run("go", ["test", "-json", "./..."], { cwd: dir });
    let n = 0;
    for (const line of r.out.split("\n")) {
      if (!line.startsWith("{")) continue;
      const ev = JSON.parse(line) as { Action: string; Test?: string; Package: string };
      if (!ev.Test || (ev.Action !== "pass" && ev.Action !== "fail")) continue;
      n++;
      record("go", `${ev.Package} ${ev.Test}`, ev.Action === "pass");
    }
    if (!r.ok && n === 0) record("go", `go test in ${dir}`, false, r.out);
    if (r.ok && n === 0) record("go", `go test in ${dir} ran no test`, false, r.out);
  }
});

suite("python", () => {
  for (const dir of examples("pyproject.toml")) {
    // The project's own entry point makes its virtualenv from pinned requirements, then runs pytest.
    const r = run("bash", ["scripts/dev.sh", "test", "-q", "-rA", "-p", "no:cacheprovider"], { cwd: dir });
    let n = 0;
    for (const m of r.out.matchAll(/^(PASSED|FAILED|ERROR) (\S+)/gm)) {
      n++;
      record("python", m[2]!, m[1] === "PASSED");
    }
    if (!r.ok && n === 0) record("python", `pytest in ${dir}`, false, r.out);
    if (r.ok && n === 0) record("python", `pytest in ${dir} ran no test`, false, r.out);
  }
});

suite("rust", () => {
  for (const dir of examples("Cargo.toml")) {
    // Reuse the dependencies the conformance suite already compiled for a unit of the same template.
    const shared = join(root, ".cache", "conformance", "rust", "unit", "target");
    const target = existsSync(shared) ? shared : "target";
    const r = run("cargo", ["test", "--locked", "--release", "--target-dir", target, "--workspace"], { cwd: dir, env: { ...process.env, CARGO_TERM_COLOR: "never" } });
    let n = 0;
    for (const m of r.out.matchAll(/^test (\S+) \.\.\. (ok|FAILED)$/gm)) {
      n++;
      record("rust", m[1]!, m[2] === "ok");
    }
    if (!r.ok && n === 0) record("rust", `cargo test in ${dir}`, false, r.out);
  }
});

if (failures.length) {
  console.log(`\nFailures:\n${failures.map((f) => `- ${f}`).join("\n")}`);
}
console.log(`\n${passed} passed, ${failed} failed`);
process.exit(failed === 0 && passed > 0 ? 0 : 1);
