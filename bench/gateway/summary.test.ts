import { describe, expect, it } from "vitest";
import { median, parseArgs, quantile, ratio, roundOrder, sideNames, summarize, table, type RoundResult, type SideName, type SideSummary } from "./summary.ts";

const round = (over: Partial<RoundResult>): RoundResult => ({
  p50us: 100,
  p99us: 1000,
  callsPerSec: 1000,
  seqP50us: 50,
  clientCpuUsPerCall: 10,
  serverCpuUsPerCall: 20,
  calls: 100,
  totalCalls: 120,
  errors: 0,
  ...over,
});

describe("parseArgs", () => {
  it("defaults to 5 rounds of 20000 calls at 32 in flight on every side, and --quick shrinks the counts", () => {
    const o = parseArgs([]);
    expect(o).toMatchObject({ rounds: 5, concurrency: 32, calls: 20_000, listen: "unix", hsu: "source", unit: "go" });
    expect(o.sides).toEqual(sideNames);
    expect(parseArgs(["--quick"])).toMatchObject({ rounds: 2, calls: 3000, concurrency: 32 });
    expect(parseArgs([]).profile).toBeUndefined();
    expect(parseArgs(["--profile=/tmp/p"]).profile).toBe("/tmp/p");
    expect(() => parseArgs(["--profile="])).toThrow(/--profile=: expected a directory/);
  });

  it("takes every flag, and keeps the sides in table order whatever order they are named in", () => {
    const o = parseArgs(["--rounds=3", "--calls=10", "--warmup=0", "--concurrency=8", "--max-ms=200", "--sequential=0", "--listen=tcp", "--hsu=dist", "--sides=direct-grpc,grpc-gateway", "--unit=/x/unit"]);
    expect(o).toMatchObject({ rounds: 3, calls: 10, warmup: 0, concurrency: 8, maxMs: 200, sequential: 0, listen: "tcp", hsu: "dist", unit: "/x/unit" });
    expect(o.sides).toEqual(["grpc-gateway", "direct-grpc"]);
  });

  it("refuses a bad value, an unknown side or flag, naming it", () => {
    expect(() => parseArgs(["--rounds=0"])).toThrow(/--rounds=0: expected a whole number >= 1/);
    expect(() => parseArgs(["--calls=1.5"])).toThrow(/--calls=1.5/);
    expect(() => parseArgs(["--concurrency=abc"])).toThrow(/--concurrency=abc/);
    expect(() => parseArgs(["--listen=udp"])).toThrow(/expected unix or tcp/);
    expect(() => parseArgs(["--sides=grpc-gateway,envoy"])).toThrow(/unknown side\(s\) envoy/);
    expect(() => parseArgs(["--sides="])).toThrow(/--sides=/);
    expect(() => parseArgs(["--fast"])).toThrow(/unknown argument "--fast"; usage/);
    expect(() => parseArgs(["--colour=red"])).toThrow(/unknown argument "--colour=red"/);
  });
});

describe("the arithmetic", () => {
  it("quantile is nearest rank on a sorted array, NaN when empty", () => {
    const s = Float64Array.from({ length: 100 }, (_, i) => i + 1);
    expect(quantile(s, 0.5)).toBe(50);
    expect(quantile(s, 0.99)).toBe(99);
    expect(quantile(s, 1)).toBe(100);
    expect(quantile([7], 0.99)).toBe(7);
    expect(quantile([], 0.5)).toBeNaN();
  });

  it("median sorts, averages the middle two of an even count, and leaves its input alone", () => {
    const v = [5, 1, 3];
    expect(median(v)).toBe(3);
    expect(v).toEqual([5, 1, 3]);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([])).toBeNaN();
  });

  it("summarize takes each metric's median on its own, and the calls/s spread", () => {
    const s = summarize([round({ p50us: 300, callsPerSec: 900 }), round({ p50us: 100, callsPerSec: 1200 }), round({ p50us: 200, callsPerSec: 1000, p99us: 5000 })]);
    expect(s).toMatchObject({ p50us: 200, p99us: 1000, callsPerSec: 1000, minCallsPerSec: 900, maxCallsPerSec: 1200, rounds: 3 });
  });

  it("ratio is a / b to two places, '-' when a side is missing or zero", () => {
    expect(ratio(3, 2)).toBe("1.50");
    expect(ratio(undefined, 2)).toBe("-");
    expect(ratio(1, 0)).toBe("-");
    expect(ratio(Number.NaN, 1)).toBe("-");
  });

  it("roundOrder rotates the sides so each one leads a round in turn", () => {
    expect(roundOrder(["a", "b", "c"], 0)).toEqual(["a", "b", "c"]);
    expect(roundOrder(["a", "b", "c"], 1)).toEqual(["b", "c", "a"]);
    expect(roundOrder(["a", "b", "c"], 5)).toEqual(["c", "a", "b"]);
    expect(roundOrder([], 3)).toEqual([]);
  });
});

describe("table", () => {
  const summary = (p50us: number, p99us: number, callsPerSec: number): SideSummary => ({ ...summarize([round({ p50us, p99us, callsPerSec })]) });

  it("puts ratios against grpc-gateway (above 1 is better) and says why a side is missing", () => {
    const results = new Map<SideName, SideSummary>([
      ["grpc-gateway", summary(1000, 4000, 2000)],
      ["master-grpc", summary(500, 8000, 3000)],
    ]);
    const out = table(results, new Map([["gateway-rest", "no executable"]]), ["grpc-gateway", "gateway-rest", "master-grpc"]);
    const rows = out.split("\n");
    expect(rows).toHaveLength(5);
    expect(rows[2]).toContain("| 1000 | 4000 | 2000 | 1.00 | 1.00 | 1.00 |");
    expect(rows[3]).toContain("gateway-rest: not available (no executable)");
    // p50 1000/500, p99 4000/8000, throughput 3000/2000.
    expect(rows[4]).toContain("| 500 | 8000 | 3000 | 2.00 | 0.50 | 1.50 |");
  });

  it("leaves the ratios out when grpc-gateway was not measured", () => {
    const out = table(new Map([["direct-grpc", summary(100, 200, 5000)]]), new Map(), ["direct-grpc"]);
    expect(out.split("\n")[2]).toContain("| 100 | 200 | 5000 | - | - | - |");
  });
});
