// The gateway bench's load generator, its own long-lived process (so the
// client's CPU is not the orchestrator's). Reads one LoadSpec JSON per stdin
// line, answers one RoundResult JSON line on stdout. Per run: warm-up at
// `concurrency` in flight (not measured, and it opens every connection),
// `sequential` calls one at a time, then a closed loop of `concurrency`
// workers sharing `calls` calls. Every phase is bounded in calls and time.
import { Agent, request } from "node:http";
import { createInterface } from "node:readline";
import { connectMaster, connectUnit } from "@hsu/client";
import { EchoService } from "../../examples/echo/src/gen/hsu/examples/echo/v1/echo_pb.js";
import { quantile, type RoundResult } from "./summary.ts";

/** How to call Echo, and where. */
export interface LoadSpec {
  /**
   * "grpc-unit": gRPC to the unit's address (target = `unix:/path` or host:port);
   * "grpc-master": gRPC to the master's control socket with `hsu-unit: <unit>` (target = socket path);
   * "rest": POST <target>/v1/echo, JSON body; "connect-json": POST <target>/hsu.examples.echo.v1.EchoService/Echo, Connect unary JSON.
   */
  kind: "grpc-unit" | "grpc-master" | "rest" | "connect-json";
  target: string;
  unit: string;
  message: string;
  warmup: number;
  sequential: number;
  calls: number;
  concurrency: number;
  maxMs: number;
}

type Call = () => Promise<void>;
const callers = new Map<string, Call>();

/** An HTTP/1.1 POST of `body` that resolves once the whole answer is read; rejects on a status other than 200 or an answer without the message. */
function httpPost(url: URL, body: string, agent: Agent, message: string, extraHeaders: Record<string, string> = {}): Call {
  const payload = Buffer.from(body);
  const headers = { "content-type": "application/json", "content-length": String(payload.length), accept: "application/json", ...extraHeaders };
  return () =>
    new Promise<void>((resolve, reject) => {
      const req = request(url, { method: "POST", agent, headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("error", reject);
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          if (res.statusCode !== 200) return reject(new Error(`${url}: HTTP ${res.statusCode}: ${text.slice(0, 300)}`));
          // A real client parses the answer; checking it also proves the call reached the unit.
          const got = (JSON.parse(text) as { message?: string }).message;
          if (got !== message) return reject(new Error(`${url}: answer without the echoed message: ${text.slice(0, 300)}`));
          resolve();
        });
      });
      req.on("error", reject);
      req.end(payload);
    });
}

async function caller(spec: LoadSpec): Promise<Call> {
  const key = `${spec.kind} ${spec.target}`;
  const known = callers.get(key);
  if (known) return known;
  let call: Call;
  const check = (got: string) => {
    if (got !== spec.message) throw new Error(`${key}: answered "${got}", not the message sent`);
  };
  if (spec.kind === "grpc-unit") {
    const echo = connectUnit(spec.target).client(EchoService);
    call = async () => check((await echo.echo({ message: spec.message })).message);
  } else if (spec.kind === "grpc-master") {
    const master = await connectMaster({ socket: spec.target, connectTimeoutMs: 5000 });
    const echo = master.client(EchoService, spec.unit);
    call = async () => check((await echo.echo({ message: spec.message })).message);
  } else {
    // One keep-alive connection per call in flight, as a pooled HTTP/1.1 client has.
    const agent = new Agent({ keepAlive: true, maxSockets: spec.concurrency, keepAliveMsecs: 30_000 });
    const body = JSON.stringify({ message: spec.message });
    call =
      spec.kind === "rest"
        ? httpPost(new URL("/v1/echo", spec.target), body, agent, spec.message)
        : httpPost(new URL("/hsu.examples.echo.v1.EchoService/Echo", spec.target), body, agent, spec.message, { "connect-protocol-version": "1" });
  }
  callers.set(key, call);
  return call;
}

/** `workers` loops sharing `budget` calls until it is spent or `deadline` passes; returns the latencies (us) and elapsed ms. */
async function closedLoop(call: Call, workers: number, budget: number, deadlineMs: number, fail: (e: unknown) => void) {
  const lat = new Float64Array(budget);
  let issued = 0;
  let done = 0;
  const t0 = performance.now();
  const end = t0 + deadlineMs;
  const worker = async () => {
    while (issued < budget && performance.now() < end) {
      issued++;
      const s = process.hrtime.bigint();
      await call().catch(fail);
      lat[done++] = Number(process.hrtime.bigint() - s) / 1000;
    }
  };
  await Promise.all(Array.from({ length: workers }, worker));
  return { lat: lat.subarray(0, done).sort(), elapsedMs: performance.now() - t0 };
}

async function run(spec: LoadSpec): Promise<RoundResult> {
  const call = await caller(spec);
  let errors = 0;
  let firstError: string | undefined;
  const fail = (e: unknown) => {
    errors++;
    firstError ??= e instanceof Error ? e.message : String(e);
  };
  const warm = (await closedLoop(call, spec.concurrency, spec.warmup, spec.maxMs, fail)).lat.length;
  const seq = await closedLoop(call, 1, spec.sequential, spec.maxMs, fail);
  const cpu0 = process.cpuUsage();
  const conc = await closedLoop(call, spec.concurrency, spec.calls, spec.maxMs, fail);
  const cpu = process.cpuUsage(cpu0);
  const n = conc.lat.length;
  return {
    p50us: quantile(conc.lat, 0.5),
    p99us: quantile(conc.lat, 0.99),
    callsPerSec: (n / conc.elapsedMs) * 1000,
    seqP50us: quantile(seq.lat, 0.5),
    clientCpuUsPerCall: n ? (cpu.user + cpu.system) / n : Number.NaN,
    calls: n,
    totalCalls: n + seq.lat.length + warm,
    serverCpuUsPerCall: Number.NaN,
    errors,
    ...(firstError !== undefined ? { firstError } : {}),
  };
}

for await (const line of createInterface({ input: process.stdin })) {
  if (!line.trim()) continue;
  const spec = JSON.parse(line) as LoadSpec;
  const result = await run(spec).catch((e: unknown) => ({ error: e instanceof Error ? e.message : String(e) }));
  process.stdout.write(`${JSON.stringify(result)}\n`);
}
process.exit(0);
