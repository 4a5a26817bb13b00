import type { Readable } from "node:stream";
import { finished } from "node:stream/promises";
import type { Clock, Timer } from "../clock.ts";
import { resolveExecutableCached } from "./executable.ts";
import type { LifecycleEventType, UnitState } from "./lifecycle.ts";
import { describeExit, stopGroup, type GroupProcess, type OsProcessApi } from "./os-process.ts";
import { acknowledgementOf, type CredentialGrant, type HealthMonitor, type HealthStatus, type LimitMonitor, type LimitPlan, type LimitViolation } from "./ports.ts";
import type { ManagedUnitDeps } from "./managed-unit.ts";
import type { ManagedUnitSpec } from "./spec.ts";

/** What a run needs from its unit: the spec, collaborators, and the single transition entry point. */
export interface RunHost {
  readonly id: string;
  readonly spec: ManagedUnitSpec;
  readonly deps: ManagedUnitDeps & { clock: Clock; os: OsProcessApi };
  readonly current: UnitState;
  apply(event: LifecycleEventType, info: { reason: string; pid?: number }): void;
  can(event: LifecycleEventType): boolean;
  notice(type: "warning" | "limit_violation", reason: string, violation?: LimitViolation): void;
  runSpawned(run: Run): void;
  runEnded(run: Run, outcome: { exitCode: number | null; signal: string | null; reason: string; spawned: boolean }): void;
}

/** One life of a unit's process: from limit planning through spawn to the fully drained exit. */
export interface Run {
  readonly pid: number | undefined;
  readonly healthStatus: HealthStatus | undefined;
  /**
   * Graceful stop: the stop signal to the group, SIGKILL after the graceful timeout; once the leader
   * is gone the group is swept and the unit's cgroup emptied (see LimitPlan.release).
   */
  terminate(): void;
  /** SIGKILL to the whole group now. */
  kill(): void;
}

/** Starts one run in the background; its outcome reaches the host through `runSpawned`/`runEnded`. */
export function startRun(host: RunHost): Run {
  const run = new ProcessRun(host);
  run.go().catch((err: unknown) => {
    // A bug here would leave the unit stuck; make it loud rather than silent.
    const message = err instanceof Error ? err.message : String(err);
    host.notice("warning", `internal supervisor error during run: ${message}`);
    process.emitWarning(`HSU unit "${host.id}": internal supervisor error: ${err instanceof Error ? err.stack : message}`);
  });
  return run;
}

class ProcessRun implements Run {
  private readonly host: RunHost;
  private proc: GroupProcess | undefined;
  private terminating = false;
  private health: HealthMonitor | undefined;
  private limitMonitor: LimitMonitor | undefined;
  /** This run's credentials, released with its limit plan (see `release`). */
  private grant: CredentialGrant | undefined;
  private readonly unsubscribe: (() => void)[] = [];

  constructor(host: RunHost) {
    this.host = host;
  }

  get pid(): number | undefined {
    return this.proc?.pid;
  }

  get healthStatus(): HealthStatus | undefined {
    return this.health?.status;
  }

  terminate(): void {
    if (!this.proc) return; // runSpawned() re-issues it once there is a process
    if (this.terminating) {
      this.proc.signalGroup(this.host.spec.stopSignal);
      return;
    }
    this.terminating = true;
    const { spec, deps } = this.host;
    void stopGroup(this.proc, { signal: spec.stopSignal, gracefulTimeoutMs: spec.gracefulTimeoutMs, clock: deps.clock });
  }

  kill(): void {
    this.proc?.signalGroup("SIGKILL");
  }

