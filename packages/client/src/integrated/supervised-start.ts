import type { UnitInfo } from "@hsu/proto";
import { createSystemClock, type Clock, type Timer } from "../clock.ts";
import type { PendingRegistration, Registrar } from "../core/registrar.ts";
import { connectUnit, type UnitClient } from "../core/unit-client.ts";
import { HsuError } from "../errors.ts";
import type { ManagedUnit } from "../supervisor/managed-unit.ts";
import type { UnitEvent } from "../supervisor/unit-events.ts";
import type { ExitStatus, StartUnit, UnitHandle } from "./handle.ts";
import { processStartTime, type Attachment, type UnitRecord } from "./unit-record.ts";
import { deferred, type Deferred } from "./deferred.ts";

/** Options for {@link createSupervisedStart}. */
export interface SupervisedStartOptions {
  /** The unit id: the managed unit's id and the HSU_UNIT_ID the process registers with. */
  id: string;
  registrar: Registrar;
  /** The token (HSU_TOKEN in the managed unit's environment) and the last attachment. */
  record: UnitRecord;
  /** How long each spawned process has to register; past it the process is ended as failed. */
  handshakeTimeoutMs: number;
  /** The deadline sent with Core Shutdown on a stop; the stop signal follows when it passes. Default 5000 ms. */
  shutdownDeadlineMs?: number;
  /** Time source of the drain deadline. Default the system clock (unref'd). */
  clock?: Clock;
}

/**
 * What an integrated unit adds to a managed unit of the supervisor: the
 * handshake of every process the supervisor spawns (its own starts and its
 * restarts alike), readiness (`markReady` once registered), re-attaching to a
 * process adopted from a previous master, and Core Shutdown as the first step
 * of every stop. Spawn, restart policy, limits, health, stop signal and output
 * stay the managed unit's.
 */
export interface SupervisedStart {
  /** The integrated unit's start: wakes the managed unit if it rests, waits for the next handshake. */
  readonly start: StartUnit;
  /** The managed unit's drain step (pass as the unit's `drain` override). */
  readonly drain: (unit: string, pid: number) => Promise<void>;
  /** Resolves with the address the process `pid` registered (rejects if it exits first): for health checks. */
  addressOf(pid: number): Promise<string>;
  /** Connects to the managed unit (created with `drain` above and `autoStart: false`); call once, before its first start. */
  bind(unit: ManagedUnit): void;
  /** The current process's handle, once it registered. */
  readonly current: UnitHandle | undefined;
  /** Stops listening to the managed unit; waiting starts fail. */
  close(): void;
}

/** One process of the unit, from the spawn the supervisor is about to make to its exit. */
interface Generation {
  pid?: number;
  info?: UnitInfo;
  pending?: PendingRegistration;
  /** Set when the process is one of a previous master, called at its recorded address. */
  reattaching?: Attachment;
  /** The handshake failed before there was a pid to end. */
  failed?: string;
  handle?: UnitHandle;
  client?: UnitClient;
  readonly exit: Deferred<ExitStatus>;
  readonly address: Deferred<string>;
}

const UP = new Set(["running", "ready"]);
const RESTING = new Set(["stopped", "exited", "failed"]);
const defaultClock = createSystemClock({ unref: true });

