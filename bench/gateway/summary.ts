// The gateway bench's arguments and its arithmetic: per-side medians over
// rounds, ratios against grpc-gateway, and the markdown table. Pure
// functions, so summary.test.ts checks them without starting anything.

/** Every side the bench can measure, in table order. */
export const sideNames = ["grpc-gateway", "gateway-rest", "gateway-connect", "master-grpc", "direct-grpc"] as const;
export type SideName = (typeof sideNames)[number];

/** What each side is, for the table. */
export const sideLabel: Record<SideName, string> = {
  "grpc-gateway": "grpc-gateway (Go), REST POST /v1/echo -> unit",
  "gateway-rest": "HSU gateway, REST POST /v1/echo -> unit (direct grant; the first call through the master)",
  "gateway-connect": "HSU gateway, Connect JSON POST /hsu.examples.echo.v1.EchoService/Echo -> unit (direct grant)",
  "master-grpc": "gRPC through the master (control socket, `hsu-unit: echo`) -> unit",
  "direct-grpc": "gRPC straight to the unit (floor)",
};

/** The bench's settings, from the command line. */
export interface BenchOptions {
  /** Rounds; each measures every side once, in a rotated order. */
  rounds: number;
  /** Calls in flight at once. */
  concurrency: number;
  /** Measured calls per side per round (the upper bound). */
  calls: number;
  /** Warm-up calls per side per round, not measured. */
  warmup: number;
  /** Upper bound of each measured phase, in ms. */
  maxMs: number;
  /** Sequential calls for the unloaded p50. */
  sequential: number;
  /** Where the echo unit listens (hsu.yaml `listen:`). */
  listen: "unix" | "tcp";
  /** Which master to run: the TypeScript sources or packages/master/dist. */
  hsu: "source" | "dist";
  /** Only these sides (default: all). */
  sides: readonly SideName[];
  /** The echo unit: "go" (setup.sh's build of examples/echo-go, the default), "ts" (examples/echo from source) or a binary's path. */
  unit: string;
  /** A directory for V8 CPU profiles of the gateway process (`--cpu-prof`, written when it exits at the end); off when undefined. */
  profile?: string;
}

const usage =
  "usage: node --conditions=@hsu/source bench/gateway/run.ts [--quick] [--rounds=N] [--calls=N] [--warmup=N] [--concurrency=N] " +
  "[--max-ms=N] [--sequential=N] [--listen=unix|tcp] [--hsu=source|dist] [--sides=a,b] [--unit=go|ts|BIN] [--profile=DIR]";

/** Parses the command line; throws an Error naming the bad argument and the usage. */
export function parseArgs(argv: readonly string[]): BenchOptions {
  const quick = argv.includes("--quick");
  const o: BenchOptions = {
    rounds: quick ? 2 : 5,
    concurrency: 32,
    calls: quick ? 3000 : 20_000,
    warmup: quick ? 300 : 2000,
    maxMs: quick ? 1500 : 5000,
    sequential: quick ? 200 : 1000,
    listen: "unix",
    hsu: "source",
    sides: sideNames,
    unit: "go",
  };
  const int = (name: string, v: string, min: number): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name}=${v}: expected a whole number >= ${min}; ${usage}`);
    return n;
  };
  for (const arg of argv) {
    if (arg === "--quick") continue;
    const m = /^--([a-z-]+)=(.*)$/.exec(arg);
    if (!m) throw new Error(`unknown argument "${arg}"; ${usage}`);
    const [, name, v] = m as unknown as [string, string, string];
    switch (name) {
      case "rounds": o.rounds = int(name, v, 1); break;
      case "calls": o.calls = int(name, v, 1); break;
      case "warmup": o.warmup = int(name, v, 0); break;
      case "concurrency": o.concurrency = int(name, v, 1); break;
      case "max-ms": o.maxMs = int(name, v, 100); break;
      case "sequential": o.sequential = int(name, v, 0); break;
      case "listen":
        if (v !== "unix" && v !== "tcp") throw new Error(`--listen=${v}: expected unix or tcp; ${usage}`);
        o.listen = v;
        break;
      case "hsu":
        if (v !== "source" && v !== "dist") throw new Error(`--hsu=${v}: expected source or dist; ${usage}`);
        o.hsu = v;
        break;
      case "sides": {
        const list = v.split(",").filter(Boolean);
        const bad = list.filter((s) => !(sideNames as readonly string[]).includes(s));
        if (bad.length > 0 || list.length === 0) throw new Error(`--sides=${v}: unknown side(s) ${bad.join(", ") || "(none given)"}; expected some of ${sideNames.join(", ")}`);
        o.sides = sideNames.filter((s) => list.includes(s));
        break;
      }
      case "unit": o.unit = v; break;
      case "profile":
        if (!v) throw new Error(`--profile=: expected a directory for the gateway's CPU profiles; ${usage}`);
        o.profile = v;
        break;
      default: throw new Error(`unknown argument "${arg}"; ${usage}`);
    }
  }
  return o;
}