  async go(): Promise<void> {
    const { host } = this;
    const { spec, deps } = host;
    const notSpawned = (why: string): void => host.runEnded(this, { exitCode: null, signal: null, reason: why, spawned: false });
    let plan: LimitPlan | undefined;
    if (spec.limits !== undefined && (!deps.limitPlanner || !deps.limitMonitorFactory)) {
      const missing = !deps.limitPlanner ? "limit planner" : "limit monitor factory";
      host.notice("warning", `limits are configured but the supervisor has no ${missing}: they are not fully enforced`);
    }
    if (spec.healthCheck !== undefined && !deps.healthMonitorFactory) {
      host.notice("warning", "healthCheck is configured but the supervisor has no health monitor factory: health is not checked");
    }
    // Every unit is planned, limits or not: the plan also gives it the cgroup that contains all of its processes.
    if (deps.limitPlanner) {
      try {
        plan = await deps.limitPlanner(spec.id, spec.limits);
      } catch (err) {
        return notSpawned(`limits could not be planned: ${(err as Error).message}`);
      }
      for (const w of plan.warnings) host.notice("warning", `limits: ${w}`);
      if (plan.escapeWarning) host.notice("warning", plan.escapeWarning);
    }
    if (spec.credentials !== undefined) {
      if (!deps.credentialProvider) {
        await this.release(plan);
        return notSpawned("the unit has credentials (secrets) but the supervisor has no credential provider to deliver them");
      }
      try {
        this.grant = await deps.credentialProvider(spec.id, spec.credentials);
      } catch (err) {
        await this.release(plan);
        return notSpawned((err as Error).message);
      }
    }
    const env = { ...this.environment(), ...this.grant?.env };
    const command = this.command(env);
    if ("error" in command) {
      await this.release(plan);
      return notSpawned(`executable ${command.error}`);
    }
    const wrapped = plan ? plan.wrap(command.command, command.args) : command;
    // A stop/restart/kill that came in while limits were planned: nothing to spawn for.
    if (host.current !== "starting") {
      await this.release(plan);
      return notSpawned(`not spawned: ${host.current} before the process was started`);
    }
    let proc: GroupProcess;
    try {
      proc = await deps.os.spawn({
        command: wrapped.command,
        args: wrapped.args,
        env,
        ...(spec.cwd === undefined ? {} : { cwd: spec.cwd }),
        stdout: spec.stdout,
        stderr: spec.stderr,
        ...(spec.nice === undefined ? {} : { nice: spec.nice }),
      });
    } catch (err) {
      await this.release(plan);
      return notSpawned((err as Error).message);
    }
    this.proc = proc;
    // Settled at once so an early sink failure is held, not reported as unhandled.
    const drained = Promise.allSettled([this.attach("stdout", proc.stdout), this.attach("stderr", proc.stderr)]);
    for (const w of proc.warnings) host.notice("warning", w);
    let failed: string | undefined;
    if (plan) {
      try {
        await plan.afterSpawn(proc.pid);
      } catch (err) {
        failed = `limits could not be applied to pid ${proc.pid}: ${(err as Error).message}`;
        proc.signalGroup("SIGKILL");
      }
    }
    if (!failed) {
      host.runSpawned(this);
      this.watch(proc.pid);
    }
    const status = await proc.exited;
    this.stopWatching();
    if (status.survivors.length > 0) {
      host.notice("warning", `processes ${status.survivors.join(", ")} of group ${proc.pgid} survived SIGKILL`);
    }
    // The group is gone; emptying the unit's cgroup also kills what left the group (setsid), which may hold the output open.
    await this.release(plan);
    await this.drain(proc, drained);
    host.runEnded(this, {
      exitCode: status.code,
      signal: status.signal,
      reason: failed ?? `pid ${proc.pid} ended with ${describeExit(status)}`,
      spawned: !failed,
    });
  }

  /**
   * Waits until the output was fully delivered. The whole group is gone by now, so an
   * open pipe means a process that left the group (setsid) still holds it: after
   * `outputDrainTimeoutMs` the pipes are closed so the exit is not held up forever.
   * Output read from files (an acknowledged source) ends by itself once read to its end,
   * however much is left: the deadline only counts while it does not move (a stuck
   * subscriber); closing it then loses nothing, the unread part stays in its file.
   */
  private async drain(proc: GroupProcess, all: Promise<PromiseSettledResult<void>[]>): Promise<void> {
    const { host } = this;
    let timer: Timer | undefined;
    let expire!: (v: "timeout") => void;
    const timedOut = new Promise<"timeout">((resolve) => (expire = resolve));
    const arm = (): void => {
      timer?.cancel();
      timer = host.deps.clock.setTimer(host.deps.outputDrainTimeoutMs ?? 2000, () => expire("timeout"));
    };
    const files = [proc.stdout, proc.stderr].filter((s): s is Readable => s !== null && acknowledgementOf(s) !== undefined);
    for (const s of files) s.on("data", arm);
    arm();
    const first = await Promise.race([all, timedOut]);
    timer?.cancel();
    for (const s of files) s.off("data", arm);
    if (first === "timeout") {
      host.notice("warning", `output of pid ${proc.pid} still open after its process group ended (a process outside the group holds it, or nobody reads it); closing it`);
      proc.stdout?.destroy();
      proc.stderr?.destroy();
      return;
    }
    for (const result of first) {
      if (result.status === "rejected") host.notice("warning", `output capture failed: ${(result.reason as Error).message}`);
    }
  }

