// RPC round trip, master -> unit: HSU (connect-node client and server) side by
// side with @grpc/grpc-js, plus the mixed pairs, over a Unix socket and TCP
// loopback, in one run. Prints markdown tables.
//
//   node --conditions=@hsu/source bench/rpc/run.ts [--quick] [--rounds=N] [--profile]
//
// --quick: a tenth of the calls (a smoke run). --rounds=N: run every cell N
// times, interleaved, and keep each cell's best (for a busy machine).
// --profile: every server and client writes a V8 CPU profile into
// .cache/bench-rpc-prof/.
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createRegistrar } from "@hsu/client";
import type { LoadResult, LoadSpec } from "./load.ts";
import { startGrpcjsServer, startHsuUnit, startLoadWorker, type BenchServer, type LoadWorker } from "./processes.ts";
import { ratio } from "./stats.ts";

type Stack = "connect" | "grpcjs" | "raw-h2";
type ClientStack = Stack | "connect-protocol";
type Net = "unix" | "tcp";
type Method = "ping" | "echo";

const quick = process.argv.includes("--quick");
const profile = process.argv.includes("--profile");
const scale = quick ? 0.1 : 1;
// --cells=a,b: only cells whose key (e.g. "unix/ping/connect->connect") contains one of these (for A/B checks).
const only = process.argv.find((a) => a.startsWith("--cells="))?.slice(8).split(",");
const rounds = Number(process.argv.find((a) => a.startsWith("--rounds="))?.slice(9) ?? 1);
const calls = {
  warmup: Math.round(500 * scale),
  sequential: Math.round(5000 * scale),
  total: Math.round(20_000 * scale),
  concurrency: 32,
  maxMs: quick ? 1000 : 2500,
};
const profDir = join(fileURLToPath(new URL("../../.cache/bench-rpc-prof/", import.meta.url)));
if (profile) mkdirSync(profDir, { recursive: true });
const flags = (who: string) => (profile ? ["--cpu-prof", `--cpu-prof-dir=${profDir}`, `--cpu-prof-name=${who}.cpuprofile`] : []);

// USER_HZ is 100 on every Linux build Node supports.
const clockTicks = 100;
const label: Record<ClientStack, string> = {
  connect: "HSU (connect-node)",
  grpcjs: "grpc-js",
  "connect-protocol": "connect-node, Connect protocol",
  "raw-h2": "raw node:http2 (experiment)",
};
const pairs: Array<[client: ClientStack, server: Stack]> = [
  ["connect", "connect"],
  ["grpcjs", "grpcjs"],
  ["connect", "grpcjs"],
  ["grpcjs", "connect"],
  ["connect-protocol", "connect"],
  ["raw-h2", "raw-h2"],
];

const registrar = await createRegistrar();
const sockDir = mkdtempSync(join(tmpdir(), "hsu-bench-rpc-"));
const servers = new Map<string, BenchServer>();
/** One measured cell: the client's result plus the server's CPU per call. */
type Cell = LoadResult & { serverCpuUsPerCall: number };
const results = new Map<string, Cell>();
const workers = new Map<ClientStack, LoadWorker>();
const load0 = loadavg()[0]!;
const key = (net: Net, method: Method, client: ClientStack, server: Stack) => `${net}/${method}/${client}->${server}`;

