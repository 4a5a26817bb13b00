import { spawn } from "node:child_process";
import { GeneratorError } from "./errors.ts";
import type { Command } from "./manifest.ts";

/** How a template command runs: in the project dir, with extra env, output passed through or captured. */
export interface RunOptions {
  cwd: string;
  env?: Record<string, string>;
  /** "inherit" shows the tool's output to the user; "pipe" keeps it for the error message. */
  stdio?: "inherit" | "pipe";
  /** What the command is for, used in the error message (e.g. `generate`). */
  step: string;
}

/**
 * Runs one template command (argv, no shell) and resolves when it exits 0.
 * A failure names the step, the command and its output tail.
 */
export function runCommand(command: Command, options: RunOptions): Promise<void> {
  const [file, ...args] = command;
  if (file === undefined) return Promise.reject(new GeneratorError("bad_template", `empty ${options.step} command`));
  const stdio = options.stdio ?? "inherit";
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      cwd: options.cwd,
      env: { ...process.env, ...options.env },
      stdio: stdio === "inherit" ? "inherit" : ["ignore", "pipe", "pipe"],
    });
    let output = "";
    const keep = (chunk: Buffer) => {
      output = (output + chunk.toString("utf8")).slice(-8000);
    };
    child.stdout?.on("data", keep);
    child.stderr?.on("data", keep);
    child.on("error", (cause) =>
      reject(
        new GeneratorError("command_failed", `${options.step}: could not start \`${command.join(" ")}\`: ${cause.message}. Is ${file} installed and on PATH?`, { cause }),
      ),
    );
    child.on("close", (code, signal) => {
      if (code === 0) return resolve();
      const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
      const tail = output.trim() ? `\n${output.trim()}` : "";
      reject(
        new GeneratorError(
          "command_failed",
          `${options.step}: \`${command.join(" ")}\` ${how} in ${options.cwd}.${tail}\nFix the cause and run \`create-hsu-unit regen\` in the project.`,
        ),
      );
    });
  });
}
