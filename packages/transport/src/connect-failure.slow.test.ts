// createUnitTransport against real TLS servers (openssl-made certificates) that it must refuse,
// or that must refuse it: each failure is UNAVAILABLE (never INTERNAL), names the address, the
// cause and the fix, on the unary fast path, on connect-node's unary path and on a stream, and
// ends within its deadline.
import { create, createFileRegistry } from "@bufbuild/protobuf";
import type { GenService } from "@bufbuild/protobuf/codegenv2";
import { FileDescriptorProtoSchema, file_google_protobuf_wrappers, type StringValueSchema } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient, type ConnectRouter } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import * as net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectFailureKind, type ConnectFailureKind } from "./connect-failure.ts";
import { listenH2c, type H2cListener } from "./listen.ts";
import { issue, makeCa, type TestCa, type TestCert } from "./test-support/certs.ts";
import { watchTls, type ClientAuth, type TlsWatcher } from "./tls.ts";
import { createUnitTransport, type UnitTransportOptions } from "./transport.ts";

// A service with one unary and one server-streaming method (the transport package sits below @hsu/proto).
const registry = createFileRegistry(
  create(FileDescriptorProtoSchema, {
    name: "connect_failure_test.proto",
    package: "hsu.test",
    syntax: "proto3",
    dependency: ["google/protobuf/wrappers.proto"],
    service: [
      {
        name: "Say",
        method: [
          { name: "Hello", inputType: ".google.protobuf.StringValue", outputType: ".google.protobuf.StringValue" },
          { name: "Many", inputType: ".google.protobuf.StringValue", outputType: ".google.protobuf.StringValue", serverStreaming: true },
        ],
      },
    ],
  }),
  () => file_google_protobuf_wrappers,
);
const Say = registry.getService("hsu.test.Say") as unknown as GenService<{
  hello: { methodKind: "unary"; input: typeof StringValueSchema; output: typeof StringValueSchema };
  many: { methodKind: "server_streaming"; input: typeof StringValueSchema; output: typeof StringValueSchema };
}>;
const routes = (r: ConnectRouter) =>
  r.service(Say, {
    hello: (req) => ({ value: `hi ${req.value}` }),
    async *many(req) {
      yield { value: `1 ${req.value}` };
    },
  });

const dir = mkdtempSync(join(tmpdir(), "hsu-connfail-"));
let ca: TestCa;
let otherCa: TestCa;
let client: TestCert;
let stranger: TestCert;
const listeners: H2cListener[] = [];
const watchers: TlsWatcher[] = [];
const servers: net.Server[] = [];

async function serveTls(cert: TestCert, clientAuth: ClientAuth = "none"): Promise<string> {
  const w = watchTls({ certFile: cert.certFile, keyFile: cert.keyFile, clientCaFile: ca.certFile, clientAuth });
  watchers.push(w);
  const l = await listenH2c("127.0.0.1:0", connectNodeAdapter({ routes }) as never, { tls: w });
  listeners.push(l);
  return l.address;
}

let good: string;
let wrongName: string;
let expired: string;
let requireCert: string;
let plain: string;
let silent: string;
let closing: string;

beforeAll(async () => {
  ca = makeCa(dir, "ca");
  otherCa = makeCa(dir, "other-ca");
  client = issue(dir, ca, "client", "client");
  stranger = issue(dir, otherCa, "stranger", "client");
  good = await serveTls(issue(dir, ca, "server", "server"));
  wrongName = await serveTls(issue(dir, ca, "elsewhere", "server", { san: "DNS:elsewhere.example,IP:127.0.0.9" }));
  expired = await serveTls(issue(dir, ca, "expired", "server", { days: -1 }));
  requireCert = await serveTls(issue(dir, ca, "strict", "server"), "require");
  const p = await listenH2c("127.0.0.1:0", connectNodeAdapter({ routes }) as never);
  listeners.push(p);
  plain = p.address;
  // Accepts and never says a word: a handshake that never finishes.
  const s = net.createServer(() => {}).listen(0, "127.0.0.1");
  // Accepts and hangs up at once, as a server over its connection cap does.
  const c = net.createServer((sock) => sock.destroy()).listen(0, "127.0.0.1");
  await Promise.all([s, c].map((x) => new Promise((r) => x.once("listening", r))));
  servers.push(s, c);
  silent = `127.0.0.1:${(s.address() as net.AddressInfo).port}`;
  closing = `127.0.0.1:${(c.address() as net.AddressInfo).port}`;
});
afterAll(async () => {
  for (const l of listeners) await l.close({ force: true });
  for (const w of watchers) w.close();
  for (const s of servers) s.close();
  rmSync(dir, { recursive: true, force: true });
});

const caPem = () => readFileSync(ca.certFile);
type Path = "fast unary" | "connect-node unary" | "stream";
const paths: Path[] = ["fast unary", "connect-node unary", "stream"];

/** One call on `path`; the error it failed with (undefined: it succeeded). */
async function attempt(address: string, options: UnitTransportOptions, path: Path): Promise<ConnectError | undefined> {
  const c = createClient(Say, createUnitTransport(address, { connectTimeoutMs: 3000, ...options, fastUnary: path === "fast unary" }));
  try {
    if (path === "stream") {
      const got: string[] = [];
      for await (const m of c.many({ value: "x" }, { timeoutMs: 10_000 })) got.push(m.value);
      expect(got).toEqual(["1 x"]);
    } else {
      expect((await c.hello({ value: "x" }, { timeoutMs: 10_000 })).value).toBe("hi x");
    }
    return undefined;
  } catch (e) {
    return ConnectError.from(e);
  }
}

