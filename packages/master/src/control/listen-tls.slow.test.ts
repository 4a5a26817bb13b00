// The TCP control port over TLS: gRPC (unary fast path and a stream) with the token, client
// certificates when client_auth asks, and a renewed certificate picked up by new connections.
import type { ConnectRouter } from "@connectrpc/connect";
import { Code, createClient } from "@connectrpc/connect";
import { Health, HealthCheckResponse_ServingStatus as Status } from "@hsu/proto";
import { createUnitTransport } from "@hsu/transport";
import { X509Certificate } from "node:crypto";
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as tls from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { issue, makeCa, type TestCa, type TestCert } from "../../../transport/src/test-support/certs.ts";
import { listenControl } from "./listen.ts";

const dir = mkdtempSync(join(tmpdir(), "hsu-ctls-"));
let ca: TestCa;
let server1: TestCert;
let server2: TestCert;
let client: TestCert;
beforeAll(() => {
  ca = makeCa(dir, "ca");
  server1 = issue(dir, ca, "server1", "server");
  server2 = issue(dir, ca, "server2", "server");
  client = issue(dir, ca, "client", "client");
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const routes = (router: ConnectRouter) =>
  router.service(Health, {
    check: () => ({ status: Status.SERVING }),
    async *watch() {
      yield { status: Status.NOT_SERVING };
    },
  });

/** The certificate a new TLS connection to `address` is shown (or an error within 5 s). */
function peerFingerprint(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: "127.0.0.1", port, ca: readFileSync(ca.certFile), ALPNProtocols: ["h2"], cert: client.cert, key: client.key, timeout: 5000 }, () => {
      resolve(s.getPeerCertificate().fingerprint256);
      s.destroy();
    });
    s.on("error", reject).on("timeout", () => s.destroy(new Error("no TLS handshake within 5 s")));
  });
}

describe("listenControl with master.control.tls", () => {
  it("serves gRPC over TLS with the token, refuses a client without the CA or without a client certificate, and reloads the certificate", async () => {
    const live = mkdtempSync(join(dir, "live-"));
    const certFile = join(live, "cert.pem");
    const keyFile = join(live, "key.pem");
    copyFileSync(server1.certFile, certFile);
    copyFileSync(server1.keyFile, keyFile);
    const log: string[] = [];
    const control = await listenControl({
      socketPath: join(dir, "control.sock"),
      tcp: "127.0.0.1:0",
      token: "t0ken",
      tls: { certFile, keyFile, clientCaFile: ca.certFile, clientAuth: "require" },
      log: (l) => log.push(l),
      routes,
    });
    try {
      const address = control.tcpAddress!;
      const port = Number(address.split(":").pop());
      const good = createClient(Health, createUnitTransport(address, { token: "t0ken", tls: { ca: readFileSync(ca.certFile), cert: client.cert, key: client.key }, connectTimeoutMs: 5000 }));
      expect((await good.check({})).status).toBe(Status.SERVING);
      const watched = [];
      for await (const m of good.watch({})) watched.push(m.status);
      expect(watched).toEqual([Status.NOT_SERVING]);
      // The token is still required inside TLS.
      const noToken = createClient(Health, createUnitTransport(address, { tls: { ca: readFileSync(ca.certFile), cert: client.cert, key: client.key }, connectTimeoutMs: 5000 }));
      await expect(noToken.check({})).rejects.toMatchObject({ code: Code.Unauthenticated });
      // No client certificate, or a client that does not trust the server's CA: no call gets through.
      const noCert = createClient(Health, createUnitTransport(address, { token: "t0ken", tls: { ca: readFileSync(ca.certFile) }, connectTimeoutMs: 5000 }));
      await expect(noCert.check({})).rejects.toMatchObject({ code: Code.Unavailable, rawMessage: expect.stringContaining("the server requires a client certificate and this client sent none") });
      const plain = createClient(Health, createUnitTransport(address, { token: "t0ken", connectTimeoutMs: 5000 }));
      await expect(plain.check({})).rejects.toBeDefined();
      const untrusting = createClient(Health, createUnitTransport(address, { token: "t0ken", tls: { cert: client.cert, key: client.key }, connectTimeoutMs: 5000 }));
      await expect(untrusting.check({})).rejects.toMatchObject({ code: Code.Unavailable, rawMessage: expect.stringContaining("is not signed by a CA this client trusts") });

      expect(await peerFingerprint(port)).toBe(new X509Certificate(server1.cert).fingerprint256);
      writeFileSync(keyFile, server2.key);
      writeFileSync(certFile, server2.cert);
      const want = new X509Certificate(server2.cert).fingerprint256;
      // The watcher polls every few seconds besides fs.watch events: wait for the new certificate, with a deadline.
      const deadline = Date.now() + 15_000;
      let seen = await peerFingerprint(port);
      while (seen !== want && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 50));
        seen = await peerFingerprint(port);
      }
      expect(seen).toBe(want);
      expect(log.some((l) => l.startsWith(`control TLS: now serving ${certFile} (sha256 ${want}`))).toBe(true);
      // The connection the good client already had keeps working.
      expect((await good.check({})).status).toBe(Status.SERVING);
    } finally {
      await control.close();
    }
  });

  it("refuses to start with a broken pair, naming master.control.tls and the file, and leaves no socket behind", async () => {
    const socketPath = join(dir, "broken.sock");
    await expect(
      listenControl({ socketPath, tcp: "127.0.0.1:0", token: "t", tls: { certFile: server1.certFile, keyFile: server2.keyFile }, routes }),
    ).rejects.toMatchObject({ code: "invalid_config", message: expect.stringContaining(`master.control.tls: ${server2.keyFile}: this private key is not the one of the certificate`) });
    expect(() => readFileSync(socketPath)).toThrow(/ENOENT/);
  });
});
