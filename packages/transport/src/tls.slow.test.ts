import { X509Certificate } from "node:crypto";
import { copyFileSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import * as http2 from "node:http2";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TLSSocket } from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { listenH2c, type H2cListener } from "./listen.ts";
import { issue, makeCa, type TestCa, type TestCert } from "./test-support/certs.ts";
import { loadTlsFiles, TlsError, watchTls, type TlsReload, type TlsWatcher } from "./tls.ts";

const dir = mkdtempSync(join(tmpdir(), "hsu-tls-"));
let ca: TestCa;
let otherCa: TestCa;
let server1: TestCert;
let server2: TestCert;
let client: TestCert;
let strangerClient: TestCert;

beforeAll(() => {
  ca = makeCa(dir, "ca");
  otherCa = makeCa(dir, "other-ca");
  server1 = issue(dir, ca, "server1", "server");
  server2 = issue(dir, ca, "server2", "server");
  client = issue(dir, ca, "client", "client");
  strangerClient = issue(dir, otherCa, "stranger", "client");
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const portOf = (l: H2cListener) => (l.parsed.kind === "tcp" ? l.parsed.port : 0);
const fingerprint = (pem: string) => new X509Certificate(pem).fingerprint256;

interface Reply {
  body: string;
  fingerprint: string;
}

/** One GET over a new TLS connection; rejects on any TLS or HTTP/2 error (the TLS one when there is one), or after 5 s. */
function call(port: number, opts: { ca?: string; cert?: string; key?: string }): Promise<Reply> {
  return new Promise<Reply>((resolve, reject) => {
    const session = http2.connect(`https://127.0.0.1:${port}`, { ...opts, ...(opts.ca ? { ca: readFileSync(opts.ca) } : {}) });
    let peer = "";
    let settled = false;
    const timer = setTimeout(() => fail(new Error("no answer within 5 s")), 5000);
    const fail = (e: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      session.destroy();
      reject(e);
    };
    session.on("connect", () => (peer = (session.socket as TLSSocket).getPeerCertificate().fingerprint256));
    session.on("error", fail);
    const req = session.request({ ":path": "/" });
    let body = "";
    req.setEncoding("utf8").on("data", (d: string) => (body += d));
    // The session's error (the TLS alert) says why; the stream's ("cancelled") follows from it.
    req.on("error", (e) => setImmediate(() => fail(e)));
    req.on("end", () => {
      if (settled) return;
      if (!peer || req.rstCode) return fail(new Error(`the connection ended without a reply (rst ${req.rstCode})`));
      settled = true;
      clearTimeout(timer);
      session.close();
      resolve({ body, fingerprint: peer });
    });
    req.end();
  });
}

/** Requests every `serve` handler answered, by client certificate CN ("-" without one). */
const served: string[] = [];

/** Serves, on TLS, whether the client presented a certificate the CA vouches for. */
async function serve(watcher: TlsWatcher): Promise<H2cListener> {
  return listenH2c(
    "127.0.0.1:0",
    (req, res) => {
      const socket = req.socket as unknown as TLSSocket;
      const peer = socket.getPeerCertificate();
      served.push(String(peer?.subject?.CN ?? "-"));
      res.end(`${socket.alpnProtocol} authorized=${socket.authorized} cn=${peer?.subject?.CN ?? "-"}`);
    },
    { tls: watcher },
  );
}

/** The next reload event, or an error after 10 s. */
function nextReload(watcher: TlsWatcher): Promise<TlsReload> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("no reload within 10 s")), 10_000);
    const off = watcher.onReload((e) => {
      clearTimeout(timer);
      off();
      resolve(e);
    });
  });
}

