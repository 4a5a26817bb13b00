import type { DescService } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type Client, type Transport } from "@connectrpc/connect";
import { CoreService, Health, type UnitInfo } from "@hsu/proto";
import { createRegistrar, type Registrar } from "../core/registrar.ts";
import { callReconfigure, type ReconfigureCall, type ReconfigureResult } from "../core/unit-client.ts";
import { HsuError } from "../errors.ts";
import { createSystemClock, type Clock, type Timer } from "../clock.ts";
import { EventHub, type IntegratedEvent, type IntegratedEventType, type IntegratedListener } from "./events.ts";
import type { EarlyUnit, StartUnit, UnitHandle } from "./handle.ts";
import { createLaunchStart, type LaunchStartOptions } from "./launch-start.ts";
import { transition, type IntegratedInput, type IntegratedState } from "./lifecycle.ts";
import { createWakeTransport, type CallLease } from "./wake-transport.ts";
import { deferred, type Deferred } from "./deferred.ts";

/** How to launch the unit when no `start` function is given. */
export type IntegratedLaunchOptions = Omit<LaunchStartOptions, "id" | "registrar">;

/** Options for {@link createIntegratedUnit}. */
export interface IntegratedUnitOptions {
  /** The unit id (HSU_UNIT_ID). */
  id: string;
  /**
   * Starts the process and completes the handshake. Default: `launchUnit`
   * with `launch` and `registrar`. Swap in the supervisor's managed unit here.
   */
  start?: StartUnit;
  /** The command to launch when `start` is not given. */
  launch?: IntegratedLaunchOptions;
  /** The handshake endpoint for the default start. Default: one of its own, closed by `close()`. */
  registrar?: Registrar;
  /** How long a start may take, handshake included. Default 10 000 ms. */
  startTimeoutMs?: number;
  /** Stop the unit after this long with no call in flight. Default 300 000 ms; `Infinity` never stops it. */
  idleTimeoutMs?: number;
  /** Default start only: the drain deadline sent with Shutdown; SIGTERM follows when it passes. Default 5000 ms. */
  shutdownDeadlineMs?: number;
  /**
   * Time between SIGTERM and SIGKILL (default start), and how long an aborted
   * start may take to give up before it is abandoned. Default 2000 ms.
   */
  killGraceMs?: number;
  /** Time source for the idle, start and stop timers. Default the system clock. */
  clock?: Clock;
}

/** A unit started on the first call, stopped when idle, and called through typed clients. */
export interface IntegratedUnit {
  readonly id: string;
  /** The current lifecycle state. */
  readonly state: IntegratedState;
  /** The running process's id, if one runs. */
  readonly pid: number | undefined;
  /** What the unit registered the last time it started. */
  readonly info: UnitInfo | undefined;
  /** Calls (including pending wake-ups and open streams) in flight right now. */
  readonly inFlight: number;
  /** A Transport that wakes the unit on demand; any generated client can use it. */
  readonly transport: Transport;
  /** Core API of the unit, through the waking transport (a Ping wakes the unit). */
  readonly core: Client<typeof CoreService>;
  /** grpc.health.v1 of the unit, through the waking transport. */
  readonly health: Client<typeof Health>;
  /** A typed client for one of the unit's domain services. */
  client<S extends DescService>(service: S): Client<S>;
  /**
   * Wakes the unit if needed and counts one call in flight until `release`:
   * for callers that talk to the unit's address directly (the master's
   * unit proxy). Rejects like a call would (UNAVAILABLE with the reason).
   */
  lease(signal?: AbortSignal): Promise<{ address: string; release(): void }>;
  /** Starts the unit now (if it is not running) and resolves with its info; the idle timer then runs. */
  start(): Promise<UnitInfo>;
  /**
   * Stops the unit now; a later call wakes it again (and waits meanwhile). With `drainMs`, calls
   * already handed the running process's address (leases) are let finish first, for at most that
   * long, before Core Shutdown: new calls wait for the next start, none reaches a process going away.
   */
  stop(options?: { drainMs?: number }): Promise<void>;
  /**
   * Core Reconfigure on the running process (never wakes it: a unit at rest
   * reads the new files when it next starts). Rejects with an HsuError:
   * `unavailable` when no process runs, `unsupported` when the unit has no
   * reload hook, `failed_precondition` when it refused the files.
   */
  reconfigure(request?: ReconfigureCall, timeoutMs?: number): Promise<ReconfigureResult>;
  /** Stops the unit for good: later calls fail with UNAVAILABLE; events end. */
  close(): Promise<void>;
  /** Calls `listener` on every event; returns the unsubscribe function. */
  on(listener: IntegratedListener): () => void;
  /** Events from now on as an async iterable; ends on `close()` or when `signal` aborts. */
  events(signal?: AbortSignal): AsyncIterable<IntegratedEvent>;
}

