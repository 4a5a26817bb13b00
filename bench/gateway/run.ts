// REST through the HSU gateway vs grpc-gateway (Go) vs gRPC through the
// master vs gRPC straight to the unit, on one Go echo unit, side by side in
// one run: p50/p99 and calls/s at 32 in flight, the median of several
// rounds (sides interleaved, warm-up excluded), as ratios to grpc-gateway.
//
//   bash bench/gateway/setup.sh      # once: builds grpc-gateway and the Go echo unit
//   node --conditions=@hsu/source bench/gateway/run.ts [--quick] [--rounds=5] [--calls=20000] [--sides=a,b] ...
//
// The HSU gateway rows need packages/gateway's executable (src/main.ts); on
// a checkout without it they print "not available" and the rest is measured.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { connectMaster } from "@hsu/client";
import type { LoadSpec } from "./load.ts";
import {
  binDir,
  buildDescriptors,
  freePort,
  gatewayCommand,
  startGrpcGateway,
  startLoadWorker,
  startMaster,
  specYaml,
  tail,
  unitCommand,
  waitForRest,
  type MasterSide,
  type RestServer,
} from "./sides.ts";
import { parseArgs, roundOrder, sideNames, summarize, table, type RoundResult, type SideName } from "./summary.ts";

const opts = parseArgs(process.argv.slice(2));
const unit = unitCommand(opts.unit);
const message = "hello, unit 0001";
const wantsGateway = opts.sides.some((s) => s === "gateway-rest" || s === "gateway-connect");
const missing = new Map<SideName, string>();
const notAvailable = (why: string) => {
  // The table keeps the first 300 characters; stderr has all of it.
  const short = why.length > 300 ? `${why.slice(0, 300)}...` : why;
  for (const s of ["gateway-rest", "gateway-connect"] as const) if (opts.sides.includes(s)) missing.set(s, short);
  process.stderr.write(`gateway: not available (${why})\n`);
};

const dir = mkdtempSync(join(tmpdir(), "hsu-gwb-"));
const load0 = loadavg();
let master: MasterSide | undefined;
let grpcGateway: RestServer | undefined;
const worker = startLoadWorker();
const rounds = new Map<SideName, RoundResult[]>();
const started = performance.now();
try {
  // The master, with the gateway unit when this checkout has one; a master that refuses the gateway block is retried without it.
  let gatewayUrl: string | undefined;
  const gw0 = wantsGateway ? gatewayCommand(opts.hsu) : undefined;
  // --cpu-prof goes before the script: the profile is written when the gateway exits on the master's SIGTERM.
  const gw =
    gw0 && !("missing" in gw0) && opts.profile
      ? { ...gw0, args: [`--cpu-prof`, `--cpu-prof-dir=${resolve(opts.profile)}`, ...gw0.args] }
      : gw0;
  if (gw && "missing" in gw) notAvailable(gw.missing);
  if (gw && !("missing" in gw)) {
    const port = await freePort();
    const descriptors = join(dir, "echo.binpb");
    buildDescriptors(descriptors);
    try {
      // Relative to hsu.yaml, which sits beside it.
      master = await startMaster(dir, specYamlFor({ ...gw, port, descriptors: "echo.binpb" }), opts.hsu);
      gatewayUrl = `http://127.0.0.1:${port}`;
    } catch (e) {
      notAvailable(`the master did not start with the gateway unit: ${(e as Error).message.split("\n").slice(0, 3).join(" ")}`);
    }
  }
  master ??= await startMaster(dir, specYamlFor(undefined), opts.hsu);
  const m = master;
  if (gatewayUrl) {
    const why = await waitForRest(gatewayUrl, 30_000, () => undefined);
    if (why) {
      notAvailable(`the gateway unit does not serve REST: ${why}`);
      process.stderr.write(`the master's log (${join(dir, "master.log")}, removed at the end):\n${tail(join(dir, "master.log"))}\n`);
      gatewayUrl = undefined;
    }
  }
  if (opts.sides.includes("grpc-gateway")) {
    grpcGateway = await startGrpcGateway(join(binDir, "grpc-gateway"), m.unitAddress);
    const why = await waitForRest(grpcGateway.url, 10_000, () => undefined);
    if (why) throw new Error(`grpc-gateway does not answer: ${why}`);
  }

  // Which processes serve each side, for the serving CPU per call.
  const pids = await servingPids(m);
  const specs = new Map<SideName, LoadSpec>();
  const base = { unit: "echo", message, warmup: opts.warmup, sequential: opts.sequential, calls: opts.calls, concurrency: opts.concurrency, maxMs: opts.maxMs };
  if (grpcGateway) specs.set("grpc-gateway", { ...base, kind: "rest", target: grpcGateway.url });
  if (gatewayUrl) specs.set("gateway-rest", { ...base, kind: "rest", target: gatewayUrl });
  if (gatewayUrl) specs.set("gateway-connect", { ...base, kind: "connect-json", target: gatewayUrl });
  specs.set("master-grpc", { ...base, kind: "grpc-master", target: m.socket });
  specs.set("direct-grpc", { ...base, kind: "grpc-unit", target: m.unitAddress });
  const serving: Record<SideName, number[]> = {
    "grpc-gateway": [grpcGateway?.pid ?? 0, pids.unit],
    "gateway-rest": [pids.gateway, m.pid, pids.unit],
    "gateway-connect": [pids.gateway, m.pid, pids.unit],
    "master-grpc": [m.pid, pids.unit],
    "direct-grpc": [pids.unit],
  };

  const measured = opts.sides.filter((s) => specs.has(s));
  for (let round = 0; round < opts.rounds; round++) {
    for (const side of roundOrder(measured, round)) {
      const cpu0 = serving[side].map(processCpuUs);
      const r = await worker.run(specs.get(side)!);
      r.serverCpuUsPerCall = serving[side].map((pid, i) => processCpuUs(pid) - cpu0[i]!).reduce((a, b) => a + b, 0) / r.totalCalls;
      if (r.errors > 0) throw new Error(`${side}: ${r.errors} failed calls in round ${round + 1}, the first: ${r.firstError}`);
      process.stderr.write(`  round ${round + 1} ${side}: p50 ${r.p50us.toFixed(0)} us, p99 ${r.p99us.toFixed(0)} us, ${Math.round(r.callsPerSec)} calls/s\n`);
      rounds.set(side, [...(rounds.get(side) ?? []), r]);
    }
  }
  report(measured);
} finally {
  await worker.close();
  await grpcGateway?.stop();
  await master?.stop();
  rmSync(dir, { recursive: true, force: true });
}

