import { HsuError } from "../errors.ts";
import { createSystemClock, type Clock, type Timer } from "../clock.ts";
import { createEventHub } from "./event-hub.ts";
import { canTransition, isAlive, transition, type LifecycleEffect, type LifecycleEventType, type UnitState } from "./lifecycle.ts";
import { createOsProcessApi, type OsProcessApi } from "./os-process.ts";
import type { CredentialProvider, HealthMonitorFactory, LimitMonitorFactory, LimitPlanner, LimitViolation, LogSink } from "./ports.ts";
import { createRestartTracker, type ExitKind, type RestartTracker } from "./restart.ts";
import type { ManagedUnitSpec } from "./spec.ts";
import type { LastExit, UnitEvent, UnitSnapshot } from "./unit-events.ts";
import { startRun, type Run, type RunHost } from "./unit-run.ts";

/** The collaborators of a managed unit (and of a supervisor, which hands them on); every one is optional. */
export interface ManagedUnitDeps {
  /** Receives captured stdout/stderr; without one, captured output is read and dropped. */
  logSink?: LogSink;
  /** Builds health monitors for units whose spec has a `healthCheck`. */
  healthMonitorFactory?: HealthMonitorFactory;
  /** Plans limit enforcement for units whose spec has `limits`. */
  limitPlanner?: LimitPlanner;
  /** Watches running units against their `limits`. */
  limitMonitorFactory?: LimitMonitorFactory;
  /**
   * Makes the credentials of each run of a unit whose spec has `credentials`
   * (files, environment variables); without one such a unit cannot start.
   */
  credentialProvider?: CredentialProvider;
  /** Time source for backoff, breaker and graceful timeouts (system clock by default). */
  clock?: Clock;
  /** The OS layer (real processes by default). */
  os?: OsProcessApi;
  /**
   * How long to wait, after the process group ended, for its output pipes to close
   * before closing them (default 2000 ms); only a process that escaped the group keeps them open.
   */
  outputDrainTimeoutMs?: number;
  /**
   * What a kind does before the stop signal (an integrated unit: Core Shutdown with its
   * token, then waiting for the exit up to the drain deadline). Called with the pid on every
   * graceful stop, restart or unhealthy kill of a spawned process; the stop signal, the
   * graceful timeout and SIGKILL follow once it settles. It must settle in bounded time.
   */
  drain?: (unit: string, pid: number) => Promise<void>;
}

/** Options of {@link createManagedUnit}. */
export interface ManagedUnitOptions extends ManagedUnitDeps {
  spec: ManagedUnitSpec;
}

/** One supervised unit: its process, lifecycle, restart policy, health and limits. */
export interface ManagedUnit {
  readonly id: string;
  readonly spec: ManagedUnitSpec;
  /** Starts the unit; resolves once the spawn attempt settled (running, or exited/backoff/failed). */
  start(reason?: string): Promise<UnitSnapshot>;
  /** Stops the unit (explicit stop: no restart); resolves once it is `stopped`. */
  stop(reason?: string): Promise<UnitSnapshot>;
  /** Stops and starts again regardless of the restart policy. */
  restart(reason?: string): Promise<UnitSnapshot>;
  /**
   * Takes a unit that is not running (stopped, exited, backoff, failed) to `stopped` and
   * forgets its retry and breaker history; throws `illegal_transition` while a process is alive.
   */
  reset(reason?: string): UnitSnapshot;
  /** Marks a running unit ready (e.g. after the handshake); ignored unless `running`/`ready`. */
  markReady(reason: string): void;
  /**
   * Ends a live process as failed (a kind's own liveness verdict, e.g. no handshake in time):
   * the graceful stop sequence, and the exit counts as a crash for the restart policy.
   * Ignored when no process is alive or one is already being stopped.
   */
  fail(reason: string): void;
  snapshot(): UnitSnapshot;
  /** Every later event of this unit; stop iterating (or abort) to unsubscribe. */
  events(signal?: AbortSignal): AsyncIterableIterator<UnitEvent>;
  /** Listener form of `events`; returns the unsubscribe function. */
  onEvent(listener: (event: UnitEvent) => void): () => void;
  /**
   * Resolves once `predicate` holds (checked now and after every event), with the
   * snapshot taken after the step that satisfied it finished.
   */
  waitFor(predicate: (s: UnitSnapshot, e?: UnitEvent) => boolean, signal?: AbortSignal): Promise<UnitSnapshot>;
  /** Stops the unit and ends every event subscription. */
  dispose(): Promise<void>;
}

/** What accompanies a transition into its event. */
type TransitionInfo = { reason: string; exitCode?: number | null; signal?: string | null; pid?: number };

const settledAfterStart = (s: UnitSnapshot): boolean => !["starting", "restarting", "stopping", "killing"].includes(s.state);

/** Creates a managed unit in state `stopped`; nothing runs until `start`. */
export function createManagedUnit(options: ManagedUnitOptions): ManagedUnit {
  return new Unit(options);
}