function validate(options: IntegratedUnitOptions): void {
  const durations = ["startTimeoutMs", "idleTimeoutMs", "shutdownDeadlineMs", "killGraceMs"] as const;
  for (const field of durations) {
    const value = options[field];
    if (value === undefined) continue;
    const ok = field === "idleTimeoutMs" ? value >= 0 : value > 0 && Number.isFinite(value);
    if (Number.isNaN(value) || !ok) {
      throw new HsuError(
        "invalid_config",
        `${value} is not a ${field === "idleTimeoutMs" ? "number of milliseconds >= 0 (Infinity: never stop when idle)" : "positive number of milliseconds"}`,
        { unit: options.id, field },
      );
    }
  }
}

function eventType(from: IntegratedState, input: IntegratedInput): IntegratedEventType {
  switch (input) {
    case "wake":
      return "starting";
    case "ready":
      return "ready";
    case "fail":
      return "start_failed";
    case "idle":
      return "idle_shutdown";
    case "stop":
      return "stopping";
    case "exit":
      return from === "stopping" ? "stopped" : "exited";
    case "close":
      return "closed";
  }
}

// Unref'd timers: a pending idle, start or stop timer never keeps the master alive.
const defaultClock = createSystemClock({ unref: true });

/**
 * Creates an integrated unit that is not running yet. The first call through
 * `client()`, `core`, `health` or `transport` starts it (one process however
 * many calls arrive together), waits for the handshake, then sends the call.
 * After `idleTimeoutMs` without a call in flight it is stopped through Core
 * Shutdown, then SIGTERM, then SIGKILL; a call arriving meanwhile waits for
 * the stop to finish and wakes it again.
 */