/** Creates the supervised start of one integrated unit; `bind` it to its managed unit before use. */
export function createSupervisedStart(options: SupervisedStartOptions): SupervisedStart {
  const { id, registrar, record } = options;
  const clock = options.clock ?? defaultClock;
  const deadlineMs = options.shutdownDeadlineMs ?? 5000;
  let unit: ManagedUnit | undefined;
  let off: (() => void) | undefined;
  let gen: Generation | undefined;
  let closed = false;
  // Starts waiting for the next handshake (or the failure of the process they wait for).
  const waiters = new Set<Deferred<UnitHandle>>();
  // An adopted process of a previous master is re-attached once, on its first spawn event.
  let previous = record.live();

  const settleWaiters = (outcome: UnitHandle | Error) => {
    for (const w of [...waiters]) {
      waiters.delete(w);
      if (outcome instanceof Error) w.reject(outcome);
      else w.resolve(outcome);
    }
  };

  const begin = () => {
    const g: Generation = { exit: deferred(), address: deferred() };
    gen = g;
    // Expected before the spawn effect runs, so even a unit that registers at once is seen.
    const pending = registrar.expect(id, record.token, options.handshakeTimeoutMs);
    g.pending = pending;
    pending.registered.then(
      (info) => {
        if (gen !== g || g.reattaching) return;
        g.info = info;
        ready(g);
      },
      (e: Error) => {
        if (gen !== g || g.reattaching || g.handle) return;
        const why = `no handshake: ${e.message}`;
        settleWaiters(new HsuError("unavailable", why, { unit: id }, { cause: e }));
        if (g.pid === undefined) g.failed = why;
        else unit?.fail(why);
      },
    );
  };

  const ready = (g: Generation) => {
    if (g.pid === undefined || !g.info || g.handle || !unit) return;
    const u = unit;
    const client: UnitClient = connectUnit(g.info.address, { token: record.token, unit: id });
    g.client = client;
    g.handle = {
      pid: g.pid,
      info: g.info,
      client,
      exited: g.exit.promise,
      stop: async () => {
        await u.stop("stopped by the integrated unit");
        return g.exit.promise;
      },
    };
    record.attach({ pid: g.pid, startTime: processStartTime(g.pid), address: g.info.address });
    g.address.resolve(g.info.address);
    u.markReady(`handshake done: serving at ${g.info.address}`);
    settleWaiters(g.handle);
  };

  const reattach = (g: Generation, a: Attachment) => {
    g.reattaching = a;
    g.pending?.cancel("re-attached to the process of the previous master");
    const client = connectUnit(a.address, { token: record.token, unit: id });
    client.info(2000).then(
      (info) => {
        if (gen !== g) return;
        g.info = info;
        ready(g);
      },
      (e: Error) => {
        if (gen !== g) return;
        const why = `the adopted process does not answer at ${a.address}: ${e.message}`;
        settleWaiters(new HsuError("unavailable", why, { unit: id }, { cause: e }));
        unit?.fail(why);
      },
    );
  };

  const end = (g: Generation, e: UnitEvent) => {
    gen = undefined;
    const exit: ExitStatus = { code: e.exitCode ?? null, signal: (e.signal ?? null) as NodeJS.Signals | null };
    const text = exit.signal ? `signal ${exit.signal}` : exit.code !== null ? `code ${exit.code}` : e.reason;
    g.pending?.cancel(`exited before registering (${text})`);
    g.exit.resolve(exit);
    if (!g.handle) {
      const error = new HsuError("unavailable", `exited before registering (${text})`, { unit: id });
      g.address.reject(error);
      settleWaiters(error);
    }
  };

  const onEvent = (e: UnitEvent) => {
    if ((e.type === "exit" || e.type === "spawn_failed") && gen) end(gen, e);
    if (e.to === "starting" && e.from !== "starting") begin();
    if (e.type === "spawned" && gen && e.pid !== undefined) {
      const g = gen;
      g.pid = e.pid;
      if (g.failed) return unit?.fail(g.failed);
      if (previous?.pid === e.pid && record.live()?.pid === e.pid) reattach(g, previous);
      else ready(g);
      previous = undefined;
    }
    // Stopped or given up on while a start waits (a start during backoff waits for the restart).
    if (e.from !== e.to && (e.to === "stopped" || e.to === "failed")) {
      settleWaiters(new HsuError("unavailable", `${e.to}: ${e.reason}`, { unit: id }));
    }
  };

  const start: StartUnit = (signal) => {
    if (!unit || closed) return Promise.reject(new HsuError("failed_precondition", "the supervised start is not bound to a managed unit", { unit: id }));
    const u = unit;
    const state = u.snapshot().state;
    if (gen?.handle && UP.has(state)) return Promise.resolve(gen.handle);
    const w = deferred<UnitHandle>();
    waiters.add(w);
    const onAbort = () => {
      waiters.delete(w);
      w.reject(signal.reason instanceof Error ? signal.reason : new Error(String(signal.reason)));
    };
    if (signal.aborted) onAbort();
    else signal.addEventListener("abort", onAbort, { once: true });
    void w.promise.then(
      () => signal.removeEventListener("abort", onAbort),
      () => signal.removeEventListener("abort", onAbort),
    );
    if (RESTING.has(state)) {
      u.start("woken by a call").catch((e: unknown) => {
        waiters.delete(w);
        w.reject(HsuError.from(e, "unavailable"));
      });
    }
    return w.promise;
  };

  const drain = async (_unit: string, pid: number): Promise<void> => {
    const g = gen;
    if (!g?.client || g.pid !== pid) return; // never registered: nothing to drain, the stop signal goes now
    const asked = await g.client.shutdown(deadlineMs, "stopped by the master").then(
      () => true,
      () => false, // refused or unreachable: straight to the stop signal
    );
    if (!asked) return;
    let timer: Timer | undefined;
    await Promise.race([g.exit.promise, new Promise<void>((resolve) => (timer = clock.setTimer(deadlineMs, resolve)))]);
    timer?.cancel();
  };

  return {
    start,
    drain,
    addressOf(pid) {
      if (gen?.pid === pid) return gen.address.promise;
      return Promise.reject(new HsuError("unavailable", `pid ${pid} is not the unit's current process`, { unit: id }));
    },
    bind(u) {
      if (unit) throw new HsuError("failed_precondition", "already bound to a managed unit", { unit: id });
      // A spawn before bind would go unseen (no handshake expected): the managed unit must be created with autoStart: false.
      if (!RESTING.has(u.snapshot().state)) {
        throw new HsuError("failed_precondition", `bind before the managed unit starts (it is ${u.snapshot().state}); add it with autoStart: false`, { unit: id });
      }
      unit = u;
      off = u.onEvent(onEvent);
    },
    get current() {
      return gen?.handle;
    },
    close() {
      closed = true;
      off?.();
      gen?.pending?.cancel("the unit was removed");
      settleWaiters(new HsuError("unavailable", "the unit was removed", { unit: id }));
    },
  };
}
