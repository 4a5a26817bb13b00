// The `hsu` CLI against real masters (`hsu up -d`) whose TCP control port serves TLS
// (master.control.tls, openssl-made certificates): --ca / HSU_CONTROL_CA and a client
// certificate make it work; each way it cannot is exit 1 with the address, the cause and the
// flag that fixes it, within a bounded time, never an INTERNAL error or a hang.
import { listenH2c, type H2cListener } from "@hsu/transport";
import { copyFileSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { issue, makeCa, type TestCa, type TestCert } from "../../../transport/src/test-support/certs.ts";
import { createProjects, hsu, hsuWith, type HsuResult } from "../test-support/hsu-cli.ts";

const projects = createProjects("hsu-cli-tls-");
const token = "the-control-token-of-these-masters";
let ca: TestCa;
let otherCa: TestCa;
let client: TestCert;
let stranger: TestCert;
/** The three masters' project dirs and TCP addresses: client_auth none, client_auth require, an expired certificate. */
const m = { open: { dir: "", tcp: "" }, strict: { dir: "", tcp: "" }, expired: { dir: "", tcp: "" } };
let plain: H2cListener;

async function startMaster(cert: TestCert, clientAuth: "none" | "require"): Promise<{ dir: string; tcp: string }> {
  const dir = projects.make(`master:
  control:
    tcp: 127.0.0.1:0
    token_file: token
    tls: { cert_file: server.pem, key_file: server.key, client_ca_file: ca.pem, client_auth: ${clientAuth} }
units:
  worker:
    command: sleep
    args: ["1000"]
`);
  copyFileSync(cert.certFile, join(dir, "server.pem"));
  copyFileSync(cert.keyFile, join(dir, "server.key"));
  copyFileSync(ca.certFile, join(dir, "ca.pem"));
  writeFileSync(join(dir, "token"), `${token}\n`, { mode: 0o600 });
  const up = await hsu(dir, "up", "--detach");
  expect(up.code, up.stderr).toBe(0);
  return { dir, tcp: readFileSync(join(dir, ".hsu", "control-tcp.addr"), "utf8").trim() };
}

beforeAll(async () => {
  const certs = projects.make("units: {}\n");
  ca = makeCa(certs, "ca");
  otherCa = makeCa(certs, "other-ca");
  client = issue(certs, ca, "client", "client");
  stranger = issue(certs, otherCa, "stranger", "client");
  [m.open, m.strict, m.expired] = await Promise.all([
    startMaster(issue(certs, ca, "open", "server"), "none"),
    startMaster(issue(certs, ca, "strict", "server"), "require"),
    startMaster(issue(certs, ca, "old", "server", { days: -1 }), "none"),
  ]);
  plain = await listenH2c("127.0.0.1:0", (_req, res) => res.end());
}, 120_000);
afterAll(async () => {
  await Promise.all(Object.values(m).map((x) => (x.dir ? hsu(x.dir, "down") : undefined)));
  await plain?.close({ force: true });
  projects.removeAll();
}, 60_000);

/** `hsu ...args` from `dir` with the control token and `env`, 30 s at most. */
const cli = (dir: string, env: Record<string, string | undefined>, ...args: string[]): Promise<HsuResult> =>
  hsuWith({ cwd: dir, env: { HSU_CONTROL_TOKEN: token, HSU_CONTROL_CA: undefined, HSU_CONTROL_CERT: undefined, HSU_CONTROL_KEY: undefined, ...env }, timeoutMs: 30_000 }, ...args);
const caFile = () => ca.certFile;

/** Exit 1 and one line that names the address, says `cause` and `fix`, and is neither INTERNAL nor "is it running?". */
function expectRefused(r: HsuResult, address: string, cause: string, fix: string): void {
  expect(r.code, r.stdout + r.stderr).toBe(1);
  expect(r.stderr).toContain(`cannot connect to the master: `);
  expect(r.stderr).toContain(address);
  expect(r.stderr).toContain(cause);
  expect(r.stderr).toContain(fix);
  expect(r.stderr).not.toMatch(/internal|is it running|SSL routines|killed by/i);
}

describe("hsu over TCP with master.control.tls", () => {
  it("--ca with the master's CA: ps, restart, logs and a token over TLS", async () => {
    const ps = await cli(m.open.dir, {}, "ps", "--socket", m.open.tcp, "--ca", caFile());
    expect(ps.code, ps.stderr).toBe(0);
    expect(ps.stdout).toMatch(/^worker +managed +running/m);
    const restart = await cli(m.open.dir, {}, "restart", "worker", "--socket", m.open.tcp, "--ca", caFile());
    expect(restart.code, restart.stderr).toBe(0);
    // A stream (connect-node's path) over the same TLS.
    const logs = await cli(m.open.dir, {}, "logs", "worker", "--socket", m.open.tcp, "--ca", caFile());
    expect(logs.code, logs.stderr).toBe(0);
    const tokenCreate = await cli(m.open.dir, {}, "token", "create", "--name", "over-tls", "--role", "viewer", "--json", "--socket", m.open.tcp, "--ca", caFile());
    expect(tokenCreate.code, tokenCreate.stderr).toBe(0);
  });

  it("HSU_CONTROL_CA does the same as --ca, and HSU_CONTROL names the address", async () => {
    const ps = await cli(m.open.dir, { HSU_CONTROL_CA: caFile(), HSU_CONTROL: m.open.tcp }, "ps", "--json");
    expect(ps.code, ps.stderr).toBe(0);
    expect(JSON.parse(ps.stdout)).toMatchObject([{ id: "worker" }]);
  });

  it("no CA: the port hung up on plain HTTP/2, and the message says to pass --ca", async () => {
    const r = await cli(m.open.dir, {}, "ps", "--socket", m.open.tcp);
    expectRefused(r, m.open.tcp, "closed the connection without answering", "if its port serves TLS (master.control.tls), pass the CA of its certificate with --ca FILE (or HSU_CONTROL_CA)");
    const restart = await cli(m.open.dir, {}, "restart", "worker", "--socket", m.open.tcp);
    expectRefused(restart, m.open.tcp, "closed the connection without answering", "--ca FILE");
  });

  it("another CA: not signed by a CA it trusts, naming the file given", async () => {
    const other = otherCa.certFile;
    for (const args of [["ps"], ["restart", "worker"], ["logs", "worker"]]) {
      const r = await cli(m.open.dir, {}, ...args, "--socket", m.open.tcp, "--ca", other);
      expectRefused(r, `TLS with ${m.open.tcp} failed`, "the server's certificate is not signed by a CA this client trusts", `--ca ${other} did not sign it`);
    }
    const env = await cli(m.open.dir, { HSU_CONTROL_CA: other }, "ps", "--socket", m.open.tcp);
    expectRefused(env, m.open.tcp, "is not signed by a CA this client trusts", `HSU_CONTROL_CA ${other} did not sign it`);
  });

  it("a host name the certificate does not name: says which names it has", async () => {
    const address = m.open.tcp.replace("127.0.0.1", "localhost");
    const r = await cli(m.open.dir, {}, "ps", "--socket", address, "--ca", caFile());
    expectRefused(r, address, "the server's certificate is not for localhost (it names IP Address:127.0.0.1)", "connect by a host name or IP address the certificate names");
  });

  it("an expired master certificate: says it expired and that the master's must be renewed", async () => {
    const r = await cli(m.expired.dir, {}, "ps", "--socket", m.expired.tcp, "--ca", caFile());
    expectRefused(r, m.expired.tcp, "the server's certificate expired", "renew the master's certificate (master.control.tls cert_file");
  });

  it("--ca to a port that is not TLS: says so and to drop --ca", async () => {
    const r = await cli(m.open.dir, {}, "ps", "--socket", plain.address, "--ca", caFile());
    expectRefused(r, plain.address, "the server does not speak TLS", "this master's TCP port is not TLS: drop --ca");
  });
});

describe("client_auth: require", () => {
  it("with --client-cert and --client-key (or HSU_CONTROL_CERT/KEY) signed by its client CA: served", async () => {
    const r = await cli(m.strict.dir, {}, "restart", "worker", "--socket", m.strict.tcp, "--ca", caFile(), "--client-cert", client.certFile, "--client-key", client.keyFile);
    expect(r.code, r.stderr).toBe(0);
    const env = await cli(m.strict.dir, { HSU_CONTROL_CA: caFile(), HSU_CONTROL_CERT: client.certFile, HSU_CONTROL_KEY: client.keyFile }, "ps", "--socket", m.strict.tcp);
    expect(env.code, env.stderr).toBe(0);
    expect(env.stdout).toMatch(/^worker /m);
  });

  it("without a client certificate: refused, naming --client-cert", async () => {
    for (const args of [["ps"], ["logs", "worker"]]) {
      const r = await cli(m.strict.dir, {}, ...args, "--socket", m.strict.tcp, "--ca", caFile());
      expectRefused(r, m.strict.tcp, "the server requires a client certificate and this client sent none", "the master has client_auth: require: pass a certificate its client_ca_file signed with --client-cert FILE --client-key FILE");
    }
  });

  it("a client certificate of another CA: refused, naming the certificate given", async () => {
    const r = await cli(m.strict.dir, {}, "ps", "--socket", m.strict.tcp, "--ca", caFile(), "--client-cert", stranger.certFile, "--client-key", stranger.keyFile);
    expectRefused(r, m.strict.tcp, "it refused this client's certificate", `(--client-cert ${stranger.certFile} is not)`);
  });
});

describe("TLS options used wrong: exit 2 before any connection", () => {
  it("a certificate without its key, a CA file that is missing or not PEM, a key that is not PEM", async () => {
    const at = ["ps", "--socket", m.open.tcp];
    const cases: Array<[string[], Record<string, string>, string]> = [
      [["--client-cert", client.certFile], {}, "--client-cert needs --client-key too"],
      [[], { HSU_CONTROL_KEY: client.keyFile }, "HSU_CONTROL_KEY needs HSU_CONTROL_CERT too"],
      [["--ca", join(m.open.dir, "nope.pem")], {}, `--ca ${join(m.open.dir, "nope.pem")}: cannot read the CA certificate: ENOENT`],
      [["--ca", join(m.open.dir, "hsu.yaml")], {}, `--ca ${join(m.open.dir, "hsu.yaml")}: not a PEM CA certificate (no -----BEGIN CERTIFICATE----- line)`],
      [["--client-cert", client.certFile, "--client-key", client.certFile], {}, "not a PEM private key"],
    ];
    for (const [flags, env, message] of cases) {
      const r = await cli(m.open.dir, env, ...at, ...flags);
      expect(r.code, `${flags.join(" ")}: ${r.stderr}`).toBe(2);
      expect(r.stderr).toContain(message);
    }
  });

  it("--ca with the local Unix socket is a mistake; HSU_CONTROL_CA there is left unused", async () => {
    const r = await cli(m.open.dir, {}, "restart", "worker", "--ca", caFile());
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("--ca, --client-cert and --client-key are for a master's TCP port (--socket HOST:PORT)");
    const env = await cli(m.open.dir, { HSU_CONTROL_CA: caFile() }, "ps");
    expect(env.code, env.stderr).toBe(0);
  });

  it("hsu ps --help lists the TLS options", async () => {
    const r = await hsu(m.open.dir, "ps", "--help");
    expect(r.stdout).toMatch(/--ca FILE +over TCP, speak TLS and trust this CA/);
    expect(r.stdout).toMatch(/--client-cert FILE/);
  });
});