function specYamlFor(gateway: { command: string; args: string[]; port: number; descriptors: string } | undefined): string {
  return specYaml({ unitCommand: unit.command, unitArgs: unit.args, listen: opts.listen, ...(gateway ? { gateway } : {}) });
}

async function servingPids(m: MasterSide): Promise<{ unit: number; gateway: number }> {
  const c = await connectMaster({ socket: m.socket, connectTimeoutMs: 5000 });
  try {
    const { units } = await c.control.listUnits({});
    return { unit: units.find((u) => u.id === "echo")?.pid ?? 0, gateway: units.find((u) => u.id === "gateway")?.pid ?? 0 };
  } finally {
    c.close();
  }
}

/** User + system CPU time of a process so far, in microseconds (from /proc; 0 for pid 0 or a process that is gone). */
function processCpuUs(pid: number): number {
  if (!pid) return 0;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // USER_HZ is 100 on every Linux build Node supports.
    return ((Number(fields[11]) + Number(fields[12])) * 1e6) / 100;
  } catch {
    return 0;
  }
}

function report(measured: SideName[]): void {
  const summaries = new Map(measured.map((s) => [s, summarize(rounds.get(s)!)] as const));
  const load1 = loadavg();
  const seconds = ((performance.now() - started) / 1000).toFixed(0);
  process.stdout.write(
    [
      `Machine: ${cpus().length} x ${cpus()[0]?.model ?? "?"}, Node ${process.version}, echo unit: ${unit.what} (listen: ${opts.listen}), master from ${opts.hsu === "source" ? "the TypeScript sources" : "packages/master/dist"}. ` +
        `${opts.rounds} rounds, sides interleaved (rotated each round); per side and round ${opts.warmup} warm-up calls, ${opts.sequential} sequential, then ${opts.calls} calls (at most ${opts.maxMs} ms) at ${opts.concurrency} in flight; the median of the rounds per metric. ` +
        `Load average ${load0.map((l) => l.toFixed(2)).join(" ")} before, ${load1.map((l) => l.toFixed(2)).join(" ")} after; ${seconds} s.`,
      "",
      table(summaries, missing, sideNames.filter((s) => opts.sides.includes(s))),
      "",
      "Ratios are against grpc-gateway, above 1.00 is better: p50/p99 as grpc-gateway's latency / this side's, throughput as this side's calls/s / grpc-gateway's. " +
        "Latency is at 32 in flight; sequential p50 is one call at a time. Serving CPU is the proxy's (grpc-gateway; or the gateway and the master) plus the unit's, per call; client CPU is the load generator's.",
      "",
    ].join("\n"),
  );
}
