import { HsuError } from "../errors.ts";
import {
  createJudge,
  createResourceSamplerGroup,
  isRunning,
  readStat,
  systemClock,
  type LimitViolation,
  type ResourceClock,
  type ResourceSamplerGroup,
  type ResourceUsage,
} from "../resources/index.ts";
import { describeLocator, locateProcess, readPidFile, type PidFileState, type ProcessIdentity } from "./locate.ts";
import { locatorOf, validateUnmanagedSpec, type UnmanagedUnitInput, type UnmanagedUnitSpec } from "./spec.ts";

/** Why an unmanaged process is no longer watched. */
export type GoneReason = "exited" | "pid_reused" | "stopped";

/** Events of an unmanaged unit. */
export interface UnmanagedEvents {
  /** Found the process: at attach time ("initial"), or again after the service restarted. */
  attached: { unit: string; pid: number; startTime: number; name: string; reason: "initial" | "pid_file_changed" | "reappeared"; previousPid?: number };
  usage: { unit: string; pid: number; usage: ResourceUsage };
  gone: { unit: string; pid: number; reason: GoneReason };
  limit_violation: { unit: string; pid: number; violation: LimitViolation };
}

/** An event of an unmanaged unit, with its type. */
export type UnmanagedEvent = { [K in keyof UnmanagedEvents]: { type: K } & UnmanagedEvents[K] }[keyof UnmanagedEvents];

/** A watched process HSU did not start. It is never restarted by HSU. */
export interface UnmanagedUnit {
  readonly id: string;
  readonly spec: UnmanagedUnitSpec;
  /** The attached process, or undefined while it is gone. */
  readonly process: ProcessIdentity | undefined;
  /** The last usage sample, if any. */
  readonly lastUsage: ResourceUsage | undefined;
  on<K extends keyof UnmanagedEvents>(type: K, listener: (event: UnmanagedEvents[K]) => void): () => void;
  /** Signals the process (stopSignal, then SIGKILL after gracefulTimeoutMs); HsuError("permission_denied") unless canTerminate. */
  stop(): Promise<void>;
  /** Stops watching; never touches the process. */
  detach(): void;
}

/** Options of attachUnmanaged. */
export interface AttachUnmanagedOptions {
  clock?: ResourceClock;
  /** Shared sampler group, so many units are sampled from one /proc scan. */
  samplers?: ResourceSamplerGroup;
  /** Receives every event, including the initial `attached` one that fires before attachUnmanaged resolves. */
  onEvent?: (event: UnmanagedEvent) => void;
  /** Receives polling failures (e.g. an unreadable pid file); process.emitWarning by default. */
  onError?: (error: HsuError) => void;
}

/**
 * Finds the process of an unmanaged unit and watches it: liveness (pid plus
 * start time, so a reused pid is never mistaken for the service), CPU and
 * memory, optional limits (reported, never enforced). When the process is
 * gone, a pid file that is rewritten (or, for name, command line and port
 * locators, a new matching process) makes it attach again. Rejects with
 * HsuError when the process cannot be found or the locator is ambiguous.
 */
