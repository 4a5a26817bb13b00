import { spawn } from "node:child_process";

/** The outcome of a finished command. */
export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  output: string;
}

/** Options of {@link run}. */
export interface RunOptions {
  cwd: string;
  env?: Record<string, string>;
  /** Keep at most this many trailing characters of the combined output. Default 20000. */
  keep?: number;
}

/**
 * Runs a command (argv, no shell) in its own process group and collects its
 * combined output; the group is killed if the test process exits first.
 */
export function run(argv: readonly string[], options: RunOptions): Promise<RunResult> {
  const [file, ...args] = argv;
  if (file === undefined) return Promise.reject(new Error("run: empty command"));
  const keep = options.keep ?? 20_000;
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      cwd: options.cwd,
      env: { ...process.env, ...options.env },
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    });
    const killGroup = () => {
      if (child.pid !== undefined && child.exitCode === null) {
        try {
          process.kill(-child.pid, "SIGKILL");
        } catch {
          // The group is already gone.
        }
      }
    };
    process.once("exit", killGroup);
    let output = "";
    const collect = (chunk: Buffer) => {
      output = (output + chunk.toString("utf8")).slice(-keep);
    };
    child.stdout.on("data", collect);
    child.stderr.on("data", collect);
    child.once("error", (e) => {
      process.off("exit", killGroup);
      reject(new Error(`could not start \`${argv.join(" ")}\` in ${options.cwd}: ${e.message}`, { cause: e }));
    });
    child.once("close", (code, signal) => {
      process.off("exit", killGroup);
      resolve({ code, signal, output });
    });
  });
}

/** Runs a command and throws (with its output tail) unless it exits 0. */
export async function runOk(step: string, argv: readonly string[], options: RunOptions): Promise<string> {
  const result = await run(argv, options);
  if (result.code !== 0) {
    throw new Error(
      `${step}: \`${argv.join(" ")}\` in ${options.cwd} ${result.signal ? `was killed by ${result.signal}` : `exited with ${result.code}`}\n${result.output.slice(-6000)}`,
    );
  }
  return result.output;
}
