import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { issue, makeCa, type TestCert } from "../../../transport/src/test-support/certs.ts";
import { OIDC_ALGORITHMS } from "../auth/oidc-claims.ts";
import { parseDeployment, SpecError } from "./index.ts";

const tmp = mkdtempSync(join(tmpdir(), "hsu-auth-config-"));
let server: TestCert;
let other: TestCert;
let caFile: string;
beforeAll(() => {
  const ca = makeCa(tmp, "ca");
  caFile = ca.certFile;
  server = issue(tmp, ca, "server", "server");
  other = issue(tmp, ca, "other", "server");
  copyFileSync(server.certFile, join(tmp, "c.pem"));
  copyFileSync(server.keyFile, join(tmp, "k.pem"));
  writeFileSync(join(tmp, "token"), "secret\n");
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const units = "units:\n  a: { command: /bin/true }\n";

function parse(yaml: string, environment = false) {
  return parseDeployment(yaml, "hsu.yaml", tmp, { environment });
}

function issues(yaml: string, environment = false): string[] {
  try {
    parse(yaml, environment);
  } catch (e) {
    if (e instanceof SpecError) return e.issues.map((i) => `${i.line}:${i.path}: ${i.message}`);
    throw e;
  }
  throw new Error("accepted");
}

describe("master.auth", () => {
  it("reads OIDC providers with their defaults, and the audit file (default <state_dir>/audit.log)", () => {
    const d = parse(`master:
  auth:
    oidc:
      - issuer: http://127.0.0.1:9000
        audience: hsu
        role_map: { hsu-admins: admin, ops: operator }
      - issuer: https://idp.example.com/realms/x
        audience: [hsu, hsu-gw]
        roles_claim: realm_access.roles
        units_claim: hsu_units
        jwks_uri: https://idp.example.com/keys
        clock_tolerance: 5s
        algorithms: [ES256]
${units}`);
    expect(d.master.auth).toEqual({
      oidc: [
        { issuer: "http://127.0.0.1:9000", audience: ["hsu"], rolesClaim: "roles", roleMap: { "hsu-admins": "admin", ops: "operator" }, unitsClaim: undefined, jwksUri: undefined, clockToleranceMs: 30_000, algorithms: OIDC_ALGORITHMS },
        { issuer: "https://idp.example.com/realms/x", audience: ["hsu", "hsu-gw"], rolesClaim: "realm_access.roles", roleMap: {}, unitsClaim: "hsu_units", jwksUri: "https://idp.example.com/keys", clockToleranceMs: 5000, algorithms: ["ES256"] },
      ],
      auditFile: join(tmp, ".hsu", "audit.log"),
    });
    expect(parse(`master: { auth: { audit_file: logs/audit.log } }\n${units}`).master.auth).toEqual({ oidc: [], auditFile: join(tmp, "logs", "audit.log") });
    expect(parse(units).master.auth).toEqual({ oidc: [], auditFile: join(tmp, ".hsu", "audit.log") });
  });

  it("refuses, with path and line: a missing audience, an unknown role, HS256 or none, an unknown key, a non-URL issuer, plain http off this machine, an issuer twice", () => {
    expect(
      issues(`master:
  auth:
    oidc:
      - issuer: http://127.0.0.1:9000
        role_map: { ops: superuser }
        algorithms: [RS256, HS256, none]
        audiance: hsu
      - issuer: idp.example.com
        audience: hsu
      - issuer: http://idp.example.com
        audience: hsu
        jwks_uri: http://idp.example.com/keys
      - issuer: http://127.0.0.1:9000
        audience: ""
${units}`),
    ).toEqual([
      '4:master.auth.oidc[0].audience: "audience" is required',
      '5:master.auth.oidc[0].role_map.ops: expected one of "caller", "viewer", "operator", "admin", got "superuser"',
      `6:master.auth.oidc[0].algorithms[1]: expected one of ${OIDC_ALGORITHMS.map((a) => `"${a}"`).join(", ")}, got "HS256"`,
      `6:master.auth.oidc[0].algorithms[2]: expected one of ${OIDC_ALGORITHMS.map((a) => `"${a}"`).join(", ")}, got "none"`,
      '7:master.auth.oidc[0].audiance: unknown field "audiance" - did you mean "audience"?',
      '8:master.auth.oidc[1].issuer: expected an http(s) URL, exactly the iss of the tokens, got "idp.example.com"',
    ]);
    expect(
      issues(`master:
  auth:
    oidc:
      - issuer: http://idp.example.com
        audience: hsu
        jwks_uri: http://idp.example.com/keys
      - issuer: http://idp.example.com
        audience: ""
${units}`),
    ).toEqual([
      "4:master.auth.oidc[0].issuer: http://idp.example.com: plain http is only accepted on this machine (127.0.0.1, localhost); use https so the provider's keys cannot be swapped on the way",
      "6:master.auth.oidc[0].jwks_uri: http://idp.example.com/keys: plain http is only accepted on this machine (127.0.0.1, localhost); use https so the provider's keys cannot be swapped on the way",
      "7:master.auth.oidc[1].issuer: issuer http://idp.example.com is already configured at auth.oidc[0]; a token's iss picks one provider",
      "7:master.auth.oidc[1].issuer: http://idp.example.com: plain http is only accepted on this machine (127.0.0.1, localhost); use https so the provider's keys cannot be swapped on the way",
      '8:master.auth.oidc[1].audience: give the audience (aud) the tokens must carry: a non-empty string or list',
    ]);
  });
});

describe("master.control.tcp without token_file", () => {
  it("is valid: TCP callers authenticate with API tokens (hsu token create) or an OIDC provider's JWTs", () => {
    const d = parse(`master:\n  control:\n    tcp: 127.0.0.1:0\n${units}`, true);
    expect(d.master.controlTcp).toBe("127.0.0.1:0");
    expect(d.master.tokenFile).toBeUndefined();
  });

  it("still checks token_file when it is set: an empty or missing one is refused", () => {
    writeFileSync(join(tmp, "empty-token"), "\n");
    expect(issues(`master:\n  control:\n    tcp: 127.0.0.1:0\n    token_file: empty-token\n${units}`, true)).toEqual([
      `4:master.control.token_file: ${join(tmp, "empty-token")} is empty: put the token in it`,
    ]);
    expect(issues(`master:\n  control:\n    tcp: 127.0.0.1:0\n    token_file: nope\n${units}`, true)).toEqual([`4:master.control.token_file: cannot read ${join(tmp, "nope")}: ENOENT`]);
  });
});

describe("master.control.tls", () => {
  const tcp = (tls: string) => `master:\n  control:\n    tcp: 127.0.0.1:0\n    token_file: token\n    tls: ${tls}\n${units}`;

  it("resolves the files against hsu.yaml and defaults client_auth to none", () => {
    expect(parse(tcp("{ cert_file: c.pem, key_file: k.pem }"), true).master.controlTls).toEqual({ certFile: join(tmp, "c.pem"), keyFile: join(tmp, "k.pem"), clientAuth: "none" });
    expect(parse(tcp(`{ cert_file: c.pem, key_file: k.pem, client_ca_file: ${caFile}, client_auth: require }`), true).master.controlTls).toMatchObject({ clientCaFile: caFile, clientAuth: "require" });
  });

  it("checks the files as the listener will, naming the key at fault and its line", () => {
    expect(issues(tcp("{ cert_file: missing.pem, key_file: k.pem }"), true)).toEqual([`5:master.control.tls.cert_file: ${join(tmp, "missing.pem")}: cannot read the certificate: ENOENT`]);
    expect(issues(tcp(`{ cert_file: c.pem, key_file: ${other.keyFile} }`), true)).toEqual([
      `5:master.control.tls.key_file: ${other.keyFile}: this private key is not the one of the certificate in ${join(tmp, "c.pem")} (a renewal that replaced one file but not the other?)`,
    ]);
    expect(issues(tcp("{ cert_file: c.pem, key_file: k.pem, client_auth: require }"), true)).toEqual([
      `5:master.control.tls.client_auth: ${join(tmp, "c.pem")}: client_auth require needs client_ca_file: the CA that client certificates must chain to`,
    ]);
    expect(issues(tcp("{ key_file: k.pem, client_auth: maybe }"))).toEqual([
      '5:master.control.tls.cert_file: "cert_file" is required',
      '5:master.control.tls.client_auth: expected one of "none", "request", "require", got "maybe"',
    ]);
    expect(issues(`master:\n  control:\n    tls: { cert_file: c.pem, key_file: k.pem }\n${units}`, true)).toEqual([
      "3:master.control.tls: TLS applies to the TCP control port: set master.control.tcp too (the Unix socket is local and needs none)",
    ]);
  });
});