try {
  servers.set("connect/unix", await startHsuUnit(registrar, "bench-unix", "unix", flags("server-connect-unix")));
  servers.set("connect/tcp", await startHsuUnit(registrar, "bench-tcp", "tcp", flags("server-connect-tcp")));
  servers.set("grpcjs/unix", await startGrpcjsServer(`unix:${join(sockDir, "grpcjs.sock")}`, flags("server-grpcjs-unix")));
  servers.set("grpcjs/tcp", await startGrpcjsServer("127.0.0.1:0", flags("server-grpcjs-tcp")));
  servers.set("raw-h2/unix", await startGrpcjsServer(`unix:${join(sockDir, "raw.sock")}`, flags("server-raw-unix"), "./raw-h2-server.ts"));
  servers.set("raw-h2/tcp", await startGrpcjsServer("127.0.0.1:0", flags("server-raw-tcp"), "./raw-h2-server.ts"));
  workers.set("connect", startLoadWorker(flags("client-connect")));
  workers.set("grpcjs", startLoadWorker(flags("client-grpcjs")));
  workers.set("connect-protocol", startLoadWorker(flags("client-connect-protocol")));
  workers.set("raw-h2", startLoadWorker(flags("client-raw-h2")));
  const started = performance.now();
  for (let round = 0; round < rounds; round++) {
    for (const net of ["unix", "tcp"] as const) {
      for (const method of ["ping", "echo"] as const) {
        for (const [client, server] of pairs) {
          const k = key(net, method, client, server);
          if (only && !only.some((o) => k.includes(o))) continue;
          const spec: LoadSpec = { client, address: servers.get(`${server}/${net}`)!.address, method, ...calls };
          const serverPid = servers.get(`${server}/${net}`)!.pid;
          const cpu0 = processCpuUs(serverPid);
          const r: Cell = { ...(await workers.get(client)!.run(spec)), serverCpuUsPerCall: 0 };
          r.serverCpuUsPerCall = (processCpuUs(serverPid) - cpu0) / r.totalCalls;
          if (r.errors > 0) throw new Error(`${k}: ${r.errors} errors, first: ${r.firstError}`);
          process.stderr.write(
            `  round ${round + 1} ${k}: p50 ${r.p50us.toFixed(0)} us, ${Math.round(r.callsPerSec)} calls/s, ` +
              `cpu/call client ${r.clientCpuUsPerCall.toFixed(0)} us server ${r.serverCpuUsPerCall.toFixed(0)} us\n`,
          );
          const prev = results.get(k);
          results.set(k, prev ? best(prev, r) : r);
        }
      }
    }
  }
  if (only) printCells();
  else printReport(((performance.now() - started) / 1000).toFixed(0));
} finally {
  await Promise.allSettled([...workers.values()].map((w) => w.close()));
  await Promise.allSettled([...servers.values()].map((s) => s.stop()));
  await registrar.close();
  rmSync(sockDir, { recursive: true, force: true });
}

/** Per metric, the better of two runs of one cell. */
function best(a: Cell, b: Cell): Cell {
  return {
    ...b,
    clientCpuUsPerCall: Math.min(a.clientCpuUsPerCall, b.clientCpuUsPerCall),
    serverCpuUsPerCall: Math.min(a.serverCpuUsPerCall, b.serverCpuUsPerCall),
    p50us: Math.min(a.p50us, b.p50us),
    p99us: Math.min(a.p99us, b.p99us),
    callsPerSec: Math.max(a.callsPerSec, b.callsPerSec),
    sockets: Math.max(a.sockets, b.sockets),
  };
}

function printCells(): void {
  for (const [k, r] of results) {
    process.stdout.write(
      `${k}: p50 ${r.p50us.toFixed(0)} us, p99 ${r.p99us.toFixed(0)} us, ${Math.round(r.callsPerSec)} calls/s, ` +
        `CPU/call client ${r.clientCpuUsPerCall.toFixed(0)} us, server ${r.serverCpuUsPerCall.toFixed(0)} us, sockets ${r.sockets}/${r.servers}\n`,
    );
  }
}

/** User + system CPU time of a process so far, in microseconds (from /proc). */
function processCpuUs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return ((Number(fields[11]) + Number(fields[12])) * 1e6) / clockTicks;
}

