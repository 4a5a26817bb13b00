// Why a connection failed before it carried a call: a TLS handshake the
// client or the server refused, or a peer that hung up without a byte. Node
// reports these as socket errors that reach a call as INTERNAL (connect-node)
// or as a cancelled stream with the reason buried in its cause; a caller
// needs UNAVAILABLE with the address, the cause and what to do.
import { Code, ConnectError } from "@connectrpc/connect";
import type { Duplex } from "node:stream";

/** The kinds of connection failure told apart, each with its own fix. */
export type ConnectFailureKind =
  | "untrusted"
  | "wrong-name"
  | "expired"
  | "not-yet-valid"
  | "client-cert-required"
  | "client-cert-refused"
  | "not-tls"
  | "tls"
  | "silent-close";

/** What to do about each kind, in the caller's terms (a CLI names its flags); the defaults name the transport's options. */
export type ConnectFailureHints = Partial<Record<ConnectFailureKind, string>>;

const DEFAULT_HINTS: Record<ConnectFailureKind, string> = {
  untrusted: "trust the CA that signed it (the tls.ca option)",
  "wrong-name": "connect by a host name or IP address the certificate lists, or set tls.servername",
  expired: "the server's certificate must be renewed",
  "not-yet-valid": "check the clocks of both machines",
  "client-cert-required": "present a client certificate signed by the server's client CA (tls.cert and tls.key)",
  "client-cert-refused": "present a client certificate signed by the server's client CA (tls.cert and tls.key)",
  "not-tls": "the server speaks plain TCP: connect without the tls option",
  tls: "check the TLS settings of both sides",
  "silent-close": "if it serves TLS, connect with the tls option; otherwise it refused the connection (a connection limit?)",
};

// OpenSSL's verify results (error.code of a verify failure) and alerts (ERR_SSL_*), by kind.
const KINDS: Record<string, ConnectFailureKind> = {
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: "untrusted",
  UNABLE_TO_GET_ISSUER_CERT: "untrusted",
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: "untrusted",
  SELF_SIGNED_CERT_IN_CHAIN: "untrusted",
  DEPTH_ZERO_SELF_SIGNED_CERT: "untrusted",
  CERT_UNTRUSTED: "untrusted",
  CERT_SIGNATURE_FAILURE: "untrusted",
  ERR_TLS_CERT_ALTNAME_INVALID: "wrong-name",
  CERT_HAS_EXPIRED: "expired",
  CERT_NOT_YET_VALID: "not-yet-valid",
  ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED: "client-cert-required",
  ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE: "client-cert-required",
  ERR_SSL_TLSV1_ALERT_UNKNOWN_CA: "client-cert-refused",
  ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE: "client-cert-refused",
  ERR_SSL_SSLV3_ALERT_CERTIFICATE_EXPIRED: "client-cert-refused",
  ERR_SSL_SSLV3_ALERT_CERTIFICATE_UNKNOWN: "client-cert-refused",
  ERR_SSL_TLSV1_ALERT_DECRYPT_ERROR: "client-cert-refused",
  ERR_SSL_WRONG_VERSION_NUMBER: "not-tls",
  ERR_SSL_PACKET_LENGTH_TOO_LONG: "not-tls",
  ERR_SSL_HTTP_REQUEST: "not-tls",
};

const kindOf = (code: string): ConnectFailureKind | undefined =>
  KINDS[code] ?? (/^(ERR_SSL_|ERR_TLS_|CERT_|UNABLE_TO_)/.test(code) ? "tls" : undefined);

interface TlsErrorProps {
  code?: unknown;
  message?: string;
  host?: string;
  cert?: { subjectaltname?: string; subject?: { CN?: string }; valid_to?: string; valid_from?: string };
  cause?: unknown;
}

/** The first error in `e`'s cause chain with a TLS code. */
function findTlsError(e: unknown): (TlsErrorProps & { kind: ConnectFailureKind; code: string }) | undefined {
  for (let cur = e, depth = 0; cur !== undefined && cur !== null && depth < 8; cur = (cur as TlsErrorProps).cause, depth++) {
    const code = (cur as TlsErrorProps).code;
    if (typeof code !== "string") continue;
    const kind = kindOf(code);
    // Error's own message is not enumerable: a spread would drop it.
    if (kind) return { ...(cur as TlsErrorProps), message: (cur as TlsErrorProps).message, kind, code };
  }
  return undefined;
}