class Unit implements ManagedUnit, RunHost {
  readonly id: string;
  readonly spec: ManagedUnitSpec;
  readonly deps: ManagedUnitDeps & { clock: Clock; os: OsProcessApi };
  private state: UnitState = "stopped";
  private readonly hub = createEventHub<UnitEvent>();
  private readonly tracker: RestartTracker;
  private run: Run | undefined;
  private backoffTimer: Timer | undefined;
  private restarts = 0;
  private spawns = 0;
  private lastExit: LastExit | undefined;
  private startedAt: number | undefined;
  private explicitlyStopped = false;
  private disposed = false;
  private applying = false;
  private readonly deferred: { event: LifecycleEventType; info: TransitionInfo }[] = [];

  constructor(options: ManagedUnitOptions) {
    this.spec = options.spec;
    this.id = options.spec.id;
    this.deps = { ...options, clock: options.clock ?? createSystemClock(), os: options.os ?? createOsProcessApi() };
    this.tracker = createRestartTracker(this.spec.restart, this.deps.clock);
  }

  get current(): UnitState {
    return this.state;
  }

  start(reason = "start requested"): Promise<UnitSnapshot> {
    this.ensureUsable();
    this.apply("start", { reason });
    return this.waitFor(settledAfterStart);
  }

  stop(reason = "stop requested"): Promise<UnitSnapshot> {
    this.apply("stop", { reason });
    return this.waitFor((s, e) => s.state === "stopped" || e?.type === "start" || e?.type === "restart");
  }

  restart(reason = "restart requested"): Promise<UnitSnapshot> {
    this.ensureUsable();
    this.apply("restart", { reason });
    // Settled means a new process is up (or the attempt ended without one).
    const spawnsBefore = this.spawns;
    return this.waitFor((s) => settledAfterStart(s) && (this.spawns !== spawnsBefore || !isAlive(s.state)));
  }

  reset(reason = "reset requested"): UnitSnapshot {
    this.apply("reset", { reason });
    this.restarts = 0;
    return this.snapshot();
  }

  markReady(reason: string): void {
    if (this.state === "running") this.apply("ready", { reason });
  }

  fail(reason: string): void {
    if (this.can("unhealthy")) this.apply("unhealthy", { reason });
  }

  snapshot(): UnitSnapshot {
    const pid = this.run?.pid;
    const health = this.run?.healthStatus;
    return {
      id: this.id,
      state: this.state,
      ...(pid === undefined ? {} : { pid }),
      restarts: this.restarts,
      ...(this.lastExit ? { lastExit: this.lastExit } : {}),
      ...(this.startedAt === undefined ? {} : { startedAt: this.startedAt }),
      explicitlyStopped: this.explicitlyStopped,
      ...(health === undefined ? {} : { health }),
    };
  }

  events(signal?: AbortSignal): AsyncIterableIterator<UnitEvent> {
    return this.hub.iterate(signal);
  }

  onEvent(listener: (event: UnitEvent) => void): () => void {
    return this.hub.subscribe(listener);
  }