function printReport(seconds: string): void {
  const out: string[] = [];
  out.push(
    `Machine: ${cpus().length} x ${cpus()[0]?.model ?? "?"}, Node ${process.version}. ` +
      `${calls.sequential} sequential calls after ${calls.warmup} warm-up; ${calls.total} calls at ${calls.concurrency} in flight. ` +
      `Load phase took ${seconds} s, ${rounds} round(s), best per cell; load average ${load0.toFixed(1)} before, ${loadavg()[0]!.toFixed(1)} after.${profile ? " CPU profiling was ON: absolute numbers are lower." : ""}`,
    "",
    "| transport | method | client -> server | p50 us | p99 us | calls/s (32 in flight) | client CPU us/call | server CPU us/call |",
    "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |",
  );
  for (const net of ["unix", "tcp"] as const) {
    for (const method of ["ping", "echo"] as const) {
      for (const [client, server] of pairs) {
        const r = results.get(key(net, method, client, server))!;
        out.push(
          `| ${net} | ${method} | ${label[client]} -> ${label[server]} | ${r.p50us.toFixed(0)} | ${r.p99us.toFixed(0)} | ${Math.round(r.callsPerSec)} | ${r.clientCpuUsPerCall.toFixed(0)} | ${r.serverCpuUsPerCall.toFixed(0)} |`,
        );
      }
    }
  }
  out.push(
    "",
    "Ratios HSU / grpc-js (both sides the same stack; above 1.00 means HSU is better): latency as grpc-js p50 / HSU p50, " +
      "throughput as HSU calls/s / grpc-js calls/s, CPU as grpc-js CPU per call / HSU CPU per call. The mixed columns are " +
      "the mixed pair's calls/s over grpc-js -> grpc-js. CPU per call counts every phase and does not depend on how busy the machine is.",
    "",
    "| transport | method | p50 ratio | p99 ratio | throughput ratio | connect client only (-> grpc-js server) | connect server only (grpc-js client ->) | client CPU/call ratio | server CPU/call ratio | Connect protocol, HSU both sides: throughput ratio | raw node:http2 experiment: throughput ratio | raw node:http2: client CPU/call ratio | raw node:http2: server CPU/call ratio |",
    "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
  );
  for (const net of ["unix", "tcp"] as const) {
    for (const method of ["ping", "echo"] as const) {
      const hsu = results.get(key(net, method, "connect", "connect"))!;
      const ref = results.get(key(net, method, "grpcjs", "grpcjs"))!;
      const cClient = results.get(key(net, method, "connect", "grpcjs"))!;
      const cServer = results.get(key(net, method, "grpcjs", "connect"))!;
      const cProto = results.get(key(net, method, "connect-protocol", "connect"))!;
      const raw = results.get(key(net, method, "raw-h2", "raw-h2"))!;
      out.push(
        `| ${net} | ${method} | ${ratio(ref.p50us, hsu.p50us)} | ${ratio(ref.p99us, hsu.p99us)} | ${ratio(hsu.callsPerSec, ref.callsPerSec)} | ` +
          `${ratio(cClient.callsPerSec, ref.callsPerSec)} | ${ratio(cServer.callsPerSec, ref.callsPerSec)} | ` +
          `${ratio(ref.clientCpuUsPerCall, hsu.clientCpuUsPerCall)} | ${ratio(ref.serverCpuUsPerCall, hsu.serverCpuUsPerCall)} | ${ratio(cProto.callsPerSec, ref.callsPerSec)} | ` +
          `${ratio(raw.callsPerSec, ref.callsPerSec)} | ${ratio(ref.clientCpuUsPerCall, raw.clientCpuUsPerCall)} | ${ratio(ref.serverCpuUsPerCall, raw.serverCpuUsPerCall)} |`,
      );
    }
  }
  const extra = [...results.values()].filter((r) => r.sockets > r.servers);
  out.push(
    "",
    extra.length === 0
      ? "Connections: every client kept one connection per server for all its calls."
      : `Connections: ${extra.length} cell(s) ended with more sockets than servers (${[...results].filter(([, r]) => r.sockets > r.servers).map(([k, r]) => `${k} ${r.sockets}/${r.servers}`).join(", ")}).`,
  );
  process.stdout.write(`${out.join("\n")}\n`);
}