/** What one side measured in one round. */
export interface RoundResult {
  /** Latency at `concurrency` in flight, microseconds. */
  p50us: number;
  p99us: number;
  callsPerSec: number;
  /** Latency of one call at a time, microseconds. */
  seqP50us: number;
  /** Client CPU (user + system) per measured call, microseconds. */
  clientCpuUsPerCall: number;
  /** Measured calls (the closed loop at `concurrency`). */
  calls: number;
  /** Every call of the run: warm-up, sequential and measured. */
  totalCalls: number;
  /** CPU per call (user + system, microseconds, over totalCalls) of the processes serving it: the proxy (if any) and the unit. */
  serverCpuUsPerCall: number;
  errors: number;
  firstError?: string;
}

/** The q-quantile (0..1) of an ascending-sorted array, nearest rank; NaN when empty. */
export function quantile(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i]!;
}

/** The median (the mean of the middle two for an even count); NaN when empty. */
export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** A side's figures over all its rounds: the median of each metric. */
export interface SideSummary {
  p50us: number;
  p99us: number;
  callsPerSec: number;
  seqP50us: number;
  clientCpuUsPerCall: number;
  serverCpuUsPerCall: number;
  rounds: number;
  /** calls/s of the slowest and fastest round, to show the spread. */
  minCallsPerSec: number;
  maxCallsPerSec: number;
}

/** Medians per metric over rounds (each metric on its own, as the rounds differ). */
export function summarize(rounds: readonly RoundResult[]): SideSummary {
  const of = (f: (r: RoundResult) => number) => median(rounds.map(f));
  const cps = rounds.map((r) => r.callsPerSec);
  return {
    p50us: of((r) => r.p50us),
    p99us: of((r) => r.p99us),
    callsPerSec: of((r) => r.callsPerSec),
    seqP50us: of((r) => r.seqP50us),
    clientCpuUsPerCall: of((r) => r.clientCpuUsPerCall),
    serverCpuUsPerCall: of((r) => r.serverCpuUsPerCall),
    rounds: rounds.length,
    minCallsPerSec: cps.length ? Math.min(...cps) : Number.NaN,
    maxCallsPerSec: cps.length ? Math.max(...cps) : Number.NaN,
  };
}

/** a / b to two places; "-" when either is missing or b is 0. */
export function ratio(a: number | undefined, b: number | undefined): string {
  if (a === undefined || b === undefined || !Number.isFinite(a) || !Number.isFinite(b) || b === 0) return "-";
  return (a / b).toFixed(2);
}

/**
 * The markdown table: one row per side, measured or not (a side that was not
 * measured shows why). Ratios are against grpc-gateway and read "above 1.00
 * is better than grpc-gateway": latency as its p50 / this p50, throughput as
 * this calls/s / its calls/s.
 */
export function table(results: ReadonlyMap<SideName, SideSummary>, missing: ReadonlyMap<SideName, string>, sides: readonly SideName[]): string {
  const ref = results.get("grpc-gateway");
  const rows = [
    "| side | p50 us | p99 us | calls/s | p50 ratio | p99 ratio | throughput ratio | calls/s min-max | sequential p50 us | serving CPU us/call | client CPU us/call |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
  ];
  for (const side of sides) {
    const r = results.get(side);
    if (!r) {
      rows.push(`| ${sideLabel[side]} | ${side}: not available (${missing.get(side) ?? "not measured"}) | | | | | | | | | |`);
      continue;
    }
    rows.push(
      `| ${sideLabel[side]} | ${r.p50us.toFixed(0)} | ${r.p99us.toFixed(0)} | ${Math.round(r.callsPerSec)} | ` +
        `${ratio(ref?.p50us, r.p50us)} | ${ratio(ref?.p99us, r.p99us)} | ${ratio(r.callsPerSec, ref?.callsPerSec)} | ` +
        `${Math.round(r.minCallsPerSec)}-${Math.round(r.maxCallsPerSec)} | ${r.seqP50us.toFixed(0)} | ${r.serverCpuUsPerCall.toFixed(0)} | ${r.clientCpuUsPerCall.toFixed(0)} |`,
    );
  }
  return rows.join("\n");
}

/** The order of the sides in round `round`: rotated each round so no side always runs first (or right after the same one). */
export function roundOrder<T>(sides: readonly T[], round: number): T[] {
  if (sides.length === 0) return [];
  const k = round % sides.length;
  return [...sides.slice(k), ...sides.slice(0, k)];
}