function describe(t: TlsErrorProps & { kind: ConnectFailureKind; code: string }, peer?: TlsErrorProps["cert"]): string {
  const cert = t.cert ?? peer;
  switch (t.kind) {
    case "untrusted":
      return `the server's certificate is not signed by a CA this client trusts (${t.code})`;
    case "wrong-name": {
      const names = cert?.subjectaltname ?? (cert?.subject?.CN ? `CN ${cert.subject.CN}` : undefined);
      return `the server's certificate is not for ${t.host ?? "this address"}${names ? ` (it names ${names})` : ""} (${t.code})`;
    }
    case "expired":
      return `the server's certificate expired${cert?.valid_to ? ` on ${cert.valid_to}` : ""} (${t.code})`;
    case "not-yet-valid":
      return `the server's certificate is not valid yet${cert?.valid_from ? ` (from ${cert.valid_from})` : ""} (${t.code})`;
    case "client-cert-required":
      return `the server requires a client certificate and this client sent none (${t.code})`;
    case "client-cert-refused":
      return `the server refused this client's certificate (${t.code})`;
    case "not-tls":
      return `the server does not speak TLS (${t.code})`;
    case "tls":
      // OpenSSL's "40...:error:0A00045C:SSL routines:fn:reason:file:line": the reason is what a person can read.
      return `${(/SSL routines:[^:]*:([^:]+)/.exec(t.message ?? "")?.[1] ?? t.message ?? t.code).trim()} (${t.code})`;
    case "silent-close":
      return `closed the connection (${t.code})`;
  }
}

const kinds = new WeakMap<ConnectError, ConnectFailureKind>();

/** The kind of connection failure a transport's error stands for, or undefined for any other error. */
export function connectFailureKind(e: unknown): ConnectFailureKind | undefined {
  return e instanceof ConnectError ? kinds.get(e) : undefined;
}

/** One transport's view of its connections: set on each socket it opens, asked about each error a call gets. */
export interface ConnectDiagnosis {
  /**
   * Watches a new socket (the newest one's failure is the one remembered):
   * cleartext, TLS, or TLS presenting a client certificate.
   */
  watch<S extends Duplex>(socket: S, mode: "plain" | "tls" | "tls-with-cert"): S;
  /**
   * The UNAVAILABLE error a call's failure stands for, when it is a
   * connection failure: a TLS error in its cause chain, or the newest
   * socket's failure. Undefined for a status the server sent and for
   * anything else.
   */
  explain(e: unknown): ConnectError | undefined;
}

/** A diagnosis for connections to `address`, with `hints` saying what to do (in the caller's terms). */
export function createConnectDiagnosis(address: string, hints: ConnectFailureHints = {}): ConnectDiagnosis {
  let last: ConnectError | undefined;
  const failure = (kind: ConnectFailureKind, what: string, cause: unknown) => {
    const hint = hints[kind] ?? DEFAULT_HINTS[kind];
    const message = kind === "silent-close" ? `${address} ${what}; ${hint}` : `TLS with ${address} failed: ${what}; ${hint}`;
    const err = new ConnectError(message, Code.Unavailable, undefined, undefined, cause);
    kinds.set(err, kind);
    return err;
  };
  return {
    watch(socket, mode) {
      last = undefined;
      let secure = false;
      socket.once("secureConnect", () => (secure = true));
      const read = () => (socket as unknown as { bytesRead?: number }).bytesRead ?? 0;
      // The peer went before a byte of HTTP/2: with a FIN ("end"), or with a reset when it had unread data of ours.
      const hungUp = () => {
        if (read() !== 0 || last) return;
        if (mode === "plain") {
          // A TLS server hangs up on a cleartext client without a word; so does one over its connection caps.
          last = failure("silent-close", "closed the connection without answering (not a byte of HTTP/2)", undefined);
        } else if (secure && mode === "tls-with-cert") {
          // Under TLS 1.3 the server checks a client certificate after the handshake, and a node server then hangs up without an alert.
          last = failure("client-cert-refused", "the server closed the connection right after the handshake: it refused this client's certificate", undefined);
        } else {
          last = failure("tls", "the server closed the connection before a byte of HTTP/2", undefined);
        }
      };
      socket.on("error", (e: unknown) => {
        const t = findTlsError(e);
        const code = (e as { code?: unknown }).code;
        if (!t && (code === "ECONNRESET" || code === "EPIPE")) return hungUp();
        if (!t) return;
        let peer: TlsErrorProps["cert"];
        try {
          peer = (socket as unknown as { getPeerCertificate?(): TlsErrorProps["cert"] }).getPeerCertificate?.();
        } catch {
          // A socket already torn down has no peer certificate to show.
        }
        last = failure(t.kind, describe(t, peer && Object.keys(peer).length ? peer : undefined), e);
      });
      socket.once("end", hungUp);
      return socket;
    },
    explain(e) {
      if (e instanceof ConnectError && (e.isWireError || kinds.has(e))) return e.isWireError ? undefined : e;
      const t = findTlsError(e);
      if (t) return last && kinds.get(last) === t.kind ? last : failure(t.kind, describe(t), e);
      // A deadline is the call's own; anything else the newest socket's failure explains.
      return e instanceof ConnectError && e.code === Code.DeadlineExceeded ? undefined : last;
    },
  };
}