  waitFor(predicate: (s: UnitSnapshot, e?: UnitEvent) => boolean, signal?: AbortSignal): Promise<UnitSnapshot> {
    const now = this.snapshot();
    if (predicate(now)) return Promise.resolve(now);
    return new Promise((resolve, reject) => {
      const onAbort = (): void => {
        off();
        reject(signal?.reason);
      };
      const off = this.hub.subscribe((e) => {
        const s = this.snapshot();
        if (!predicate(s, e)) return;
        off();
        signal?.removeEventListener("abort", onAbort);
        // Follow-up transitions of the same step (exit -> schedule_restart) run synchronously;
        // answer with the state after them.
        queueMicrotask(() => resolve(this.snapshot()));
      });
      if (this.disposed) {
        off();
        reject(new HsuError("cancelled", "unit was removed while waiting", { unit: this.id }));
      }
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    if (this.state !== "stopped") await this.stop("unit removed");
    this.disposed = true;
    this.hub.close();
  }

  // ---- RunHost: what a run reports back -------------------------------------

  /**
   * The one place where the lifecycle advances: applies the pure transition,
   * records it, emits the event, then carries out the effects. A transition
   * requested from inside another (an event listener calling `stop()`) runs
   * right after the current one has finished, never in the middle of it.
   */
  apply(event: LifecycleEventType, info: TransitionInfo): void {
    if (this.applying) {
      this.deferred.push({ event, info });
      return;
    }
    this.applying = true;
    try {
      this.step(event, info);
      for (let next = this.deferred.shift(); next; next = this.deferred.shift()) {
        if (this.can(next.event)) this.step(next.event, next.info);
        else this.notice("warning", `dropped "${next.event}" (${next.info.reason}): not allowed in state "${this.state}" any more`);
      }
    } finally {
      this.applying = false;
      this.deferred.length = 0;
    }
  }

  private step(event: LifecycleEventType, info: TransitionInfo): void {
    const from = this.state;
    const { state, effects } = transition(from, event, this.id);
    this.state = state;
    if (event === "stop") this.explicitlyStopped = true;
    if (event === "start" || event === "restart") this.explicitlyStopped = false;
    if (event === "spawned") {
      this.startedAt = this.deps.clock.now();
      this.spawns++;
    }
    if (effects.includes("spawn") && (event === "backoff_elapsed" || event === "restart" || from === "restarting")) {
      this.restarts++;
    }
    this.emit({ type: event, from, to: state, ...info });
    for (const effect of effects) this.perform(effect);
  }

  /** Emits a non-transition event (warning, limit violation). */
  notice(type: "warning" | "limit_violation", reason: string, violation?: LimitViolation): void {
    this.emit({ type, from: this.state, to: this.state, reason, ...(violation ? { violation } : {}) });
  }

  /** Whether `event` may be applied now; health and limit signals that arrive late are dropped by the caller. */
  can(event: LifecycleEventType): boolean {
    return canTransition(this.state, event);
  }

  /** Called by the run once its process is gone and its output fully delivered. */
  runEnded(run: Run, outcome: { exitCode: number | null; signal: string | null; reason: string; spawned: boolean }): void {
    if (this.run === run) this.run = undefined;
    const from = this.state;
    const kind = exitKind(from, outcome);
    this.lastExit = { code: outcome.exitCode, signal: outcome.signal, kind, reason: outcome.reason, time: this.deps.clock.now() };
    const exitInfo = { reason: outcome.reason, exitCode: outcome.exitCode, signal: outcome.signal, ...(run.pid ? { pid: run.pid } : {}) };
    this.apply(outcome.spawned || from !== "starting" ? "exit" : "spawn_failed", exitInfo);
    if (this.state !== "exited") return;
    // Restarting cannot help a unit that cannot start: it fails now, with the reason.
    const cannot = kind === "failure" ? cannotStart(outcome) : undefined;
    if (cannot) return this.apply("retries_exhausted", { ...exitInfo, reason: cannot });
    const decision = this.tracker.decide(kind);
    if (decision.action === "none") return;
    if (decision.action === "restart") {
      this.apply("schedule_restart", { reason: decision.reason });
      this.backoffTimer = this.deps.clock.setTimer(decision.delayMs, () => {
        this.backoffTimer = undefined;
        if (this.state === "backoff") this.apply("backoff_elapsed", { reason: `restart delay of ${decision.delayMs} ms elapsed` });
      });
      return;
    }
    this.apply(decision.action, { reason: decision.reason });
  }

  /** Called by the run when its process is up (after limits were applied). */
  runSpawned(run: Run): void {
    this.tracker.runStarted();
    if (this.state === "starting") this.apply("spawned", { reason: `spawned pid ${run.pid}`, pid: run.pid! });
    // A stop/restart/kill arrived while we were spawning: carry it out now that there is a process.
    else if (this.state === "killing") run.kill();
    else if (isAlive(this.state)) run.terminate();
  }

  // ---- internals -------------------------------------------------------------

  private perform(effect: LifecycleEffect): void {
    switch (effect) {
      case "spawn":
        this.run = startRun(this);
        return;
      case "terminate": {
        const run = this.run;
        const drain = this.deps.drain;
        if (!run || !drain || run.pid === undefined) {
          run?.terminate();
          return;
        }
        void drain(this.id, run.pid)
          .catch((err: unknown) => this.notice("warning", `graceful drain failed: ${err instanceof Error ? err.message : String(err)}`))
          .then(() => {
            if (this.run === run) run.terminate();
          });
        return;
      }
      case "kill":
        this.run?.kill();
        return;
      case "cancel_backoff":
        this.backoffTimer?.cancel();
        this.backoffTimer = undefined;
        return;
      case "reset_counters":
        this.tracker.reset();
        return;
    }
  }

  private emit(e: Omit<UnitEvent, "unit" | "restartCount" | "time">): void {
    this.hub.emit({ unit: this.id, restartCount: this.restarts, time: this.deps.clock.now(), ...e });
  }

  private ensureUsable(): void {
    if (this.disposed) throw new HsuError("failed_precondition", "unit was removed; add it again to use it", { unit: this.id });
  }
}

/** Why a run shows the unit cannot start at all (no process, or the shell could not run the command). */
export function cannotStart(outcome: { exitCode: number | null; spawned: boolean; reason: string }): string | undefined {
  if (!outcome.spawned) return `cannot start: ${outcome.reason}`;
  if (outcome.exitCode === 127) return "cannot start: exit code 127 (command not found)";
  if (outcome.exitCode === 126) return "cannot start: exit code 126 (found but not executable)";
  return undefined;
}

function exitKind(from: UnitState, outcome: { exitCode: number | null; signal: string | null; spawned: boolean }): ExitKind {
  if (from === "stopping" || from === "restarting") return "stopped";
  if (from === "killing" || !outcome.spawned) return "failure";
  if (outcome.signal) return "signal";
  if (outcome.exitCode === null) return "unknown"; // an adopted process: no status to read
  return outcome.exitCode === 0 ? "success" : "failure";
}
