import { createFileRegistry, fromBinary } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-web";
import { execFile, spawn } from "node:child_process";
import { copyFileSync, mkdtempSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import * as http from "node:http";
import * as net from "node:net";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "./test-support/free-port.ts";
import { createProjects, hsu, until } from "../../master/src/test-support/hsu-cli.ts";
import { EchoService } from "../../../examples/echo/src/gen/hsu/examples/echo/v1/echo_pb.js";
import { issue, makeCa } from "../../transport/src/test-support/certs.ts";

// The gateway as a unit of a real master (`hsu up` from source): curl and
// Connect/gRPC-Web clients call the TS echo unit through it, waking it on the
// first call; hostile requests get clear HTTP errors and never reach the unit.
const root = join(import.meta.dirname, "..", "..", "..");
const echoUnit = join(root, "examples", "echo", "src", "unit.ts");
const gatewayMain = join(import.meta.dirname, "main.ts");
const projects = createProjects("hsu-gateway-");
let dir: string;
let base: string;
let port: number;

const sh = promisify(execFile);

/** Runs curl; returns the status (from -w) and the body. Never throws on an HTTP error. */
async function curl(...args: string[]): Promise<{ status: number; body: string; headers: string }> {
  const { stdout } = await sh("curl", ["-sS", "--max-time", "20", "-D", "-", "-o", "-", "-w", "\n%{http_code}", ...args], { maxBuffer: 16 * 1024 * 1024 });
  const cut = stdout.lastIndexOf("\n");
  const status = Number(stdout.slice(cut + 1));
  const all = stdout.slice(0, cut);
  const split = all.lastIndexOf("\r\n\r\n");
  return { status, headers: all.slice(0, split), body: all.slice(split + 4) };
}

beforeAll(async () => {
  port = await freePort();
  base = `http://127.0.0.1:${port}`;
  dir = projects.make("units: {}\n");
  await sh("npx", ["buf", "build", join(root, "examples", "echo", "proto"), "-o", join(dir, "echo.binpb")], { cwd: root });
  await sh("npx", ["buf", "build", join(root, "proto"), "--path", join(root, "proto", "grpc", "health", "v1", "health.proto"), "-o", join(dir, "health.binpb")], { cwd: root });
  const spec = `units:
  echo:
    kind: integrated
    command: ${process.execPath}
    args: ["--conditions=@hsu/source", "${echoUnit}"]
  gateway:
    command: ${process.execPath}
    args: ["--conditions=@hsu/source", "${gatewayMain}"]
    gateway:
      listen: 127.0.0.1:${port}
      routes:
        - unit: echo
          descriptors: [echo.binpb, health.binpb]
          auth: none
        - unit: echo
          descriptors: echo.binpb
          prefix: /private
      cors: { origins: ["http://127.0.0.1:3000"], headers: [x-trace], max_age: 10m }
      limits: { max_body: 64KiB, timeout: 5s, header_timeout: 1s, rate: { requests: 100, per: 1s, burst: 1000 } }
`;
  writeFileSync(join(dir, "hsu.yaml"), spec);
  const up = await hsu(dir, "up", "--detach");
  expect(up.code, up.stderr + up.stdout).toBe(0);
  await until("the gateway answers /healthz", async () => (await fetch(`${base}/healthz`).catch(() => undefined))?.ok === true);
});

afterAll(async () => {
  if (dir) await hsu(dir, "down");
  projects.removeAll();
});

const echoPath = "/hsu.examples.echo.v1.EchoService/Echo";

async function echoState(): Promise<string> {
  const r = await hsu(dir, "ps", "--json");
  const units = JSON.parse(r.stdout) as { id: string; state: string }[] | { units: { id: string; state: string }[] };
  const list = Array.isArray(units) ? units : units.units;
  return list.find((u) => u.id === "echo")?.state ?? "?";
}

describe("Connect through a real master", () => {
  it("wakes the sleeping echo unit on the first JSON call (HTTP/1.1)", async () => {
    expect(await echoState()).not.toMatch(/running|ready/);
    const r = await curl("-H", "content-type: application/json", "-d", '{"message":"hi"}', `${base}${echoPath}`);
    expect(r.status, r.body).toBe(200);
    expect(JSON.parse(r.body)).toEqual({ message: "hi", unitId: "echo" });
    expect(await echoState()).toMatch(/running|ready/);
  });
});

describe("REST through a real master", () => {
  it("answers the annotated routes of the echo proto (POST body and GET path variable) and serves the OpenAPI document", async () => {
    const post = await curl("-H", "content-type: application/json", "-d", '{"message":"rest"}', `${base}/v1/echo`);
    expect(post.status, post.body).toBe(200);
    expect(JSON.parse(post.body)).toEqual({ message: "rest", unitId: "echo" });
    const get = await curl(`${base}/v1/echo/hello%20world`);
    expect(get.status, get.body).toBe(200);
    expect(JSON.parse(get.body).message).toBe("hello world");
    const missing = await curl(`${base}/v1/nothing`);
    expect(missing.status).toBe(404);
    expect(JSON.parse(missing.body).code).toBe(5);
  });
});

/** The first `n` bytes-worth of lines a streaming curl prints, then curl is stopped. */
function curlStream(until: (out: string) => boolean, ...args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = spawn("curl", ["-sS", "-N", "--max-time", "20", ...args]);
    let out = "";
    const timer = setTimeout(() => (c.kill(), reject(new Error(`no stream after 20 s: ${JSON.stringify(out)}`))), 20_000);
    c.stdout.on("data", (d: Buffer) => {
      out += d.toString();
      if (until(out)) {
        clearTimeout(timer);
        c.kill();
        resolve(out);
      }
    });
    c.on("exit", () => (clearTimeout(timer), until(out) ? resolve(out) : reject(new Error(`curl ended: ${JSON.stringify(out)}`))));
  });
}

