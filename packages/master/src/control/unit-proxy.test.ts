import { Code, createClient, type Interceptor } from "@connectrpc/connect";
import { Health, HealthCheckResponse_ServingStatus as Status } from "@hsu/proto";
import { createUnitTransport } from "@hsu/transport";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EchoService } from "../../../../examples/echo/src/gen/hsu/examples/echo/v1/echo_pb.js";
import { unitTransport } from "../cli/unit-transport.ts";
import { parseDeployment } from "../config/index.ts";
import { runMaster, type RunningMaster } from "../daemon/run.ts";

const unitScript = join(import.meta.dirname, "..", "..", "..", "..", "examples", "echo", "src", "unit.ts");
const headersScript = join(import.meta.dirname, "..", "..", "..", "..", "examples", "echo", "src", "test-fixtures", "headers-unit.ts");
const token = "control-token-that-must-stay-with-the-master";
let running: RunningMaster;
let socket: string;
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "hsu-proxy-"));
  writeFileSync(join(dir, "token"), `${token}\n`, { mode: 0o600 });
  const spec = `master:
  control:
    tcp: 127.0.0.1:0
    token_file: token
units:
  headers:
    kind: integrated
    command: ${process.execPath}
    args: ["--conditions=@hsu/source", "${headersScript}"]
  echo:
    kind: integrated
    command: ${process.execPath}
    args: ["--conditions=@hsu/source", "${unitScript}"]
    idle_timeout: 400ms
  broken:
    kind: integrated
    command: sh
    args: ["-c", "echo 'cannot open the database' >&2; exit 3"]
`;
  running = await runMaster(parseDeployment(spec, "hsu.yaml", dir), { handleSignals: false, log: () => {} });
  await running.master.up();
  socket = running.control.socketPath;
});
afterAll(async () => {
  await running.stop();
  rmSync(dir, { recursive: true, force: true });
});

const stateOf = (id: string) => running.master.get(id)[0]!.state;

describe("calls to units through the master", () => {
  it("wakes an idle unit on the first call and forwards the answer", async () => {
    expect(stateOf("echo")).toBe("idle");
    const echo = createClient(EchoService, unitTransport(socket, "echo"));
    expect(await echo.echo({ message: "through the master" })).toMatchObject({ message: "through the master", unitId: "echo" });
    expect(stateOf("echo")).toBe("ready");
  });

  it("keeps the unit up while a call is in flight, longer than the idle timeout", async () => {
    const echo = createClient(EchoService, unitTransport(socket, "echo"));
    const pid = running.master.get("echo")[0]!.pid ?? (await echo.echo({ message: "wake" }), running.master.get("echo")[0]!.pid);
    const reply = await echo.echo({ message: "slow", delayMs: 1200 });
    expect(reply.message).toBe("slow");
    expect(running.master.get("echo")[0]!.pid).toBe(pid);
  });

  it("streams: a health Watch through the master sees SERVING", async () => {
    const health = createClient(Health, unitTransport(socket, "echo"));
    const controller = new AbortController();
    const seen: Status[] = [];
    for await (const r of health.watch({ service: "" }, { signal: controller.signal })) {
      seen.push(r.status);
      controller.abort();
      break;
    }
    expect(seen).toEqual([Status.SERVING]);
  });

  it("passes a unit's own error (trailers-only) through unchanged", async () => {
    const health = createClient(Health, unitTransport(socket, "echo"));
    await expect(health.check({ service: "no.such.Service" })).rejects.toMatchObject({ code: Code.NotFound });
  });

  it("answers NOT_FOUND for an unknown unit, and UNAVAILABLE with the reason for a unit that cannot start", async () => {
    await expect(createClient(EchoService, unitTransport(socket, "ghost")).echo({ message: "x" })).rejects.toMatchObject({ code: Code.NotFound });
    const err = await createClient(EchoService, unitTransport(socket, "broken"))
      .echo({ message: "x" })
      .catch((e: unknown) => e as { code: Code; rawMessage: string });
    expect(err).toMatchObject({ code: Code.Unavailable });
    expect((err as { rawMessage: string }).rawMessage).toMatch(/exited before registering|code 3|cannot open the database/);
  });

  it("lets the unit go idle after the last call, and wakes it again", async () => {
    const echo = createClient(EchoService, unitTransport(socket, "echo"));
    await echo.echo({ message: "x" });
    const first = running.master.get("echo")[0]!.pid;
    await new Promise<void>((resolve) => {
      const off = running.master.onEvent((e) => {
        if (e.unit === "echo" && e.to === "stopped") (off(), resolve());
      });
    });
    expect(stateOf("echo")).toBe("idle");
    await echo.echo({ message: "again" });
    expect(running.master.get("echo")[0]!.pid).not.toBe(first);
  });
});

describe("what the proxy forwards to a unit", () => {
  // The headers unit answers with every request header it received.
  const seenBy = async (transport: ReturnType<typeof createUnitTransport>) =>
    JSON.parse((await createClient(EchoService, transport).echo({ message: "" })).message) as Record<string, string>;
  const metadata = (set: Record<string, string>) => ({
    interceptors: [
      ((next) => (req) => {
        for (const [k, v] of Object.entries(set)) req.header.set(k, v);
        return next(req);
      }) satisfies Interceptor,
    ],
  });
  const hostile = {
    "hsu-unit": "headers",
    cookie: "session=secret",
    "proxy-authorization": "Basic c2VjcmV0",
    "hsu-caller": "reserved for the master",
    "x-request-id": "req-42",
    "tenant-bin": Buffer.from([1, 2, 3]).toString("base64"),
  };

  it("over TCP with the control token: the unit never sees the token, custom metadata arrives", async () => {
    const tcp = running.control.tcpAddress!;
    const seen = await seenBy(createUnitTransport(tcp, { token, ...metadata(hostile) }));
    expect(Object.values(seen).join("\n")).not.toContain(token);
    for (const k of ["authorization", "proxy-authorization", "cookie", "hsu-unit", "hsu-caller", "connection", "keep-alive", "upgrade"]) expect(seen).not.toHaveProperty(k);
    expect(seen).toMatchObject({ "x-request-id": "req-42", "tenant-bin": "AQID", "content-type": expect.stringMatching(/^application\/grpc/) });
  });

  it("over the Unix socket: a caller's own authorization is not passed on either", async () => {
    // Without `hsu-caller`: the socket's owner (with it, the call would be a gateway's, authorized as its caller).
    const { "hsu-caller": _gateway, ...owner } = hostile;
    const seen = await seenBy(createUnitTransport(`unix:${socket}`, { token: "callers-own-secret", ...metadata(owner) }));
    expect(seen).not.toHaveProperty("authorization");
    expect(seen).not.toHaveProperty("cookie");
    expect(seen).not.toHaveProperty("hsu-unit");
    expect(seen["x-request-id"]).toBe("req-42");
  });

  it("over TCP without the token: refused before the unit is reached", async () => {
    const err = await createClient(EchoService, createUnitTransport(running.control.tcpAddress!, metadata({ "hsu-unit": "headers" })))
      .echo({ message: "" })
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ code: Code.Unauthenticated });
  });
});