export function createIntegratedUnit(options: IntegratedUnitOptions): IntegratedUnit {
  validate(options);
  const id = options.id;
  const clock = options.clock ?? defaultClock;
  const startTimeoutMs = options.startTimeoutMs ?? 10_000;
  const idleTimeoutMs = options.idleTimeoutMs ?? 300_000;
  const graceMs = options.killGraceMs ?? 2000;
  const hub = new EventHub();
  let ownRegistrar: Promise<Registrar> | undefined;
  const start = options.start ?? defaultStart();

  let state: IntegratedState = "stopped";
  let handle: UnitHandle | undefined;
  let info: UnitInfo | undefined;
  let inFlight = 0;
  let idleTimer: Timer | undefined;
  let starting: Deferred | undefined;
  /** The current start's socket once spawned (socket activation); undefined when the start ends. */
  let spawned: Promise<EarlyUnit | undefined> | undefined;
  let startAbort: AbortController | undefined;
  let stopping: Deferred | undefined;
  let closing: Promise<void> | undefined;
  /** Leases holding the running process's address (a subset of inFlight: those not waiting for a start). */
  let onProcess = 0;
  let drained: Deferred | undefined;

  function defaultStart(): StartUnit {
    if (!options.launch) {
      throw new HsuError("invalid_config", "give either `start` or `launch` (the command to run)", { unit: id, field: "launch" });
    }
    const launch = options.launch;
    const deadlineMs = options.shutdownDeadlineMs ?? 5000;
    return async (signal, onSpawned) => {
      const registrar = options.registrar ?? (await (ownRegistrar ??= createRegistrar()));
      const launched = await createLaunchStart({ killGraceMs: graceMs, clock, ...launch, id, registrar })(signal, onSpawned);
      return { ...launched, stop: () => launched.stop(deadlineMs) };
    };
  }

  /** The one place the state changes and events go out. */
  function apply(input: IntegratedInput, extra: Partial<Omit<IntegratedEvent, "type" | "unit" | "state" | "at">> = {}): void {
    const from = state;
    state = transition(state, input, id);
    hub.emit({ type: eventType(from, input), unit: id, state, at: clock.now(), ...extra });
  }

  function armIdle(): void {
    idleTimer?.cancel();
    idleTimer = undefined;
    if (!Number.isFinite(idleTimeoutMs) || state !== "running" || inFlight > 0) return;
    idleTimer = clock.setTimer(idleTimeoutMs, () => {
      idleTimer = undefined;
      if (state === "running" && inFlight === 0 && !closing) beginStop("idle");
    });
  }

  function cancelIdle(): void {
    idleTimer?.cancel();
    idleTimer = undefined;
  }

  function beginStart(): void {
    const attempt = deferred();
    const controller = new AbortController();
    starting = attempt;
    startAbort = controller;
    let onSpawned!: (early: EarlyUnit | undefined) => void;
    spawned = new Promise((resolve) => (onSpawned = resolve));
    const endSpawned = () => {
      onSpawned(undefined);
      if (starting === attempt) spawned = undefined;
    };
    apply("wake");
    const timeout = clock.setTimer(startTimeoutMs, () =>
      controller.abort(new Error(`did not complete the handshake within ${startTimeoutMs} ms (startTimeoutMs)`)),
    );
    void (async () => {
      let started: UnitHandle;
      try {
        started = await abandonAfterAbort((signal) => start(signal, onSpawned), controller.signal);
      } catch (e) {
        timeout.cancel();
        endSpawned();
        const error = startError(e, controller.signal);
        apply("fail", { error });
        attempt.reject(error);
        return;
      }
      timeout.cancel();
      endSpawned();
      handle = started;
      info = started.info;
      apply("ready", { pid: started.pid });
      void started.exited.then((exit) => {
        if (handle !== started || state !== "running") return;
        handle = undefined;
        cancelIdle();
        apply("exit", { pid: started.pid, exit });
      });
      attempt.resolve();
      armIdle();
    })();
  }

  /**
   * Runs the start; once `signal` aborts, waits at most the kill grace for it
   * to give up, and stops whatever it starts after that, so a start function
   * that ignores the signal can neither hang callers nor leak a process.
   */
  async function abandonAfterAbort(run: StartUnit, signal: AbortSignal): Promise<UnitHandle> {
    const running = Promise.resolve().then(() => run(signal));
    const abandoned = new Promise<never>((_, reject) => {
      const onAbort = () => {
        const timer = clock.setTimer(graceMs, () => reject(signal.reason));
        running.then(
          () => timer.cancel(),
          () => timer.cancel(),
        );
      };
      if (signal.aborted) onAbort();
      else signal.addEventListener("abort", onAbort, { once: true });
    });
    abandoned.catch(() => {});
    // Whenever a process comes up for an aborted start (in time or after it was given up on), stop it.
    running.then(
      (late) => {
        if (!signal.aborted) return;
        Promise.resolve()
          .then(() => late.stop())
          .catch((e: unknown) => process.emitWarning(`unit "${id}": stopping a process that came up after its start was abandoned: ${(e as Error).message}`));
      },
      // A start that fails is reported through the race below (or was already reported as timed out).
      () => {},
    );
    const h = await Promise.race([running, abandoned]);
    if (signal.aborted) throw signal.reason;
    return h;
  }

  function startError(e: unknown, signal: AbortSignal): HsuError {
    let detail = e instanceof Error ? e.message : String(e);
    // Keep one "unit" prefix and one "failed to start" however many layers reported it.
    detail = detail.replace(`unit "${id}": `, "").replace(/^failed to start: /, "");
    const timedOut = signal.aborted && signal.reason instanceof Error ? signal.reason.message : undefined;
    if (timedOut && !detail.includes(timedOut)) detail = `${timedOut}; ${detail}`;
    return new HsuError("unavailable", `failed to start: ${detail}`, { unit: id }, { cause: e });
  }

  function beginStop(input: "idle" | "stop", drainMs = 0): void {
    cancelIdle();
    const h = handle!;
    const attempt = deferred();
    stopping = attempt;
    apply(input, { pid: h.pid });
    // The handle's stop is the one escalation (Shutdown, stop signal, SIGKILL, sweep); it ends when the process is gone.
    void drainLeases(drainMs)
      .then(() => h.stop())
      .then(
        () => undefined,
        (e: unknown) => (e instanceof Error ? e : new Error(String(e))),
      )
      .then(async (error) => {
        const exit = await h.exited;
        handle = undefined;
        apply("exit", error ? { pid: h.pid, exit, error } : { pid: h.pid, exit });
        attempt.resolve();
      });
  }

  function closedError(): ConnectError {
    return new HsuError("unavailable", "the integrated unit is closed; create a new one to call it again", { unit: id }).toConnectError();
  }

  /**
   * A unary call sent on the unit's socket before the handshake: it waits in
   * the kernel's backlog and is answered as soon as the unit serves. When the
   * handshake shows the unit did not adopt the socket (it bound its own),
   * the early call is abandoned and sent again to the running unit; when the
   * start fails, the call fails with the start's error.
   */
  function earlyTransport(early: EarlyUnit, attempt: Deferred, deadline: number | undefined): Transport {
    const remaining = (timeoutMs: number | undefined) => (deadline === undefined ? timeoutMs : Math.max(1, deadline - clock.now()));
    return {
      async unary(method, signal, timeoutMs, header, input, contextValues) {
        const controller = new AbortController();
        const onAbort = () => controller.abort(signal?.reason);
        if (signal?.aborted) onAbort();
        else signal?.addEventListener("abort", onAbort, { once: true });
        try {
          const call = early.client.transport.unary(method, controller.signal, timeoutMs, header, input, contextValues);
          const first = await Promise.race([
            call.then(
              (response) => ({ response }),
              () => ({ failed: true as const }),
            ),
            early.adopted.then((adopted) => ({ adopted })),
          ]);
          if ("response" in first) return first.response;
          if ("adopted" in first ? first.adopted : await early.adopted) return await call;
          controller.abort(new Error("the unit did not adopt the master's socket"));
          call.catch(() => {});
          // Bound a socket of its own, or failed to start: the start's outcome decides.
          await waitFor(attempt.promise, signal, deadline);
          const h = state === "running" ? handle! : await waitRunning(signal, deadline);
          return await h.client.transport.unary(method, signal, remaining(timeoutMs), header, input, contextValues);
        } finally {
          signal?.removeEventListener("abort", onAbort);
        }
      },
      stream() {
        return Promise.reject(new ConnectError("streams wait for the handshake", Code.Internal));
      },
    };
  }

  /** Waits until `p` settles, the caller aborts, or the caller's deadline passes. */
  function waitFor<T>(p: Promise<T>, signal: AbortSignal | undefined, deadline: number | undefined): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let timer: Timer | undefined;
      const cleanup = () => {
        timer?.cancel();
        signal?.removeEventListener("abort", onAbort);
      };
      const onAbort = () => {
        cleanup();
        reject(ConnectError.from(signal?.reason ?? new Error("aborted"), Code.Canceled));
      };
      if (signal?.aborted) return onAbort();
      signal?.addEventListener("abort", onAbort, { once: true });
      if (deadline !== undefined) {
        timer = clock.setTimer(deadline - clock.now(), () => {
          cleanup();
          reject(new ConnectError(`unit "${id}" was not running before the call's deadline (it was ${state})`, Code.DeadlineExceeded));
        });
      }
      p.then(
        (value) => {
          cleanup();
          resolve(value);
        },
        (e: unknown) => {
          cleanup();
          reject(HsuError.from(e, "unavailable").toConnectError());
        },
      );
    });
  }

  /** Resolves once no lease holds the process's address, or after `ms`. */
  async function drainLeases(ms: number): Promise<void> {
    if (ms <= 0 || onProcess === 0) return;
    drained ??= deferred();
    const timer = clock.setTimer(ms, () => drained?.resolve());
    await drained.promise;
    timer.cancel();
    drained = undefined;
  }

  async function waitRunning(signal: AbortSignal | undefined, deadline: number | undefined): Promise<UnitHandle> {
    for (;;) {
      if (closing || state === "closed") throw closedError();
      switch (state) {
        case "running":
          return handle!;
        case "stopped":
          beginStart();
          break;
        case "starting":
          await waitFor(starting!.promise, signal, deadline);
          break;
        case "stopping":
          await waitFor(stopping!.promise, signal, deadline);
          break;
      }
    }
  }

  async function acquire(signal: AbortSignal | undefined, timeoutMs: number | undefined, kind: "unary" | "stream" = "stream"): Promise<CallLease> {
    if (closing || state === "closed") throw closedError();
    // Counted before waiting, so the unit cannot go idle between its handshake and this call.
    inFlight++;
    cancelIdle();
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      inFlight--;
      if (inFlight === 0) armIdle();
    };
    try {
      const deadline = timeoutMs !== undefined && timeoutMs > 0 ? clock.now() + timeoutMs : undefined;
      if (kind === "unary" && (state === "stopped" || state === "starting") && !closing) {
        if (state === "stopped") beginStart();
        const attempt = starting!;
        const early = spawned && (await waitFor(spawned, signal, deadline));
        if (early && starting === attempt) {
          const remainingMs = deadline === undefined ? timeoutMs : Math.max(1, deadline - clock.now());
          return { transport: earlyTransport(early, attempt, deadline), address: "", remainingMs, release };
        }
        // No socket passed: this start's outcome, never a second start, answers the call.
        await waitFor(attempt.promise, signal, deadline);
      }
      const h = state === "running" ? handle! : await waitRunning(signal, deadline);
      const remainingMs = deadline === undefined ? timeoutMs : Math.max(1, deadline - clock.now());
      onProcess++;
      let off = false;
      const releaseProcess = () => {
        if (!off) {
          off = true;
          if (--onProcess === 0) drained?.resolve();
        }
        release();
      };
      return { transport: h.client.transport, address: h.info.address, remainingMs, release: releaseProcess };
    } catch (e) {
      release();
      throw e;
    }
  }

  /** Settles whatever is in progress, then stops the unit if it runs. */
  async function stopNow(why: string, drainMs = 0): Promise<void> {
    for (;;) {
      switch (state) {
        case "stopped":
        case "closed":
          return;
        case "starting":
          startAbort?.abort(new Error(why));
          await starting!.promise.catch(() => {});
          break;
        case "running":
          beginStop("stop", drainMs);
          break;
        case "stopping":
          await stopping!.promise;
          break;
      }
    }
  }

  const transport = createWakeTransport({ acquire });
  return {
    id,
    get state() {
      return state;
    },
    get pid() {
      return handle?.pid;
    },
    get info() {
      return info;
    },
    get inFlight() {
      return inFlight;
    },
    transport,
    core: createClient(CoreService, transport),
    health: createClient(Health, transport),
    client: (service) => createClient(service, transport),
    async start() {
      let lease: CallLease;
      try {
        lease = await acquire(undefined, undefined);
      } catch (e) {
        // The master-facing API speaks HsuError; the ConnectError only wraps it for clients.
        throw HsuError.from(e instanceof ConnectError && HsuError.is(e.cause) ? e.cause : e, "unavailable");
      }
      lease.release();
      return info!;
    },
    async lease(signal) {
      const l = await acquire(signal, undefined);
      return { address: l.address, release: l.release };
    },
    stop: (o) => stopNow("stopped by the master while starting", o?.drainMs),
    async reconfigure(request = {}, timeoutMs = 10_000) {
      if (state !== "running") throw new HsuError("unavailable", `is ${state}, not running: nothing to reconfigure (its next start reads the new files)`, { unit: id });
      // A running unit's lease never wakes anything; it holds the idle stop off while the unit reloads.
      const lease = await acquire(undefined, undefined);
      try {
        return await callReconfigure(createClient(CoreService, lease.transport), request, timeoutMs);
      } catch (e) {
        const err = HsuError.from(e, "unavailable");
        throw new HsuError(err.code, `Reconfigure at ${lease.address} failed: ${err.message}`, { unit: id }, { cause: e });
      } finally {
        lease.release();
      }
    },
    close() {
      closing ??= (async () => {
        cancelIdle();
        await stopNow("the integrated unit is closing");
        if (state === "stopped") apply("close");
        hub.close();
        if (ownRegistrar) await (await ownRegistrar).close();
      })();
      return closing;
    },
    on: (listener) => hub.on(listener),
    events: (signal) => hub.stream(signal),
  };
}