/** One HTTP/1.1 request from a given local address, keep-alive agent per address. */
function from(agent: http.Agent, path: string): Promise<{ status: number; retryAfter: string | undefined }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port, path, method: "GET", agent }, (res) => {
      res.resume();
      res.on("end", () => resolve({ status: res.statusCode!, retryAfter: res.headers["retry-after"] as string | undefined }));
    });
    req.on("error", reject);
    req.end();
  });
}

describe("every protocol", () => {
  const registry = () => createFileRegistry(fromBinary(FileDescriptorSetSchema, readFileSync(join(dir, "health.binpb"))));

  it("Connect binary (application/proto) and JSON over HTTP/2 prior knowledge", async () => {
    const client = createClient(EchoService, createConnectTransport({ baseUrl: base, useBinaryFormat: true, fetch }));
    expect(await client.echo({ message: "binary" })).toMatchObject({ message: "binary", unitId: "echo" });
    const r = await curl("--http2-prior-knowledge", "-H", "content-type: application/json", "-d", '{"message":"h2"}', `${base}${echoPath}`);
    expect(r.status, r.body).toBe(200);
    expect(r.headers).toMatch(/^HTTP\/2 200/);
    expect(JSON.parse(r.body)).toEqual({ message: "h2", unitId: "echo" });
  });

  it("gRPC-Web with connect-web's transport (binary), and Connect JSON with createConnectTransport", async () => {
    const web = createClient(EchoService, createGrpcWebTransport({ baseUrl: base, useBinaryFormat: true, fetch }));
    expect(await web.echo({ message: "web" })).toMatchObject({ message: "web", unitId: "echo" });
    const json = createClient(EchoService, createConnectTransport({ baseUrl: base, fetch }));
    expect(await json.echo({ message: "json" })).toMatchObject({ message: "json", unitId: "echo" });
  });

  it("server streaming: Health/Watch as Connect envelopes and gRPC-Web frames", async () => {
    const health = registry().getService("grpc.health.v1.Health")!;
    for (const transport of [createConnectTransport({ baseUrl: base, fetch }), createGrpcWebTransport({ baseUrl: base, useBinaryFormat: true, fetch })]) {
      const ac = new AbortController();
      const client = createClient(health, transport) as unknown as { watch(req: object, o: { signal: AbortSignal }): AsyncIterable<unknown> };
      for await (const m of client.watch({ service: "" }, { signal: ac.signal })) {
        expect((m as { status: number }).status).toBe(1); // SERVING
        ac.abort();
        break;
      }
    }
  });

  it("server streaming as NDJSON and as SSE to curl", async () => {
    const path = `${base}/grpc.health.v1.Health/Watch`;
    const nd = await curlStream((o) => o.includes("\n"), "-H", "accept: application/x-ndjson", "-H", "content-type: application/json", "-d", '{"service":""}', path);
    expect(JSON.parse(nd.split("\n")[0]!)).toEqual({ status: "SERVING" });
    const sse = await curlStream((o) => o.includes("\n\n"), "-H", "accept: text/event-stream", `${path}?message=${encodeURIComponent("{}")}`);
    expect(sse.split("\n\n")[0]).toBe('data: {"status":"SERVING"}');
  });

  it("errors: a unary one as Connect JSON; a stream cut by its deadline ends NDJSON and SSE with it", async () => {
    const path = `${base}/grpc.health.v1.Health/Watch`;
    // A service the unit does not know: Watch answers SERVICE_UNKNOWN and keeps the stream open (grpc.health.v1), so ask Check of an unknown one.
    const r = await curl("-H", "content-type: application/json", "-d", '{"service":"no.such.Service"}', `${base}/grpc.health.v1.Health/Check`);
    expect(r.status).toBe(404);
    expect(JSON.parse(r.body)).toMatchObject({ code: "not_found" });
    const nd = await curlStream((o) => o.includes("\n"), "-H", "accept: application/x-ndjson", "-H", "content-type: application/json", "-d", '{"service":"no.such.Service"}', path);
    expect(JSON.parse(nd.split("\n")[0]!)).toEqual({ status: "SERVICE_UNKNOWN" });
    // The client's own deadline ends the stream mid-way: the last NDJSON line, or an SSE error event, says so.
    const ended = await curlStream((o) => o.includes("error"), "-H", "connect-timeout-ms: 500", "-H", "accept: application/x-ndjson", "-H", "content-type: application/json", "-d", "{}", path);
    const lines = ended.trim().split("\n").map((l) => JSON.parse(l));
    expect(lines[0]).toEqual({ status: "SERVING" });
    expect(lines.at(-1)).toEqual({ error: { code: "deadline_exceeded", message: expect.any(String) } });
    const sse = await curlStream((o) => o.includes("event: error"), "-H", "connect-timeout-ms: 500", "-H", "accept: text/event-stream", `${path}?message=%7B%7D`);
    expect(sse).toMatch(/event: error\ndata: \{"code":"deadline_exceeded"/);
  });

  it("CORS: an allowed origin's preflight gets the headers, another origin is refused", async () => {
    const ok = await curl("-X", "OPTIONS", "-H", "origin: http://127.0.0.1:3000", "-H", "access-control-request-method: POST", "-H", "access-control-request-headers: content-type, x-trace", `${base}${echoPath}`);
    expect(ok.status).toBe(204);
    expect(ok.headers).toMatch(/access-control-allow-origin: http:\/\/127\.0\.0\.1:3000/i);
    expect(ok.headers).toMatch(/access-control-max-age: 600/i);
    const bad = await curl("-X", "OPTIONS", "-H", "origin: http://evil.example", "-H", "access-control-request-method: POST", `${base}${echoPath}`);
    expect(bad.status).toBe(403);
    const simple = await curl("-H", "origin: http://127.0.0.1:3000", "-H", "content-type: application/json", "-d", "{}", `${base}${echoPath}`);
    expect(simple.headers).toMatch(/access-control-expose-headers: .*grpc-status/i);
  });
});

describe("more of the protocols", () => {
  it("Connect unary GET with ?message= (JSON, and base64 binary)", async () => {
    const r = await curl(`${base}${echoPath}?encoding=json&message=${encodeURIComponent('{"message":"get"}')}`);
    expect(r.status, r.body).toBe(200);
    expect(JSON.parse(r.body)).toEqual({ message: "get", unitId: "echo" });
    // EchoRequest{message: "b"}: field 1, length 1, "b".
    const b64 = Buffer.from([0x0a, 0x01, 0x62]).toString("base64url");
    const p = await curl(`${base}${echoPath}?encoding=proto&base64=1&message=${b64}`);
    expect(p.status).toBe(200);
    expect(p.headers).toMatch(/content-type: application\/proto/i);
  });

  it("gRPC-Web text (base64) with curl: the message and the trailer frame", async () => {
    const frame = Buffer.concat([Buffer.from([0, 0, 0, 0, 3]), Buffer.from([0x0a, 0x01, 0x74])]);
    const r = await curl("-H", "content-type: application/grpc-web-text", "-H", "x-grpc-web: 1", "--data-binary", frame.toString("base64"), `${base}${echoPath}`);
    expect(r.status).toBe(200);
    const body = Buffer.from(r.body, "base64");
    expect(body[0]).toBe(0);
    expect(body.subarray(5, 5 + body.readUInt32BE(1)).toString("latin1")).toContain("t");
    expect(body.toString("latin1")).toContain("grpc-status: 0");
  });

  it("a route with auth: required refuses a call without credentials (401) before it reaches the master", async () => {
    const r = await curl("-H", "content-type: application/json", "-d", "{}", `${base}/private${echoPath}`);
    expect(r.status).toBe(401);
    expect(JSON.parse(r.body)).toMatchObject({ code: "unauthenticated", message: expect.stringMatching(/Authorization: Bearer/) });
    // The master decides: a made-up bearer is 401 with its reason, a caller token of the unit passes, a viewer token is 403.
    const made_up = await curl("-H", "authorization: Bearer anything", "-H", "content-type: application/json", "-d", '{"message":"p"}', `${base}/private${echoPath}`);
    expect(made_up.status, made_up.body).toBe(401);
    expect(JSON.parse(made_up.body).message).toMatch(/neither an API token/);
    const token = async (...args: string[]) => {
      const r = await hsu(dir, "token", "create", "--name", `t${args.join("")}`, ...args);
      expect(r.code, r.stderr + r.stdout).toBe(0);
      return /hsu_[0-9a-f]+_[A-Za-z0-9_-]+/.exec(r.stdout)![0];
    };
    const caller = await token("--role", "caller", "--unit", "echo");
    const with_ = await curl("-H", `authorization: Bearer ${caller}`, "-H", "content-type: application/json", "-d", '{"message":"p"}', `${base}/private${echoPath}`);
    expect(with_.status, with_.body).toBe(200);
    const viewer = await token("--role", "viewer");
    const denied = await curl("-H", `authorization: Bearer ${viewer}`, "-H", "content-type: application/json", "-d", '{"message":"p"}', `${base}/private${echoPath}`);
    expect(denied.status, denied.body).toBe(403);
    const audit = await hsu(dir, "audit", "--json");
    expect(audit.stdout).toMatch(/EchoService\/Echo/);
  });

  it("a connect-protocol-version other than 1 is refused", async () => {
    const r = await curl("-H", "connect-protocol-version: 2", "-H", "content-type: application/json", "-d", "{}", `${base}${echoPath}`);
    expect(r.status).toBe(400);
    expect(JSON.parse(r.body).message).toMatch(/connect-protocol-version 2/);
  });
});

describe("hostile input", () => {
  it("an oversized body: 413 with the limit named, and the gateway keeps serving", async () => {
    const big = join(dir, "big.json");
    writeFileSync(big, JSON.stringify({ message: "x".repeat(200 * 1024) }));
    const r = await curl("-H", "content-type: application/json", "--data-binary", `@${big}`, `${base}${echoPath}`);
    expect(r.status).toBe(413);
    expect(JSON.parse(r.body).message).toMatch(/at most 65536/);
    const chunked = await curl("-H", "content-type: application/json", "-H", "transfer-encoding: chunked", "--data-binary", `@${big}`, `${base}${echoPath}`);
    expect(chunked.status).toBe(413);
    expect((await curl("-H", "content-type: application/json", "-d", "{}", `${base}${echoPath}`)).status).toBe(200);
  });

  it("malformed JSON: 400 naming the field; invalid JSON: 400", async () => {
    const r = await curl("-H", "content-type: application/json", "-d", '{"delay_ms":"soon"}', `${base}${echoPath}`);
    expect(r.status).toBe(400);
    expect(JSON.parse(r.body)).toMatchObject({ code: "invalid_argument", message: expect.stringMatching(/delay_ms/) });
    const broken = await curl("-H", "content-type: application/json", "-d", '{"message":', `${base}${echoPath}`);
    expect(broken.status).toBe(400);
    const unknown = await curl("-H", "content-type: application/json", "-d", '{"nope":1}', `${base}${echoPath}`);
    expect(unknown.status).toBe(400);
    expect(JSON.parse(unknown.body).message).toMatch(/nope/);
  });

  it("an unknown method or service: 404", async () => {
    const m = await curl("-H", "content-type: application/json", "-d", "{}", `${base}/hsu.examples.echo.v1.EchoService/Nope`);
    expect(m.status).toBe(404);
    expect(JSON.parse(m.body).message).toMatch(/no method "Nope"/);
    const s = await curl("-H", "content-type: application/json", "-d", "{}", `${base}/hsu.core.v1.CoreService/Shutdown`);
    expect(s.status).toBe(404);
  });

  it("path traversal, encoded dots and doubled slashes never reach a unit", async () => {
    for (const path of [`/x/..${echoPath}`, `/x/%2e%2e${echoPath}`, `/%2E%2E${echoPath}`, `/${echoPath}`, `${echoPath}/..`, `/hsu.examples.echo.v1.EchoService%2fEcho`]) {
      const r = await curl("--path-as-is", "-H", "content-type: application/json", "-d", '{"message":"sneak"}', `${base}${path}`);
      expect(r.status, path).toBe(400);
      expect(JSON.parse(r.body).code, path).toBe("invalid_argument");
    }
  });

  it("a slow client is cut: headers that never end, and a body that never comes", async () => {
    const cut = (send: string) =>
      new Promise<string>((resolve) => {
        const s = net.connect(port, "127.0.0.1", () => s.write(send));
        let got = "";
        s.on("data", (d) => (got += d.toString()));
        s.on("close", () => resolve(got));
        s.on("error", () => {});
        setTimeout(() => (s.destroy(), resolve("still open after 20 s")), 20_000).unref();
      });
    expect(await cut("POST /x HTTP/1.1\r\nHost: a\r\nX-Slow: ")).not.toBe("still open after 20 s");
    const body = await cut(`POST ${echoPath} HTTP/1.1\r\nHost: a\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{`);
    expect(body).not.toBe("still open after 20 s");
    expect(body).toMatch(/^HTTP\/1\.1 (408|504)/);
    expect(await cut("")).not.toBe("still open after 20 s");
  });

  it("10,000 requests from one client hit 429 with Retry-After while another client is served", async () => {
    const flood = new http.Agent({ keepAlive: true, maxSockets: 32, localAddress: "127.0.0.2" });
    const counts = new Map<number, number>();
    let retryAfter: string | undefined;
    let next = 0;
    await Promise.all(
      Array.from({ length: 32 }, async () => {
        while (next++ < 10_000) {
          const r = await from(flood, "/nothing-here");
          counts.set(r.status, (counts.get(r.status) ?? 0) + 1);
          retryAfter ??= r.retryAfter;
        }
      }),
    );
    flood.destroy();
    expect(counts.get(429) ?? 0).toBeGreaterThan(0);
    expect(Number(retryAfter)).toBeGreaterThanOrEqual(1);
    const other = await curl("--interface", "127.0.0.3", "-H", "content-type: application/json", "-d", '{"message":"still here"}', `${base}${echoPath}`);
    expect(other.status).toBe(200);
    expect(JSON.parse(other.body).message).toBe("still here");
  });
});

/** Starts `hsu-gateway` from source with `env`; resolves with the child once it logged "gateway listening", or its exit. */
function startGateway(env: Record<string, string>, args: string[] = []): Promise<{ child: ReturnType<typeof spawn>; out: () => string; exited: Promise<number | null> }> {
  const child = spawn(process.execPath, ["--conditions=@hsu/source", gatewayMain, ...args], { env: { ...process.env, ...env } });
  let out = "";
  child.stdout.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr.on("data", (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
  return new Promise((resolve) => {
    const ready = () => resolve({ child, out: () => out, exited });
    child.stdout.on("data", () => out.includes("gateway listening") && ready());
    void exited.then(ready);
  });
}

describe("the hsu-gateway process", () => {
  const socket = () => join(dir, ".hsu", "control.sock");
  const configFile = async (extra: Record<string, unknown>) => {
    const file = join(dir, `gw-${Math.random().toString(36).slice(2)}.json`);
    writeFileSync(file, JSON.stringify({ listen: `127.0.0.1:${await freePort()}`, routes: [{ unit: "echo", descriptors: [join(dir, "echo.binpb")], auth: "none" }], ...extra }));
    return file;
  };

  it("exits 2 with the problem on a bad config or descriptor set", async () => {
    const bad = join(dir, "bad.json");
    writeFileSync(bad, JSON.stringify({ listen: "nowhere", routes: [{ unit: "echo", descriptors: [join(dir, "gone.binpb")] }] }));
    const g = await startGateway({ HSU_GATEWAY_CONFIG: bad, HSU_CONTROL_SOCKET: socket() });
    expect(await g.exited).toBe(2);
    expect(g.out()).toMatch(/\.listen: expected host:port/);
    const missing = await configFile({ routes: [{ unit: "echo", descriptors: [join(dir, "gone.binpb")] }] });
    const m = await startGateway({ HSU_GATEWAY_CONFIG: missing, HSU_CONTROL_SOCKET: socket() });
    expect(await m.exited).toBe(2);
    expect(m.out()).toMatch(/gone\.binpb: cannot read the descriptor set \(ENOENT\)/);
  });

  it("SIGTERM: stops accepting, lets the call in flight finish, exits 0", async () => {
    const file = await configFile({});
    const g = await startGateway({ HSU_GATEWAY_CONFIG: file, HSU_CONTROL_SOCKET: socket() });
    const url = /gateway listening on (\S+)/.exec(g.out())![1]!;
    const slow = fetch(`${url}${echoPath}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ message: "slow", delayMs: 1500 }) });
    // In flight once the gateway counts it: its stop log line says how many.
    await new Promise((r) => setTimeout(r, 300));
    g.child.kill("SIGTERM");
    const res = await slow;
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ message: "slow", unitId: "echo" });
    expect(await g.exited).toBe(0);
    expect(g.out()).toMatch(/gateway stopping \(SIGTERM\); 1 request\(s\) in flight/);
    await expect(fetch(`${url}/healthz`)).rejects.toThrow();
  });

  it("exits when the process named by HSU_MASTER_PID is gone", async () => {
    const stand = spawn("sleep", ["60"]);
    const g = await startGateway({ HSU_GATEWAY_CONFIG: await configFile({}), HSU_CONTROL_SOCKET: socket(), HSU_MASTER_PID: String(stand.pid) });
    expect(g.out()).toMatch(/gateway listening/);
    stand.kill("SIGKILL");
    expect(await g.exited).toBe(0);
    expect(g.out()).toMatch(/the master \(pid \d+\) is gone/);
  });

  it("TLS: HTTP/2 and HTTP/1.1 by ALPN on one port", async () => {
    await sh("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem")]);
    const g = await startGateway({ HSU_GATEWAY_CONFIG: await configFile({ tls: { certFile: join(dir, "cert.pem"), keyFile: join(dir, "key.pem") } }), HSU_CONTROL_SOCKET: socket() });
    const url = /gateway listening on (\S+)/.exec(g.out())![1]!;
    expect(url).toMatch(/^https:/);
    for (const v of ["--http2", "--http1.1"]) {
      const r = await curl(v, "--cacert", join(dir, "cert.pem"), "-H", "content-type: application/json", "-d", '{"message":"tls"}', `${url}${echoPath}`);
      expect(r.status, r.body).toBe(200);
      expect(r.headers).toMatch(v === "--http2" ? /^HTTP\/2 200/ : /^HTTP\/1\.1 200/);
      expect(JSON.parse(r.body)).toEqual({ message: "tls", unitId: "echo" });
    }
    g.child.kill("SIGTERM");
    expect(await g.exited).toBe(0);
  });

  /** curl over TLS trusting `ca`, with `extra` (a client certificate); status 0 when the handshake failed. */
  const tlsCall = async (url: string, ca: string, ...extra: string[]) => {
    try {
      return await curl("--cacert", ca, ...extra, "-H", "content-type: application/json", "-d", '{"message":"tls"}', `${url}${echoPath}`);
    } catch (e) {
      return { status: 0, body: String((e as { stderr?: string }).stderr ?? e), headers: "" };
    }
  };
  /** Waits (up to 20 s) until `ok` holds for a fresh connection's answer. */
  const eventually = async (what: string, probe: () => Promise<{ status: number; body: string }>, ok: (r: { status: number; body: string }) => boolean) => {
    const deadline = Date.now() + 20_000;
    for (;;) {
      const r = await probe();
      if (ok(r)) return r;
      if (Date.now() > deadline) throw new Error(`${what}: still ${r.status} ${r.body.slice(0, 200)}`);
      await new Promise((res) => setTimeout(res, 100));
    }
  };

  it("TLS reload: a renewed certificate is served on new connections without a restart; a broken one keeps the old and logs the file", async () => {
    const tlsDir = mkdtempSync(join(dir, "reload-"));
    const ca1 = makeCa(tlsDir, "ca1");
    const ca2 = makeCa(tlsDir, "ca2");
    const first = issue(tlsDir, ca1, "first", "server");
    const second = issue(tlsDir, ca2, "second", "server");
    const certFile = join(tlsDir, "cert.pem");
    const keyFile = join(tlsDir, "key.pem");
    copyFileSync(first.certFile, certFile);
    copyFileSync(first.keyFile, keyFile);
    const g = await startGateway({ HSU_GATEWAY_CONFIG: await configFile({ tls: { certFile, keyFile } }), HSU_CONTROL_SOCKET: socket() });
    const url = /gateway listening on (\S+)/.exec(g.out())![1]!;
    expect((await tlsCall(url, ca1.certFile)).status).toBe(200);
    expect((await tlsCall(url, ca2.certFile)).status).toBe(0);
    // A renewal the way certbot does it: the new files renamed into place, key first.
    writeFileSync(`${keyFile}.new`, second.key);
    renameSync(`${keyFile}.new`, keyFile);
    writeFileSync(`${certFile}.new`, second.cert);
    renameSync(`${certFile}.new`, certFile);
    await eventually("the renewed certificate", () => tlsCall(url, ca2.certFile), (r) => r.status === 200);
    expect((await tlsCall(url, ca1.certFile)).status).toBe(0);
    // A broken replacement: refused, logged with the file, and the last good certificate keeps serving.
    writeFileSync(certFile, "-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n");
    const deadline = Date.now() + 20_000;
    while (!g.out().includes("kept the previous certificate") && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    const logged = g.out().split("\n").find((l) => l.includes("gateway TLS: kept the previous certificate"));
    expect(logged).toContain(certFile);
    const still = await tlsCall(url, ca2.certFile);
    expect(still.status, still.body).toBe(200);
    expect(JSON.parse(still.body)).toEqual({ message: "tls", unitId: "echo" });
    g.child.kill("SIGTERM");
    expect(await g.exited).toBe(0);
  }, 60_000);

  it("TLS client_auth require: no client certificate and one from another CA are refused, a good one is served", async () => {
    const tlsDir = mkdtempSync(join(dir, "mtls-"));
    const ca = makeCa(tlsDir, "ca");
    const stranger = makeCa(tlsDir, "stranger");
    const server = issue(tlsDir, ca, "server", "server");
    const good = issue(tlsDir, ca, "good", "client");
    const bad = issue(tlsDir, stranger, "bad", "client");
    for (const clientAuth of ["require", "request"] as const) {
      const g = await startGateway({
        HSU_GATEWAY_CONFIG: await configFile({ tls: { certFile: server.certFile, keyFile: server.keyFile, clientCaFile: ca.certFile, clientAuth } }),
        HSU_CONTROL_SOCKET: socket(),
      });
      const url = /gateway listening on (\S+)/.exec(g.out())![1]!;
      const none = await tlsCall(url, ca.certFile);
      const other = await tlsCall(url, ca.certFile, "--cert", bad.certFile, "--key", bad.keyFile);
      const ok = await tlsCall(url, ca.certFile, "--cert", good.certFile, "--key", good.keyFile);
      expect(ok.status, `${clientAuth}: ${ok.body}`).toBe(200);
      expect(JSON.parse(ok.body)).toEqual({ message: "tls", unitId: "echo" });
      if (clientAuth === "require") {
        expect(none.status, none.body).toBe(0);
        expect(other.status, other.body).toBe(0);
      } else {
        // request: a certificate is asked for, not required; the caller's bearer token decides.
        expect(none.status, none.body).toBe(200);
      }
      g.child.kill("SIGTERM");
      expect(await g.exited).toBe(0);
    }
  }, 60_000);
});
