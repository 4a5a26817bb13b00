// What the CLI presents to a master over TCP: the bearer token of HSU_CONTROL_TOKEN, and for a
// control port with master.control.tls the CA to trust and a client certificate (--ca,
// --client-cert, --client-key or HSU_CONTROL_CA, HSU_CONTROL_CERT, HSU_CONTROL_KEY).
// Loads no RPC code (`hsu ps`'s quick path reads it too).
import { HsuError } from "@hsu/client/hsu-error";
import { readFileSync } from "node:fs";

/**
 * The bearer the CLI sends over TCP: HSU_CONTROL_TOKEN (an API token, a JWT
 * of master.auth.oidc, or the control token), or undefined when it is unset
 * or empty. Whitespace around it (a pasted line, `$(cat file)` of a file
 * with CRLF) and a leading `Bearer ` are dropped; a value that still holds
 * whitespace or a control character cannot be a header and is refused here,
 * rather than reaching the master as no credential at all.
 */
export function controlToken(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const raw = env.HSU_CONTROL_TOKEN;
  if (raw === undefined) return undefined;
  const token = raw.trim().replace(/^Bearer\s+/i, "");
  if (token === "") return undefined;
  // Printable ASCII without spaces: what an API token, a JWT (base64url) or a control token is.
  if (!/^[\x21-\x7e]+$/.test(token)) {
    const at = [...token].findIndex((c) => !/[\x21-\x7e]/.test(c));
    throw new HsuError(
      "invalid_argument",
      `HSU_CONTROL_TOKEN has ${describe(token[at]!)} at character ${at + 1} of ${token.length}; set it to the token alone (an API token, a JWT, or the control token), e.g. HSU_CONTROL_TOKEN=$(cat token-file)`,
    );
  }
  return token;
}

const describe = (c: string) => (/\s/.test(c) ? "whitespace" : c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f ? "a control character" : `a non-ASCII character (${JSON.stringify(c)})`);

/** The TLS files of the command line, set once by `main` before a command runs; the environment fills what they leave out. */
let flags: { ca?: string; cert?: string; key?: string } = {};

/** Takes --ca, --client-cert and --client-key of the command being run. */
export function useControlFlags(values: Record<string, unknown>): void {
  const s = (k: string) => (typeof values[k] === "string" ? (values[k] as string) : undefined);
  flags = { ...(s("ca") ? { ca: s("ca")! } : {}), ...(s("client-cert") ? { cert: s("client-cert")! } : {}), ...(s("client-key") ? { key: s("client-key")! } : {}) };
}

/** One TLS file and where the CLI was told of it (a flag or an environment variable), for messages. */
export interface NamedFile {
  readonly file: string;
  readonly from: string;
}

/** The TLS files the CLI was given, each with where it came from; empty when none (plain TCP). */
export interface ControlTlsFiles {
  readonly ca?: NamedFile;
  readonly cert?: NamedFile;
  readonly key?: NamedFile;
  /** True when one came from a flag (a flag with a Unix socket is a mistake; a variable is just not used). */
  readonly flagged: boolean;
}

/** Where the TLS files come from: --ca/--client-cert/--client-key, else HSU_CONTROL_CA/_CERT/_KEY. */
export function controlTlsFiles(env: NodeJS.ProcessEnv = process.env): ControlTlsFiles {
  const pick = (flag: string, value: string | undefined, name: string): NamedFile | undefined =>
    value ? { file: value, from: flag } : env[name] ? { file: env[name]!, from: name } : undefined;
  const ca = pick("--ca", flags.ca, "HSU_CONTROL_CA");
  const cert = pick("--client-cert", flags.cert, "HSU_CONTROL_CERT");
  const key = pick("--client-key", flags.key, "HSU_CONTROL_KEY");
  return { ...(ca ? { ca } : {}), ...(cert ? { cert } : {}), ...(key ? { key } : {}), flagged: !!(flags.ca || flags.cert || flags.key) };
}

/** The bytes of the TLS files: what the transport's `tls` option takes. */
export interface ControlTls {
  readonly ca?: Buffer;
  readonly cert?: Buffer;
  readonly key?: Buffer;
}

/**
 * Reads the TLS files for a call to `address` (undefined: speak plain TCP).
 * Refuses, naming the flag or variable and the file: a file that cannot be
 * read or holds no PEM block of its kind, a certificate without its key
 * (or a key without one). Their pairing and parsing is checked when the
 * connection is made (node:tls), which is where a wrong pair says so.
 */
export function readControlTls(files: ControlTlsFiles): ControlTls | undefined {
  const { ca, cert, key } = files;
  if (!ca && !cert && !key) return undefined;
  if (!!cert !== !!key) {
    const [has, lacks] = cert ? [cert.from, cert.from === "--client-cert" ? "--client-key" : "HSU_CONTROL_KEY"] : [key!.from, key!.from === "--client-key" ? "--client-cert" : "HSU_CONTROL_CERT"];
    throw new HsuError("invalid_argument", `${has} needs ${lacks} too: a client certificate and its private key go together`);
  }
  const read = (f: NamedFile, what: string, pem: RegExp) => {
    let bytes: Buffer;
    try {
      bytes = readFileSync(f.file);
    } catch (e) {
      throw new HsuError("invalid_argument", `${f.from} ${f.file}: cannot read the ${what}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    if (!pem.test(bytes.toString("latin1"))) throw new HsuError("invalid_argument", `${f.from} ${f.file}: not a PEM ${what} (no ${pem.source.replace(/\\/g, "")} line)`);
    return bytes;
  };
  const certPem = /-----BEGIN CERTIFICATE-----/;
  return {
    ...(ca ? { ca: read(ca, "CA certificate", certPem) } : {}),
    ...(cert ? { cert: read(cert, "client certificate", certPem) } : {}),
    ...(key ? { key: read(key, "private key", /-----BEGIN [A-Z ]*PRIVATE KEY-----/) } : {}),
  };
}

/**
 * What to do about each way a connection to the master can fail, in the
 * CLI's terms (its flags and variables, the master's settings).
 */
export function connectHints(files: ControlTlsFiles): Record<string, string> {
  const tlsFlags = "--ca/--client-cert/--client-key (and HSU_CONTROL_CA, HSU_CONTROL_CERT, HSU_CONTROL_KEY)";
  return {
    untrusted: files.ca
      ? `${files.ca.from} ${files.ca.file} did not sign it: pass the CA that signed the master's certificate (master.control.tls cert_file)`
      : "pass the CA that signed the master's certificate with --ca FILE (or HSU_CONTROL_CA=FILE)",
    "wrong-name": "connect by a host name or IP address the certificate names (--socket HOST:PORT), or issue the master a certificate for this one",
    expired: "renew the master's certificate (master.control.tls cert_file: the master serves a renewed file without a restart)",
    "not-yet-valid": "check the clocks of this machine and the master's",
    "client-cert-required": "the master has client_auth: require: pass a certificate its client_ca_file signed with --client-cert FILE --client-key FILE (or HSU_CONTROL_CERT, HSU_CONTROL_KEY)",
    "client-cert-refused": `pass a client certificate signed by the master's client_ca_file${files.cert ? ` (${files.cert.from} ${files.cert.file} is not)` : ""}`,
    "not-tls": `this master's TCP port is not TLS: drop ${tlsFlags}`,
    tls: `check ${tlsFlags} against the master's master.control.tls`,
    "silent-close":
      "if its port serves TLS (master.control.tls), pass the CA of its certificate with --ca FILE (or HSU_CONTROL_CA); otherwise it refused the connection (over its connection limits, see `Control over TCP` in docs/cli.md)",
  };
}