describe("listenH2c over TLS", () => {
  it("answers over h2 a client that trusts the CA, and a client that trusts another CA is refused", async () => {
    const watcher = watchTls({ certFile: server1.certFile, keyFile: server1.keyFile });
    const listener = await serve(watcher);
    try {
      const reply = await call(portOf(listener), { ca: ca.certFile });
      expect(reply).toEqual({ body: "h2 authorized=false cn=-", fingerprint: fingerprint(server1.cert) });
      await expect(call(portOf(listener), { ca: otherCa.certFile })).rejects.toMatchObject({ code: "UNABLE_TO_VERIFY_LEAF_SIGNATURE" });
      // No CA at all: the system store does not know ours either.
      await expect(call(portOf(listener), {})).rejects.toThrow();
    } finally {
      await listener.close({ force: true });
      watcher.close();
    }
  });

  it("client_auth require: a client certificate from the CA passes; none, or one from another CA, is refused", async () => {
    const watcher = watchTls({ certFile: server1.certFile, keyFile: server1.keyFile, clientCaFile: ca.certFile, clientAuth: "require" });
    const listener = await serve(watcher);
    const port = portOf(listener);
    try {
      expect((await call(port, { ca: ca.certFile, cert: client.cert, key: client.key })).body).toBe("h2 authorized=true cn=client");
      // TLS 1.3: the client's handshake ends before the server's verdict, which then arrives as an alert or a reset.
      served.length = 0;
      const refused = /certificate required|unknown ca|alert|ECONNRESET|without a reply/i;
      await expect(call(port, { ca: ca.certFile })).rejects.toThrow(refused);
      await expect(call(port, { ca: ca.certFile, cert: strangerClient.cert, key: strangerClient.key })).rejects.toThrow(refused);
      // The refused ones never reached the handler; the port still serves.
      expect((await call(port, { ca: ca.certFile, cert: client.cert, key: client.key })).body).toBe("h2 authorized=true cn=client");
      expect(served).toEqual(["client"]);
    } finally {
      await listener.close({ force: true });
      watcher.close();
    }
  });

  it("client_auth request: a client without a certificate gets through, unauthorized, and the handler can tell", async () => {
    const watcher = watchTls({ certFile: server1.certFile, keyFile: server1.keyFile, clientCaFile: ca.certFile, clientAuth: "request" });
    const listener = await serve(watcher);
    const port = portOf(listener);
    try {
      expect((await call(port, { ca: ca.certFile })).body).toBe("h2 authorized=false cn=-");
      expect((await call(port, { ca: ca.certFile, cert: client.cert, key: client.key })).body).toBe("h2 authorized=true cn=client");
      expect((await call(port, { ca: ca.certFile, cert: strangerClient.cert, key: strangerClient.key })).body).toBe("h2 authorized=false cn=stranger");
    } finally {
      await listener.close({ force: true });
      watcher.close();
    }
  });

  it("a certificate replaced on disk serves the next new connection, without a restart; a broken replacement keeps the old one and says which file", async () => {
    const live = mkdtempSync(join(dir, "live-"));
    const certFile = join(live, "cert.pem");
    const keyFile = join(live, "key.pem");
    copyFileSync(server1.certFile, certFile);
    copyFileSync(server1.keyFile, keyFile);
    const watcher = watchTls({ certFile, keyFile }, { pollMs: 200 });
    const listener = await serve(watcher);
    const port = portOf(listener);
    try {
      expect((await call(port, { ca: ca.certFile })).fingerprint).toBe(fingerprint(server1.cert));
      // As a renewal tool does it: the key first, then the certificate, each renamed into place.
      let reloaded = nextReload(watcher);
      writeFileSync(join(live, "key.tmp"), server2.key);
      renameSync(join(live, "key.tmp"), keyFile);
      // The key alone does not fit the old certificate: refused, naming the key file.
      const refused = await reloaded;
      expect(refused).toMatchObject({ ok: false, error: { file: keyFile, message: expect.stringContaining("is not the one of the certificate") } });
      expect((await call(port, { ca: ca.certFile })).fingerprint).toBe(fingerprint(server1.cert));
      reloaded = nextReload(watcher);
      writeFileSync(join(live, "cert.tmp"), server2.cert);
      renameSync(join(live, "cert.tmp"), certFile);
      expect(await reloaded).toMatchObject({ ok: true });
      expect((await call(port, { ca: ca.certFile })).fingerprint).toBe(fingerprint(server2.cert));
      expect(watcher.lastError()).toBeUndefined();

      // Garbage in place of the certificate: the error names it, and server2's certificate keeps serving.
      reloaded = nextReload(watcher);
      writeFileSync(certFile, "this is not a certificate\n");
      const broken = await reloaded;
      expect(broken).toMatchObject({ ok: false, error: { file: certFile, message: expect.stringContaining("holds no PEM certificate") } });
      expect(watcher.lastError()).toBeInstanceOf(TlsError);
      expect((await call(port, { ca: ca.certFile })).fingerprint).toBe(fingerprint(server2.cert));
      expect(watcher.current().certificate.fingerprint256).toBe(fingerprint(server2.cert));
    } finally {
      await listener.close({ force: true });
      watcher.close();
    }
  });

  it("an open connection keeps its certificate across a reload; only new connections get the new one", async () => {
    const live = mkdtempSync(join(dir, "open-"));
    const certFile = join(live, "cert.pem");
    const keyFile = join(live, "key.pem");
    copyFileSync(server1.certFile, certFile);
    copyFileSync(server1.keyFile, keyFile);
    const watcher = watchTls({ certFile, keyFile }, { pollMs: 200 });
    const listener = await serve(watcher);
    const port = portOf(listener);
    const session = http2.connect(`https://127.0.0.1:${port}`, { ca: readFileSync(ca.certFile) });
    try {
      await new Promise<void>((resolve, reject) => session.once("connect", () => resolve()).once("error", reject));
      // Replaced by hand and reloaded at once: no waiting on the file watcher here.
      writeFileSync(keyFile, server2.key);
      writeFileSync(certFile, server2.cert);
      expect(watcher.reload()).toMatchObject({ ok: true });
      expect((session.socket as TLSSocket).getPeerCertificate().fingerprint256).toBe(fingerprint(server1.cert));
      expect((await call(port, { ca: ca.certFile })).fingerprint).toBe(fingerprint(server2.cert));
    } finally {
      session.destroy();
      await listener.close({ force: true });
      watcher.close();
    }
  });
});