  private command(env: Record<string, string>): { command: string; args: string[] } | { error: string } {
    const { spec } = this.host;
    if (spec.shell) return { command: "/bin/sh", args: ["-c", spec.executable, spec.id, ...spec.args] };
    const found = resolveExecutableCached(spec.executable, {
      cwd: spec.cwd ?? process.cwd(),
      pathEnv: env.PATH ?? process.env.PATH,
    });
    return "error" in found ? found : { command: found.path, args: [...spec.args] };
  }

  private environment(): Record<string, string> {
    const { spec } = this.host;
    if (spec.envMode === "replace") return { ...spec.env };
    const base: Record<string, string> = {};
    for (const [k, v] of Object.entries(process.env)) if (v !== undefined) base[k] = v;
    return { ...base, ...spec.env };
  }

  private attach(stream: "stdout" | "stderr", source: Readable | null): Promise<void> {
    if (!source) return Promise.resolve();
    const sink = this.host.deps.logSink;
    const onWritten = acknowledgementOf(source);
    if (sink) {
      try {
        return sink.attach(this.host.id, stream, source, onWritten ? { onWritten } : undefined);
      } catch (err) {
        // The output is still drained so the child cannot block on a full pipe.
        source.resume();
        return Promise.reject(err);
      }
    }
    // Without a sink the pipe still has to be read, or a chatty child blocks on a full pipe;
    // what is discarded on purpose counts as written (a durable source may let go of it).
    let read = 0;
    if (onWritten) source.on("data", (chunk: Buffer) => onWritten((read += chunk.length)));
    source.resume();
    return finished(source);
  }

  private watch(pid: number): void {
    const { host } = this;
    const { spec, deps } = host;
    if (deps.healthMonitorFactory && spec.healthCheck !== undefined && host.current === "running") {
      const monitor = deps.healthMonitorFactory(spec.id, { pid });
      this.health = monitor;
      this.unsubscribe.push(
        monitor.onChange((status, detail) => {
          if (this.health !== monitor) return; // a late report from a finished run
          if (status === "healthy" && host.current === "running") host.apply("ready", { reason: `healthy: ${detail}`, pid });
          if (status === "unhealthy" && host.can("unhealthy")) host.apply("unhealthy", { reason: `unhealthy: ${detail}`, pid });
        }),
      );
      monitor.start();
    }
    if (deps.limitMonitorFactory && spec.limits !== undefined && host.current === "running") {
      const monitor = deps.limitMonitorFactory(spec.id, pid, spec.limits);
      this.limitMonitor = monitor;
      this.unsubscribe.push(monitor.onViolation((v) => this.onViolation(monitor, v, pid)));
    }
  }

  private onViolation(monitor: LimitMonitor, v: LimitViolation, pid: number): void {
    if (this.limitMonitor !== monitor) return;
    const { host } = this;
    const what = `limit ${v.limit} exceeded: ${v.value} > ${v.max} (policy ${v.policy})`;
    host.notice("limit_violation", what, v);
    if (v.policy === "restart" && host.can("restart")) host.apply("restart", { reason: what, pid });
    if (v.policy === "stop") host.apply("stop", { reason: what, pid });
    if (v.policy === "kill" && host.can("kill")) host.apply("kill", { reason: what, pid });
  }

  private stopWatching(): void {
    for (const off of this.unsubscribe.splice(0)) off();
    this.health?.stop();
    this.limitMonitor?.stop();
    this.health = undefined;
    this.limitMonitor = undefined;
  }

  private async release(plan: LimitPlan | undefined): Promise<void> {
    const grant = this.grant;
    this.grant = undefined;
    if (grant) {
      try {
        await grant.release();
      } catch (err) {
        this.host.notice("warning", `the unit's credentials could not be removed: ${(err as Error).message}`);
      }
    }
    if (!plan) return;
    try {
      await plan.release();
    } catch (err) {
      this.host.notice("warning", `the unit's cgroup could not be emptied: ${(err as Error).message}`);
    }
  }
}
