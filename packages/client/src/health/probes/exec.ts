import { spawn } from "node:child_process";
import type { ExecCheck } from "../spec.ts";
import { abortReason, errorText, type Probe, type ProbeResult } from "./types.ts";

/** Output kept for the detail of a failed run. */
const keepOutputBytes = 512;

/**
 * Runs a command (no shell) in its own process group and passes when it
 * exits 0. On abort (timeout, stop) the whole group is SIGKILLed, so a hung
 * check script and anything it started are gone before the next probe.
 */
export function createExecProbe(spec: ExecCheck): Probe {
  const what = [spec.command, ...(spec.args ?? [])].join(" ");
  return {
    run(signal) {
      return new Promise<ProbeResult>((resolve) => {
        if (signal.aborted) return resolve({ ok: false, detail: `${what}: ${abortReason(signal)}` });
        const child = spawn(spec.command, spec.args ?? [], {
          cwd: spec.cwd,
          env: spec.env ? { ...process.env, ...spec.env } : process.env,
          stdio: ["ignore", "pipe", "pipe"],
          detached: true,
        });
        let output = "";
        const collect = (chunk: Buffer): void => {
          output = (output + chunk.toString("utf8")).slice(-keepOutputBytes);
        };
        child.stdout.on("data", collect);
        child.stderr.on("data", collect);
        let aborted = false;
        const onAbort = (): void => {
          aborted = true;
          try {
            process.kill(-(child.pid as number), "SIGKILL");
          } catch (err) {
            // ESRCH: the group is already gone, which is what we wanted.
            if ((err as NodeJS.ErrnoException).code !== "ESRCH") child.kill("SIGKILL");
          }
        };
        signal.addEventListener("abort", onAbort, { once: true });
        const finish = (result: ProbeResult): void => {
          signal.removeEventListener("abort", onAbort);
          child.stdout.destroy();
          child.stderr.destroy();
          resolve(result);
        };
        child.once("error", (err) => finish({ ok: false, detail: `cannot run ${what}: ${errorText(err)}` }));
        child.once("exit", (code, sig) => {
          const out = output.trim() ? `: ${output.trim()}` : "";
          if (aborted) finish({ ok: false, detail: `${what}: ${abortReason(signal)}; its process group was killed` });
          else if (code === 0) finish({ ok: true, detail: `${what} exited 0` });
          else finish({ ok: false, detail: `${what} ${sig ? `was killed by ${sig}` : `exited ${code}`}${out}` });
        });
      });
    },
    close() {},
  };
}
