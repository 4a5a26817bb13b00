import type { Clock, ResourceSamplerGroup, Timer } from "@hsu/client";

/** CPU and memory of one unit's process tree, as the last pass found them. */
export interface UnitUsage {
  /**
   * CPU since the previous pass over this process (100 = one core). A
   * process's first pass has no earlier one: then it is the average since the
   * process started.
   */
  cpuPercent: number;
  rssBytes: number;
}

/** Options of {@link createUsageOnDemand}. */
export interface UsageOnDemandOptions {
  clock: Clock;
  /** One /proc scan per pass, shared by every unit's tree. */
  samplers: ResourceSamplerGroup;
  /** The root pids of every unit that has a process now. */
  pids: () => number[];
  /** Where a failed pass is reported. */
  log: (line: string) => void;
  /** A pass younger than this is fresh enough for a request; passes run this often while asked (default 1 s). */
  intervalMs?: number;
  /** Sampling stops this long after the last request (default 10 s). */
  keepMs?: number;
}

/** The master's resource figures for `hsu ps` and the control API, sampled only while someone asks. */
export interface UsageOnDemand {
  /** The figures of `pid` from the last pass; undefined when that pass did not see it. */
  of(pid: number): UnitUsage | undefined;
  /**
   * Someone wants figures: when the last pass is older than `intervalMs` one
   * runs now, over every unit at once, and this resolves when it is done.
   * Passes then go on every `intervalMs` until `keepMs` without a request, so
   * a watcher asking once a second gets one-second CPU windows.
   */
  want(): Promise<void>;
  /** Stops sampling for good. */
  close(): void;
}

/**
 * Creates the on-demand sampler. Nothing is scheduled until the first
 * request, and nothing stays scheduled once requests stop: an idle master
 * reads nothing from /proc. (Limits are watched by the supervisor's limit
 * monitors, which sample on their own schedule only for units with limits.)
 */
export function createUsageOnDemand(options: UsageOnDemandOptions): UsageOnDemand {
  const { clock, samplers } = options;
  const intervalMs = options.intervalMs ?? 1000;
  const keepMs = options.keepMs ?? 10_000;
  let figures = new Map<number, UnitUsage>();
  let lastPassAt: number | undefined;
  let lastAskAt = 0;
  let inFlight: Promise<void> | undefined;
  let timer: Timer | undefined;
  let closed = false;

  const pass = (): Promise<void> => {
    inFlight ??= samplers
      .sampleMany(options.pids())
      .then((res) => {
        const next = new Map<number, UnitUsage>();
        for (const [pid, u] of res) if (u.alive) next.set(pid, { cpuPercent: u.cpuPercent, rssBytes: u.rssBytes });
        figures = next;
      })
      .catch((e: unknown) => options.log(`resource sampling failed: ${(e as Error).message}`))
      .finally(() => {
        lastPassAt = clock.now();
        inFlight = undefined;
      });
    return inFlight;
  };
  const tick = () => {
    timer = undefined;
    if (closed || clock.now() - lastAskAt >= keepMs) return;
    void pass();
    timer = clock.setTimer(intervalMs, tick);
  };

  return {
    of: (pid) => figures.get(pid),
    want() {
      if (closed) return Promise.resolve();
      lastAskAt = clock.now();
      timer ??= clock.setTimer(intervalMs, tick);
      if (inFlight) return inFlight;
      if (lastPassAt === undefined || clock.now() - lastPassAt >= intervalMs) return pass();
      return Promise.resolve();
    },
    close() {
      closed = true;
      timer?.cancel();
      timer = undefined;
    },
  };
}