export async function attachUnmanaged(input: UnmanagedUnitInput, options: AttachUnmanagedOptions = {}): Promise<UnmanagedUnit> {
  const spec = validateUnmanagedSpec(input);
  const unit = spec.id;
  const clock = options.clock ?? systemClock;
  const samplers = options.samplers ?? createResourceSamplerGroup({ clock });
  const onError = options.onError ?? ((e: HsuError) => process.emitWarning(e.message, "HsuUnmanagedWarning"));
  const listeners = new Map<string, Set<(e: never) => void>>();
  const locator = locatorOf(spec);

  let current: ProcessIdentity | undefined;
  let pidFileSeen: PidFileState | undefined;
  let lastUsage: ResourceUsage | undefined;
  let judge = spec.limits ? createJudge(spec.limits) : undefined;
  let timer: { cancel(): void } | undefined;
  let detached = false;
  let stopping = false;

  const emit = <K extends keyof UnmanagedEvents>(type: K, event: UnmanagedEvents[K]) => {
    options.onEvent?.({ type, ...event } as UnmanagedEvent);
    for (const l of [...(listeners.get(type) ?? [])]) (l as (e: UnmanagedEvents[K]) => void)(event);
  };
  const attach = (found: Awaited<ReturnType<typeof locateProcess>>, reason: UnmanagedEvents["attached"]["reason"]) => {
    const previousPid = current?.pid;
    if (current) samplers.forget(current.pid);
    current = { pid: found.pid, startTime: found.startTime, name: found.name };
    pidFileSeen = found.pidFile ?? pidFileSeen;
    judge = spec.limits ? createJudge(spec.limits) : undefined;
    emit("attached", { unit, ...current, reason, ...(previousPid !== undefined ? { previousPid } : {}) });
  };
  const lose = (reason: GoneReason) => {
    if (!current) return;
    const { pid } = current;
    samplers.forget(pid);
    current = undefined;
    lastUsage = undefined;
    emit("gone", { unit, pid, reason });
  };

  /** Whether the attached process is still the one we attached to; reports it gone otherwise. */
  const checkAlive = async (): Promise<boolean> => {
    if (!current) return false;
    const stat = await readStat(current.pid);
    if (stat && stat.startTime !== current.startTime) lose("pid_reused");
    else if (!isRunning(stat)) lose(stopping ? "stopped" : "exited");
    return current !== undefined;
  };

  const poll = async () => {
    if (await checkAlive()) {
      if (locator === "pidFile") await followPidFile();
      if (current) await sample(current);
    } else if (locator !== "pid") {
      await relocate();
    }
  };
  const followPidFile = async () => {
    const now = await readPidFile(unit, spec.pidFile!);
    if (!now || !current || now.pid === current.pid || now.mtimeMs === pidFileSeen?.mtimeMs) return;
    // The service was restarted by something else and wrote its new pid.
    const found = await locateProcess(spec).catch((error: unknown) => {
      // The new pid may not be running yet; look again at the next poll.
      if (HsuError.is(error, "not_found")) return undefined;
      throw error;
    });
    if (found && found.pid !== current.pid) attach(found, "pid_file_changed");
  };
  const relocate = async () => {
    if (locator === "pidFile") {
      const now = await readPidFile(unit, spec.pidFile!);
      // An unchanged pid file names the process that is gone (or a stranger that reused its pid).
      if (!now || (pidFileSeen && now.mtimeMs === pidFileSeen.mtimeMs && now.pid === pidFileSeen.pid)) return;
    }
    const found = await locateProcess({ ...spec, expectStartTime: undefined }).catch((error: unknown) => {
      if (HsuError.is(error, "not_found")) return undefined;
      throw error;
    });
    if (found) attach(found, locator === "pidFile" ? "pid_file_changed" : "reappeared");
  };
  const sample = async (who: ProcessIdentity) => {
    const usage = (await samplers.sampleMany([who.pid])).get(who.pid)!;
    if (current !== who || !usage.alive) return;
    lastUsage = usage;
    emit("usage", { unit, pid: who.pid, usage });
    for (const violation of judge?.(usage) ?? []) emit("limit_violation", { unit, pid: who.pid, violation });
  };

  const loop = async () => {
    try {
      await poll();
    } catch (error) {
      onError(HsuError.is(error) ? error : new HsuError("internal", `watching ${describeLocator(spec)} failed: ${(error as Error).message}`, { unit }, { cause: error }));
    }
    if (!detached) timer = clock.setTimer(spec.pollIntervalMs, () => void loop());
  };

  /** Whether `target` (pid and start time) still runs; a reused pid does not count. */
  const stillRuns = async (target: ProcessIdentity) => {
    const stat = await readStat(target.pid);
    return isRunning(stat) && stat.startTime === target.startTime;
  };
  const waitUntilGone = async (target: ProcessIdentity, ms: number): Promise<boolean> => {
    const deadline = clock.now() + ms;
    while (await stillRuns(target)) {
      if (clock.now() >= deadline) return false;
      await new Promise<void>((resolve) => clock.setTimer(Math.min(25, spec.pollIntervalMs), resolve));
    }
    if (current === target) lose("stopped");
    return true;
  };
  const signal = async (target: ProcessIdentity, sig: NodeJS.Signals) => {
    // Checked right before signalling, so a reused pid is never signalled.
    if (!(await stillRuns(target))) return;
    try {
      process.kill(target.pid, sig);
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (code === "ESRCH") return;
      throw new HsuError(code === "EPERM" ? "permission_denied" : "internal", `cannot send ${sig} to pid ${target.pid}: ${(error as Error).message}`, { unit }, { cause: error });
    }
  };

  const first = await locateProcess(spec);
  attach(first, "initial");
  timer = clock.setTimer(spec.pollIntervalMs, () => void loop());

  return {
    id: unit,
    spec,
    get process() {
      return current;
    },
    get lastUsage() {
      return lastUsage;
    },
    on(type, listener) {
      const set = listeners.get(type) ?? new Set();
      listeners.set(type, set);
      set.add(listener as (e: never) => void);
      return () => set.delete(listener as (e: never) => void);
    },
    async stop() {
      if (!spec.canTerminate) {
        throw new HsuError("permission_denied", "HSU did not start this process and may not stop it; set canTerminate: true to allow it", { unit, field: "canTerminate" });
      }
      stopping = true;
      try {
        const target = current;
        if (!target || !(await checkAlive())) return;
        await signal(target, spec.stopSignal);
        if (await waitUntilGone(target, spec.gracefulTimeoutMs)) return;
        await signal(target, "SIGKILL");
        if (!(await waitUntilGone(target, 10_000))) {
          throw new HsuError("deadline_exceeded", `pid ${target.pid} is still running 10 s after SIGKILL`, { unit });
        }
      } finally {
        stopping = false;
      }
    },
    detach() {
      detached = true;
      timer?.cancel();
      if (current) samplers.forget(current.pid);
    },
  };
}
