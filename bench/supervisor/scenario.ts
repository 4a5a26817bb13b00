// The workload every side of the supervisor benchmark runs, and the shape of
// what each side reports. Each side runs in its own process and prints one
// SideResult JSON line.

/** Sizes of the run; `quick` shrinks them for a smoke run. */
export interface Scenario {
  units: number;
  kills: number;
  idleMs: number;
  logLines: number;
  /** Upper bound for any one wait (all running, one restart, all lines captured). */
  timeoutMs: number;
}

export function scenario(quick: boolean): Scenario {
  return quick
    ? { units: 20, kills: 3, idleMs: 3000, logLines: 50_000, timeoutMs: 30_000 }
    : { units: 100, kills: 10, idleMs: 20_000, logLines: 1_000_000, timeoutMs: 90_000 };
}

/**
 * The trivial long-running unit: `sleep` execs directly, so start-up measures
 * the supervisor, not a runtime. The odd duration lets run.ts find leftovers.
 */
export const idleUnit = { command: "sleep", args: ["1000003"] };

/**
 * The log writer: `seq` prints `lines` lines of about 80 bytes as fast as the
 * pipe takes them and exits.
 */
export function logWriter(lines: number): { command: string; args: string[] } {
  return { command: "seq", args: ["-f", "line %08.0f of the supervisor log benchmark, padded to a typical length", "1", String(lines)] };
}

/** What one side measured. */
export interface SideResult {
  side: string;
  version: string;
  /** From the first start request until every unit has a running process. */
  start100Ms: number;
  /** Kill -9 of a unit's process until its replacement process exists, one entry per kill. */
  restartMs: number[];
  /** The supervising process(es) with every unit up, sampled over the idle window. */
  idleRssKib: number;
  /** CPU of the supervising process(es) over the idle window, 100 = one core. */
  idleCpuPercent: number;
  logLines: number;
  logCaptured: number;
  logMs: number;
  /** Anything the reader should know about how this side was measured. */
  notes: string[];
}
