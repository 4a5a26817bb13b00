// A local flood of idle, unauthenticated TCP connections against a real
// detached master with a 1024 fd limit: the owner keeps the Unix socket, an
// authenticated TCP caller from another address keeps the TCP port, and once
// the flood's connections have timed out, any authenticated caller gets in.
import { createClient } from "@connectrpc/connect";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { ControlService, ListUnitsRequestSchema, ListUnitsResponseSchema } from "@hsu/proto";
import { createUnitTransport } from "@hsu/transport";
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import * as http2 from "node:http2";
import * as net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { exists, hsuArgv, hsuWith, run } from "../test-support/hsu-cli.ts";
import { parseOpenFileLimit, UNTRUSTED_TIMEOUT_MS } from "./fd-budget.ts";

const FLOOD = 2000;
const token = "flood-test-control-token";

const hsu = (cwd: string, ...args: string[]) => hsuWith({ cwd, timeoutMs: 60_000 }, ...args);

let dir: string;
let masterPid: number;
let port: number;

beforeAll(async () => {
  // The flood needs more descriptors than the master has; raise this process's soft limit to its hard one.
  const own = parseOpenFileLimit(readFileSync("/proc/self/limits", "utf8"));
  if (own !== undefined && own < FLOOD + 500) execFileSync("prlimit", ["--pid", String(process.pid), `--nofile=${FLOOD + 1000}:`]);
  dir = mkdtempSync(join(tmpdir(), "hsu-flood-"));
  writeFileSync(join(dir, "token"), `${token}\n`, { mode: 0o600 });
  writeFileSync(
    join(dir, "hsu.yaml"),
    `master:
  control:
    tcp: 127.0.0.1:0
    token_file: token
units:
  steady:
    command: sh
    args: ["-c", "exec sleep 600"]
`,
  );
  const up = await run("prlimit", ["--nofile=1024:1024", process.execPath, ...hsuArgv("up", "--detach")], { cwd: dir, timeoutMs: 60_000 });
  expect(up.code, up.stderr).toBe(0);
  masterPid = Number(readFileSync(join(dir, ".hsu", "master.pid"), "utf8"));
  port = Number(readFileSync(join(dir, ".hsu", "control-tcp.addr"), "utf8").trim().split(":").pop());
}, 120_000);

afterAll(async () => {
  if (dir && existsSync(join(dir, ".hsu", "control.sock"))) await hsu(dir, "down");
  if (masterPid && exists(masterPid)) process.kill(masterPid, "SIGKILL");
  if (dir) rmSync(dir, { recursive: true, force: true });
}, 60_000);

/** A raw connection that never sends a byte; records whether the server spoke (it accepted) and when it closed. */
interface Idle {
  socket: net.Socket;
  spoke: boolean;
  closed: Promise<void>;
}
function connectIdle(): Promise<Idle> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: "127.0.0.1", port });
    const idle: Idle = { socket, spoke: false, closed: new Promise((r) => socket.once("close", () => r())) };
    socket.on("data", () => (idle.spoke = true));
    socket.on("error", () => {});
    // Settled either way: connected (then maybe closed by the master), or failed to connect.
    socket.once("connect", () => resolve(idle));
    socket.once("close", () => resolve(idle));
  });
}

const controlOverTcp = () => createClient(ControlService, createUnitTransport(`127.0.0.1:${port}`, { token, connectTimeoutMs: 5000 }));

/**
 * One authenticated ListUnits over TCP from `localAddress`, on a fresh
 * HTTP/2 connection (the transport has no source-address option, so the
 * gRPC frame is written by hand).
 */
async function listOverTcpFrom(localAddress: string): Promise<string[]> {
  const session = http2.connect(`http://127.0.0.1:${port}`, { createConnection: () => net.connect({ host: "127.0.0.1", port, localAddress }) });
  session.on("error", () => {});
  try {
    const msg = toBinary(ListUnitsRequestSchema, create(ListUnitsRequestSchema, {}));
    const frame = Buffer.alloc(5 + msg.length);
    frame.writeUInt32BE(msg.length, 1);
    Buffer.from(msg).copy(frame, 5);
    const body = await new Promise<Buffer>((resolve, reject) => {
      const req = session.request({
        ":method": "POST",
        ":path": "/hsu.master.v1.ControlService/ListUnits",
        "content-type": "application/grpc",
        te: "trailers",
        authorization: `Bearer ${token}`,
      });
      const chunks: Buffer[] = [];
      req.on("data", (d: Buffer) => chunks.push(d));
      req.on("trailers", (t) => {
        if (t["grpc-status"] !== "0") reject(new Error(`grpc-status ${String(t["grpc-status"])}: ${String(t["grpc-message"])}`));
      });
      req.on("end", () => resolve(Buffer.concat(chunks)));
      req.on("error", reject);
      req.end(frame);
    });
    return fromBinary(ListUnitsResponseSchema, body.subarray(5)).units.map((u) => u.id);
  } finally {
    session.destroy();
  }
}

describe("a flood of idle TCP connections against a master with 1024 fds", () => {
  it(`${FLOOD} idle connections: the Unix socket and authenticated TCP still answer`, async () => {
    expect(parseOpenFileLimit(readFileSync(`/proc/${masterPid}/limits`, "utf8"))).toBe(1024);
    const flood: Idle[] = [];
    try {
      // Bounded: FLOOD connections, opened 100 at a time.
      for (let i = 0; i < FLOOD; i += 100) flood.push(...(await Promise.all(Array.from({ length: Math.min(100, FLOOD - i) }, connectIdle))));
      const fdsDuring = readdirSync(`/proc/${masterPid}/fd`).length;

      // The owner, over the Unix socket, while the flood is held.
      const ps = await hsu(dir, "ps", "--json");
      expect(ps.code, ps.stderr).toBe(0);
      expect((JSON.parse(ps.stdout) as { id: string; state: string }[]).map((u) => [u.id, u.state])).toEqual([["steady", "running"]]);
      // Another local address over TCP, with the token, while the flood is held.
      expect(await listOverTcpFrom("127.0.0.2")).toEqual(["steady"]);

      const accepted = flood.filter((c) => c.spoke).length;
      const refused = flood.length - accepted;
      // Every accepted stranger is cut after the untrusted deadline: wait for all of them (bounded).
      const allClosed = Promise.all(flood.map((c) => c.closed));
      const deadline = new Promise<"late">((r) => setTimeout(() => r("late"), UNTRUSTED_TIMEOUT_MS + 15_000).unref());
      expect(await Promise.race([allClosed.then(() => "closed" as const), deadline]), "the master kept idle unauthenticated connections past its deadline").toBe("closed");
      // Now the flooding address itself gets in again, with the token.
      expect((await controlOverTcp().listUnits({})).units.map((u) => u.id)).toEqual(["steady"]);
      const fdsAfter = readdirSync(`/proc/${masterPid}/fd`).length;
      console.log(`flood: ${FLOOD} connections from 127.0.0.1: ${accepted} accepted (closed after the ${UNTRUSTED_TIMEOUT_MS} ms untrusted deadline), ${refused} refused at once; master fds: ${fdsDuring} during, ${fdsAfter} after (limit 1024)`);
      expect(accepted).toBeGreaterThan(0);
      expect(accepted).toBeLessThanOrEqual(256);
      expect(fdsDuring).toBeLessThan(1024 - 256);
    } finally {
      for (const c of flood) c.socket.destroy();
    }
  }, 120_000);
});
