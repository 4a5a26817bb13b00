// The load generator, run as its own long-lived process (one per client
// stack, so a run can interleave stacks without paying process start-up per
// cell). Reads one LoadSpec JSON per stdin line, answers one LoadResult JSON
// line on stdout. Sequential calls give latency percentiles; then
// `concurrency` workers share a fixed call count for throughput. Every phase
// is bounded in calls and in time.
import * as grpc from "@grpc/grpc-js";
import { connect } from "node:net";
import { createInterface } from "node:readline";
import { connectUnit, parseAddress } from "@hsu/client";
import { CoreService, PingRequestSchema, PingResponseSchema } from "@hsu/proto";
import { EchoRequestSchema, EchoResponseSchema, EchoService } from "../../examples/echo/src/gen/hsu/examples/echo/v1/echo_pb.js";
import { createRawH2Client } from "./raw-h2.ts";
import { benchDefinition, echoText } from "./service.ts";
import { quantile } from "./stats.ts";
import * as protobuf from "@bufbuild/protobuf";
import * as connectCore from "@connectrpc/connect";
import * as connectNode from "@connectrpc/connect-node";

/** What one load run does. */
export interface LoadSpec {
  /**
   * "connect": the HSU transport (gRPC protocol); "connect-protocol": connect-node's
   * Connect protocol over the same kind of connection; "grpcjs": @grpc/grpc-js;
   * "raw-h2": the node:http2 experiment (raw-h2.ts).
   */
  client: "connect" | "connect-protocol" | "grpcjs" | "raw-h2";
  address: string;
  method: "ping" | "echo";
  warmup: number;
  sequential: number;
  total: number;
  concurrency: number;
  /** Upper bound for each phase. */
  maxMs: number;
}

/** What one load run measured. */
export interface LoadResult {
  p50us: number;
  p99us: number;
  sequentialCalls: number;
  callsPerSec: number;
  concurrentCalls: number;
  errors: number;
  firstError?: string;
  /** Open client socket handles in this process at the end (one per server reached means one shared connection each). */
  sockets: number;
  /** Servers this process has clients for. */
  servers: number;
  /** Calls in all phases (warm-up, sequential, concurrent). */
  totalCalls: number;
  /** This process's CPU time (user + system) over all phases, per call. */
  clientCpuUsPerCall: number;
}

type Call = () => Promise<unknown>;
type Calls = Record<LoadSpec["method"], Call>;

const clients = new Map<string, Calls>();

function connectCalls(address: string): Calls {
  const unit = connectUnit(address);
  const echo = unit.client(EchoService);
  return { ping: () => unit.core.ping({}), echo: () => echo.echo({ message: echoText }) };
}

// The Connect protocol over HTTP/2, for comparison only: it reaches connect
// servers (the TS unit) but not grpc-go/grpcio units, so HSU cannot use it
// for every unit.

function connectProtocolCalls(address: string): Calls {
  const parsed = parseAddress(address);
  const transport = connectNode.createConnectTransport({
    httpVersion: "2",
    useBinaryFormat: true,
    baseUrl: parsed.kind === "unix" ? "http://localhost" : `http://${parsed.host}:${parsed.port}`,
    nodeOptions: {
      createConnection: () => (parsed.kind === "unix" ? connect(parsed.path) : connect({ host: parsed.host, port: parsed.port, noDelay: true })),
    },
  });
  const core = connectCore.createClient(CoreService, transport);
  const echo = connectCore.createClient(EchoService, transport);
  return { ping: () => core.ping({}), echo: () => echo.echo({ message: echoText }) };
}

function grpcjsCalls(address: string): Calls {
  const Client = grpc.makeGenericClientConstructor(benchDefinition, "Bench");
  const client = new Client(address, grpc.credentials.createInsecure()) as unknown as Record<
    string,
    (req: unknown, cb: (err: Error | null, res: unknown) => void) => void
  >;
  const unary = (method: string, req: unknown): Call => {
    const fn = client[method]!.bind(client);
    return () => new Promise((resolve, reject) => fn(req, (err, res) => (err ? reject(err) : resolve(res))));
  };
  return {
    ping: unary("ping", protobuf.create(PingRequestSchema)),
    echo: unary("echo", protobuf.create(EchoRequestSchema, { message: echoText })),
  };
}

const factories: Record<LoadSpec["client"], (address: string) => Calls> = {
  connect: connectCalls,
  "connect-protocol": connectProtocolCalls,
  grpcjs: grpcjsCalls,
  "raw-h2": rawH2Calls,
};

function rawH2Calls(address: string): Calls {
  const unary = createRawH2Client(address);
  const ping = protobuf.create(PingRequestSchema);
  const echo = protobuf.create(EchoRequestSchema, { message: echoText });
  return {
    ping: () => unary("/hsu.core.v1.CoreService/Ping", PingRequestSchema, PingResponseSchema, ping),
    echo: () => unary("/hsu.examples.echo.v1.EchoService/Echo", EchoRequestSchema, EchoResponseSchema, echo),
  };
}

const openSockets = () => process.getActiveResourcesInfo().filter((r) => r === "PipeWrap" || r === "TCPSocketWrap").length;
// Taken at the first spec, once stdin is being read; stdout is a pipe too,
// so its handle is opened first.
void process.stdout;
let baseSockets: number | undefined;

async function run(spec: LoadSpec): Promise<LoadResult> {
  baseSockets ??= openSockets();
  let calls = clients.get(spec.address);
  if (!calls) clients.set(spec.address, (calls = factories[spec.client](spec.address)));
  const call = calls[spec.method];
  let errors = 0;
  let firstError: string | undefined;
  const fail = (e: unknown) => {
    errors++;
    firstError ??= (e as Error).message;
  };
  const cpu0 = process.cpuUsage();
  const warmEnd = performance.now() + spec.maxMs / 2;
  let warmed = 0;
  for (; warmed < spec.warmup && performance.now() < warmEnd; warmed++) await call().catch(fail);

  const lat = new Float64Array(spec.sequential);
  let n = 0;
  const seqEnd = performance.now() + spec.maxMs;
  while (n < spec.sequential && performance.now() < seqEnd) {
    const t0 = process.hrtime.bigint();
    await call().catch(fail);
    lat[n++] = Number(process.hrtime.bigint() - t0) / 1000;
  }
  const sorted = lat.subarray(0, n).sort();

  let issued = 0;
  let done = 0;
  const t0 = performance.now();
  const concEnd = t0 + spec.maxMs;
  const worker = async () => {
    while (issued < spec.total && performance.now() < concEnd) {
      issued++;
      await call().catch(fail);
      done++;
    }
  };
  await Promise.all(Array.from({ length: spec.concurrency }, worker));
  const elapsed = performance.now() - t0;
  const sockets = openSockets() - baseSockets;
  const cpu = process.cpuUsage(cpu0);
  return {
    p50us: quantile(sorted, 0.5),
    p99us: quantile(sorted, 0.99),
    sequentialCalls: n,
    callsPerSec: (done / elapsed) * 1000,
    concurrentCalls: done,
    errors,
    ...(firstError !== undefined ? { firstError } : {}),
    sockets,
    servers: clients.size,
    totalCalls: warmed + n + done,
    clientCpuUsPerCall: (cpu.user + cpu.system) / (warmed + n + done),
  };
}

for await (const line of createInterface({ input: process.stdin })) {
  if (!line.trim()) continue;
  const result = await run(JSON.parse(line) as LoadSpec);
  process.stdout.write(`${JSON.stringify(result)}\n`);
}
process.exit(0);