describe("loadTlsFiles", () => {
  it("names the file at fault: missing, not a certificate, not a key, a key of another certificate, a CA that is not one", () => {
    const missing = join(dir, "nope.pem");
    expect(() => loadTlsFiles({ certFile: missing, keyFile: server1.keyFile })).toThrow(`${missing}: cannot read the certificate: ENOENT`);
    const junk = join(dir, "junk.pem");
    writeFileSync(junk, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
    expect(() => loadTlsFiles({ certFile: junk, keyFile: server1.keyFile })).toThrow(`${junk}: certificate 1 of the certificate file does not parse`);
    expect(() => loadTlsFiles({ certFile: server1.certFile, keyFile: server1.certFile })).toThrow(`${server1.certFile}: the private key does not parse`);
    expect(() => loadTlsFiles({ certFile: server1.certFile, keyFile: server2.keyFile })).toThrow(`${server2.keyFile}: this private key is not the one of the certificate in ${server1.certFile}`);
    expect(() => loadTlsFiles({ certFile: server1.certFile, keyFile: server1.keyFile, clientCaFile: server1.keyFile, clientAuth: "require" })).toThrow(
      `${server1.keyFile}: the client CA file holds no PEM certificate`,
    );
    expect(() => loadTlsFiles({ certFile: server1.certFile, keyFile: server1.keyFile, clientAuth: "require" })).toThrow("client_auth require needs client_ca_file");
    expect(loadTlsFiles({ certFile: server1.certFile, keyFile: server1.keyFile }).certificate.subjectAltName).toBe("IP Address:127.0.0.1");
  });

  it("watchTls refuses to start on a broken pair (there is no old one to keep serving)", () => {
    expect(() => watchTls({ certFile: server1.certFile, keyFile: server2.keyFile })).toThrow(TlsError);
  });

  it("listenH2c refuses TLS on a Unix socket", async () => {
    const watcher = watchTls({ certFile: server1.certFile, keyFile: server1.keyFile });
    try {
      await expect(listenH2c(`unix:${join(dir, "x.sock")}`, () => {}, { tls: watcher })).rejects.toThrow("TLS needs a TCP address");
    } finally {
      watcher.close();
    }
  });
});