/** Every path fails UNAVAILABLE, naming `address` and saying `cause`, of `kind`. */
async function expectRefused(address: string, options: UnitTransportOptions, kind: ConnectFailureKind, cause: string | RegExp): Promise<void> {
  for (const path of paths) {
    const e = await attempt(address, options, path);
    expect(e, path).toBeDefined();
    expect({ path, code: Code[e!.code], message: e!.rawMessage }).toMatchObject({ path, code: "Unavailable", message: expect.stringContaining(address) });
    expect(e!.rawMessage, path).toMatch(cause);
    expect(connectFailureKind(e), path).toBe(kind);
  }
}

describe("TLS: the client checks the server", () => {
  it("the right CA: every path is served", async () => {
    for (const path of paths) expect(await attempt(good, { tls: { ca: caPem() } }, path), path).toBeUndefined();
  });

  it("no CA (the system's do not know a private one): UNAVAILABLE, untrusted, with the default hint", async () => {
    await expectRefused(good, { tls: {} }, "untrusted", /^TLS with 127\.0\.0\.1:\d+ failed: the server's certificate is not signed by a CA this client trusts \(SELF_SIGNED_CERT_IN_CHAIN\); trust the CA that signed it \(the tls\.ca option\)$/);
  });

  it("another CA: untrusted, with the caller's own hint", async () => {
    await expectRefused(good, { tls: { ca: readFileSync(otherCa.certFile) }, connectFailureHints: { untrusted: "pass --ca FILE" } }, "untrusted", /a CA this client trusts \(.+\); pass --ca FILE$/);
  });

  it("a certificate for another name: says which names it has", async () => {
    await expectRefused(wrongName, { tls: { ca: caPem() } }, "wrong-name", /is not for 127\.0\.0\.1 \(it names DNS:elsewhere\.example, IP Address:127\.0\.0\.9\) \(ERR_TLS_CERT_ALTNAME_INVALID\)/);
  });

  it("an expired certificate: says so", async () => {
    await expectRefused(expired, { tls: { ca: caPem() } }, "expired", /the server's certificate expired .*\(CERT_HAS_EXPIRED\); the server's certificate must be renewed/);
  });
});

describe("TLS: the server checks the client", () => {
  it("with a client certificate its CA signed: served", async () => {
    for (const path of paths) expect(await attempt(requireCert, { tls: { ca: caPem(), cert: client.cert, key: client.key } }, path), path).toBeUndefined();
  });

  it("client_auth require and no client certificate: UNAVAILABLE, saying one is required", async () => {
    await expectRefused(requireCert, { tls: { ca: caPem() } }, "client-cert-required", /the server requires a client certificate and this client sent none/);
  });

  it("a client certificate of another CA: refused by the server", async () => {
    await expectRefused(requireCert, { tls: { ca: caPem(), cert: stranger.cert, key: stranger.key } }, "client-cert-refused", /the server closed the connection right after the handshake: it refused this client.s certificate; present a client certificate signed by the server.s client CA/);
  });
});

describe("TLS and plain TCP mixed up", () => {
  it("TLS to a plain h2c port: the server does not speak TLS", async () => {
    await expectRefused(plain, { tls: { ca: caPem() } }, "not-tls", /the server does not speak TLS \(ERR_SSL_WRONG_VERSION_NUMBER\); the server speaks plain TCP/);
  });

  it("plain h2c to a TLS port: closed without a byte, and the hint says TLS", async () => {
    await expectRefused(good, {}, "silent-close", /closed the connection without answering \(not a byte of HTTP\/2\); if it serves TLS, connect with the tls option/);
  });

  it("a port that hangs up at once (a connection cap): the same, not INTERNAL", async () => {
    await expectRefused(closing, {}, "silent-close", /closed the connection without answering/);
  });
});

describe("no hang", () => {
  it("a TLS handshake that never finishes fails UNAVAILABLE within the connect deadline", async () => {
    for (const path of paths) {
      const e = await attempt(silent, { tls: { ca: caPem() }, connectTimeoutMs: 500 }, path);
      expect(e?.code, `${path}: ${e?.rawMessage}`).toBe(Code.Unavailable);
    }
  }, 20_000);

  it("after a refused handshake the same transport serves once the right CA is used by a new one, and an unrelated refusal is not blamed on TLS", async () => {
    // The next connection is judged on its own: a refused TCP connect is not reported as the earlier TLS failure.
    const t = createUnitTransport(good, { tls: {}, connectTimeoutMs: 3000 });
    const c = createClient(Say, t);
    await expect(c.hello({ value: "x" })).rejects.toMatchObject({ code: Code.Unavailable });
    const free = await new Promise<number>((r) => {
      const s = net.createServer().listen(0, "127.0.0.1", () => {
        const p = (s.address() as net.AddressInfo).port;
        s.close(() => r(p));
      });
    });
    const refused = await attempt(`127.0.0.1:${free}`, { tls: { ca: caPem() } }, "fast unary");
    expect(refused).toMatchObject({ code: Code.Unavailable, rawMessage: expect.stringContaining("ECONNREFUSED") });
    expect(connectFailureKind(refused)).toBeUndefined();
  });
});
