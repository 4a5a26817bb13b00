// Runs the conformance runs (runs.ts) with the pinned connectconformance
// runner, each under a deadline, and reads the runner's summary into case
// counts and the failing cases by name.
//
//   node --conditions=@hsu/source packages/rpc-conformance/src/suite.ts [server|client|all] [--json=FILE]
//
// prints one line per run (and each failing case under it), writes the
// results as JSON when asked (scripts/test-all.ts reads that), and exits
// non-zero when any case failed.
import { spawn, spawnSync } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import { isAbsolute, join } from "node:path";
import { fileURLToPath } from "node:url";
import { runs, type ConformanceRun } from "./runs.ts";

const repoRoot = join(import.meta.dirname, "../../..");

/** One case the runner counted as failed, with what it said about it. */
export interface CaseFailure {
  readonly name: string;
  readonly detail: string;
}

/** What the runner's closing summary says (results.go of connectrpc.com/conformance). */
export interface RunnerSummary {
  readonly total: number;
  readonly passed: number;
  /** Failed cases, including known failures that passed ("was expected to fail but did not"). */
  readonly failed: number;
  /** Cases never run because the program under test timed out or exited early. */
  readonly notRun: number;
  /** Cases in the known-failures file that failed, as listed. */
  readonly knownFailed: number;
  /** Each FAILED case by full name; cases that could not run are not named by the runner. */
  readonly failures: readonly CaseFailure[];
}

const failedSuffix = " was expected to fail but did not";

/** Reads the runner's output; undefined when it holds no summary (the runner died or was killed). */
export function parseSummary(output: string): RunnerSummary | undefined {
  const counts = /^Total cases: (\d+)\n(\d+) passed, (\d+) failed$/m.exec(output);
  if (counts === null) return undefined;
  const notRun = /^Another (\d+) could not be run\b/m.exec(output);
  const known = /^\(Another (\d+) failed as expected\b/m.exec(output);
  const failures: CaseFailure[] = [];
  const lines = output.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (!line.startsWith("FAILED: ")) continue;
    const rest = line.slice("FAILED: ".length);
    if (rest.endsWith(failedSuffix)) {
      failures.push({ name: rest.slice(0, -failedSuffix.length), detail: "passed, but the known-failures file lists it: remove it there" });
      continue;
    }
    // The errors follow, indented with a tab (and an HTTP trace with --trace).
    const detail: string[] = [];
    while (i + 1 < lines.length && lines[i + 1]!.startsWith("\t")) detail.push(lines[++i]!.slice(1));
    failures.push({ name: rest.endsWith(":") ? rest.slice(0, -1) : rest, detail: detail.join("\n") });
  }
  return {
    total: Number(counts[1]),
    passed: Number(counts[2]),
    failed: Number(counts[3]),
    notRun: notRun === null ? 0 : Number(notRun[1]),
    knownFailed: known === null ? 0 : Number(known[1]),
    failures,
  };
}

/** The outcome of one run: what CI counts. */
export interface RunResult {
  readonly name: string;
  readonly passed: number;
  /** Failed plus not run; at least 1 when the run itself went wrong. */
  readonly failed: number;
  /** Every failure by name; a run that went wrong has one entry saying why. */
  readonly failures: readonly CaseFailure[];
  readonly durationMs: number;
}

/** Options for {@link runConformance}. */
export interface RunOptions {
  /** Path of the connectconformance binary (see {@link runnerPath}). */
  readonly runner: string;
  /** The whole run's deadline; past it the runner and its children are killed. Default 240 s. */
  readonly deadlineMs?: number;
}

/** Builds (once) and returns the pinned runner's path, via scripts/tools/go-tool.sh. */
export function runnerPath(): string {
  const r = spawnSync("bash", [join(repoRoot, "scripts/tools/go-tool.sh"), "connectconformance"], { encoding: "utf8", timeout: 600_000 });
  if (r.status !== 0) throw new Error(`scripts/tools/go-tool.sh connectconformance failed (exit ${r.status ?? r.signal}): ${r.stderr.trim()}`);
  return r.stdout.trim();
}

/** The runner's argv for one run. */
export function runnerArgs(run: ConformanceRun): string[] {
  return ["--mode", run.mode, "--conf", run.config, "--known-failing", `@${run.knownFailing}`, "--", ...run.command];
}

