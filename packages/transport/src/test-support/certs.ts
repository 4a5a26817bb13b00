import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** A CA made with the openssl CLI: its certificate and key files. */
export interface TestCa {
  readonly name: string;
  readonly certFile: string;
  readonly keyFile: string;
}

/** A certificate issued by a TestCa. */
export interface TestCert {
  readonly certFile: string;
  readonly keyFile: string;
  readonly cert: string;
  readonly key: string;
}

const openssl = (args: string[]) => execFileSync("openssl", args, { stdio: ["ignore", "ignore", "pipe"], timeout: 20_000 });

/** A self-signed P-256 CA in `dir`. */
export function makeCa(dir: string, name: string): TestCa {
  const certFile = join(dir, `${name}.pem`);
  const keyFile = join(dir, `${name}.key`);
  openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", keyFile, "-out", certFile, "-days", "2", "-subj", `/CN=${name}`]);
  return { name, certFile, keyFile };
}

/** How {@link issue} makes a leaf: its subjectAltName (a server's default `IP:127.0.0.1`) and lifetime. */
export interface IssueOptions {
  /** For a server certificate, e.g. `DNS:other.example` (default `IP:127.0.0.1`). */
  readonly san?: string;
  /** Days it is valid (default 2); -1 makes one that expired a day ago (notAfter before now). */
  readonly days?: number;
}

/** A leaf certificate for `cn`, signed by `ca`: a server one (subjectAltName IP 127.0.0.1) or a client one. */
export function issue(dir: string, ca: TestCa, name: string, kind: "server" | "client", options: IssueOptions = {}): TestCert {
  const keyFile = join(dir, `${name}.key`);
  const csr = join(dir, `${name}.csr`);
  const certFile = join(dir, `${name}.pem`);
  const ext = join(dir, `${name}.ext`);
  writeFileSync(ext, kind === "server" ? `subjectAltName=${options.san ?? "IP:127.0.0.1"}\nextendedKeyUsage=serverAuth\n` : "extendedKeyUsage=clientAuth\n");
  openssl(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", keyFile, "-out", csr, "-subj", `/CN=${name}`]);
  openssl(["x509", "-req", "-in", csr, "-CA", ca.certFile, "-CAkey", ca.keyFile, "-CAcreateserial", "-out", certFile, "-days", String(options.days ?? 2), "-extfile", ext]);
  return { certFile, keyFile, cert: readFileSync(certFile, "utf8"), key: readFileSync(keyFile, "utf8") };
}
