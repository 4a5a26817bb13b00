import { Code, ConnectError } from "@connectrpc/connect";
import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import { connectFailureKind, createConnectDiagnosis } from "./connect-failure.ts";

const nodeError = (code: string, message = code) => Object.assign(new Error(message), { code });

describe("createConnectDiagnosis", () => {
  it("a TLS error anywhere in the cause chain is UNAVAILABLE with the address, the cause and the hint", () => {
    const d = createConnectDiagnosis("10.0.0.1:7001", { untrusted: "pass --ca" });
    const wrapped = Object.assign(new Error("The pending stream has been canceled"), { code: "ERR_HTTP2_STREAM_CANCEL", cause: nodeError("UNABLE_TO_VERIFY_LEAF_SIGNATURE") });
    const e = d.explain(wrapped)!;
    expect(e).toMatchObject({ code: Code.Unavailable, rawMessage: "TLS with 10.0.0.1:7001 failed: the server's certificate is not signed by a CA this client trusts (UNABLE_TO_VERIFY_LEAF_SIGNATURE); pass --ca" });
    expect(connectFailureKind(e)).toBe("untrusted");
    expect(d.explain(nodeError("ERR_SSL_SOMETHING_NEW", "new alert"))).toMatchObject({ rawMessage: expect.stringContaining("failed: new alert (ERR_SSL_SOMETHING_NEW); check the TLS settings") });
    const openssl = "408DEA61A47F0000:error:0A000416:SSL routines:ssl3_read_bytes:sslv3 alert certificate unknown:../deps/openssl/ssl/record/rec_layer_s3.c:918:SSL alert number 46\n";
    expect(d.explain(nodeError("ERR_SSL_NEWER_ALERT", openssl))?.rawMessage).toContain("failed: sslv3 alert certificate unknown (ERR_SSL_NEWER_ALERT)");
  });

  it("never replaces a status the server sent, nor the call's own deadline; other errors are left alone with no failure seen", () => {
    const d = createConnectDiagnosis("h:1");
    const wire = new ConnectError("denied", Code.PermissionDenied);
    Object.defineProperty(wire, "isWireError", { value: true });
    expect(d.explain(wire)).toBeUndefined();
    expect(d.explain(new ConnectError("the operation timed out", Code.DeadlineExceeded))).toBeUndefined();
    expect(d.explain(nodeError("ECONNREFUSED"))).toBeUndefined();
    expect(connectFailureKind(new ConnectError("x", Code.Unavailable))).toBeUndefined();
  });

  it("a cleartext socket that ends before a byte: the next error of a call is explained by it; a new socket forgets it", () => {
    const d = createConnectDiagnosis("h:1");
    const s = d.watch(Object.assign(new PassThrough(), { bytesRead: 0 }), "plain");
    s.emit("end");
    const closed = new ConnectError("the stream closed without a response (code 8)", Code.Unavailable);
    expect(connectFailureKind(d.explain(closed))).toBe("silent-close");
    d.watch(Object.assign(new PassThrough(), { bytesRead: 0 }), "plain");
    expect(d.explain(closed)).toBeUndefined();
  });

  it("a TLS socket with a client certificate reset right after its handshake: the certificate was refused", () => {
    const d = createConnectDiagnosis("h:1");
    const s = d.watch(Object.assign(new PassThrough(), { bytesRead: 0 }), "tls-with-cert");
    s.emit("secureConnect");
    s.emit("error", nodeError("ECONNRESET"));
    expect(connectFailureKind(d.explain(nodeError("ECONNRESET")))).toBe("client-cert-refused");
  });
});