/** Runs one conformance run; never throws: anything that goes wrong is a failure in the result. */
export async function runConformance(run: ConformanceRun, options: RunOptions): Promise<RunResult> {
  const started = Date.now();
  const broken = (why: string): RunResult => ({
    name: run.name,
    passed: 0,
    failed: 1,
    failures: [{ name: "(the run)", detail: why }],
    durationMs: Date.now() - started,
  });
  // A file the run names that is not there yet (a program under test still being written).
  const files = [run.config, run.knownFailing, ...run.command.filter((a) => isAbsolute(a))];
  const missing = files.filter((f) => !existsSync(f));
  if (missing.length > 0) return broken(`not run: ${missing.map((f) => relative(f)).join(", ")} ${missing.length === 1 ? "does" : "do"} not exist`);

  const deadlineMs = options.deadlineMs ?? 240_000;
  // Its own process group, so a deadline kills the runner and every program it started.
  const child = spawn(options.runner, runnerArgs(run), { cwd: repoRoot, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (s: string) => (stdout += s));
  child.stderr.setEncoding("utf8").on("data", (s: string) => (stderr += s));
  let timedOut = false;
  let killTimer: NodeJS.Timeout | undefined;
  const deadline = setTimeout(() => {
    timedOut = true;
    killGroup(child.pid, "SIGTERM");
    killTimer = setTimeout(() => killGroup(child.pid, "SIGKILL"), 5_000);
  }, deadlineMs);
  const exit = await new Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }>((resolve) => {
    child.once("error", (error) => resolve({ code: null, signal: null, error }));
    child.once("close", (code, signal) => resolve({ code, signal }));
  });
  clearTimeout(deadline);
  clearTimeout(killTimer);
  const tail = (text: string) => text.trim().split("\n").slice(-20).join("\n");
  if (exit.error) return broken(`could not start ${options.runner}: ${exit.error.message}`);
  if (timedOut) return broken(`killed after the ${deadlineMs / 1000} s deadline; its last output:\n${tail(stdout + stderr)}`);
  const summary = parseSummary(stdout);
  if (summary === undefined) return broken(`the runner printed no summary (exit ${exit.code ?? exit.signal}):\n${tail(stderr || stdout)}`);
  const failures = [...summary.failures];
  if (summary.notRun > 0) {
    failures.push({ name: `(${summary.notRun} more)`, detail: `could not be run: the program under test timed out or exited early:\n${tail(stderr)}` });
  }
  if (exit.code !== 0 && failures.length === 0) failures.push({ name: "(the run)", detail: `the runner exited ${exit.code ?? exit.signal}:\n${tail(stderr)}` });
  return {
    name: run.name,
    passed: summary.passed,
    failed: Math.max(summary.failed + summary.notRun, failures.length),
    failures,
    durationMs: Date.now() - started,
  };
}

function killGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, signal);
  } catch (e) {
    // ESRCH: the group is gone already.
    if ((e as NodeJS.ErrnoException).code !== "ESRCH") throw e;
  }
}

function relative(path: string): string {
  return path.startsWith(repoRoot + "/") ? path.slice(repoRoot.length + 1) : path;
}

/** The runs a CLI word selects. */
export function selectRuns(which: string): readonly ConformanceRun[] {
  if (which === "all") return runs;
  if (which === "server" || which === "client") return runs.filter((r) => r.mode === which);
  throw new Error(`expected server, client or all, got "${which}"`);
}

async function main(argv: readonly string[]): Promise<number> {
  const json = argv.find((a) => a.startsWith("--json="))?.slice("--json=".length);
  const words = argv.filter((a) => !a.startsWith("--"));
  const selected = selectRuns(words[0] ?? "all");
  let runner: string | undefined;
  let runnerError: string | undefined;
  try {
    runner = runnerPath();
  } catch (e) {
    runnerError = (e as Error).message;
  }
  const results: RunResult[] = [];
  for (const run of selected) {
    const result =
      runner === undefined
        ? { name: run.name, passed: 0, failed: 1, failures: [{ name: "(the run)", detail: runnerError! }], durationMs: 0 }
        : await runConformance(run, { runner });
    results.push(result);
    const seconds = (result.durationMs / 1000).toFixed(1);
    console.log(`${result.failed === 0 ? "ok  " : "FAIL"} ${result.name}: ${result.passed} passed, ${result.failed} failed (${seconds} s)`);
    for (const f of result.failures) console.log(`       ${f.name}${f.detail ? `\n         ${f.detail.split("\n").join("\n         ")}` : ""}`);
  }
  if (json !== undefined) writeFileSync(json, JSON.stringify(results, null, 2));
  return results.every((r) => r.failed === 0) ? 0 : 1;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  process.exitCode = await main(process.argv.slice(2));
}
