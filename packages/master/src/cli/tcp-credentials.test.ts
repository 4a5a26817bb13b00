import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { connectHints, controlTlsFiles, controlToken, readControlTls, useControlFlags } from "./tcp-credentials.ts";

describe("controlToken (HSU_CONTROL_TOKEN)", () => {
  const jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln";
  it("takes an API token, a JWT or a control token as it is", () => {
    for (const t of ["hsu_1a2b3c4d_secret-part", jwt, "c0ntrol+token/=="]) expect(controlToken({ HSU_CONTROL_TOKEN: t })).toBe(t);
  });
  it("drops whitespace around it and a pasted `Bearer ` prefix", () => {
    for (const v of [`${jwt}\n`, `${jwt}\r\n`, `  ${jwt}\t`, `Bearer ${jwt}`, `bearer  ${jwt}\n`]) expect(controlToken({ HSU_CONTROL_TOKEN: v })).toBe(jwt);
  });
  it("is undefined when unset or blank", () => {
    expect(controlToken({})).toBeUndefined();
    expect(controlToken({ HSU_CONTROL_TOKEN: "" })).toBeUndefined();
    expect(controlToken({ HSU_CONTROL_TOKEN: " \n" })).toBeUndefined();
  });
  it("refuses whitespace, a control character or non-ASCII inside, saying where", () => {
    expect(() => controlToken({ HSU_CONTROL_TOKEN: `${jwt}\n${jwt}` })).toThrow(`HSU_CONTROL_TOKEN has whitespace at character ${jwt.length + 1} of ${2 * jwt.length + 1}; set it to the token alone`);
    expect(() => controlToken({ HSU_CONTROL_TOKEN: "ab\x00cd" })).toThrow("a control character at character 3");
    expect(() => controlToken({ HSU_CONTROL_TOKEN: "tökén" })).toThrow('a non-ASCII character ("ö") at character 2');
    expect(() => controlToken({ HSU_CONTROL_TOKEN: "tökén" })).toThrow(expect.objectContaining({ name: "HsuError", code: "invalid_argument" }));
  });
});

describe("controlTlsFiles and readControlTls", () => {
  const dir = mkdtempSync(join(tmpdir(), "hsu-tcpcred-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const pem = (name: string, body: string) => {
    writeFileSync(join(dir, name), body);
    return join(dir, name);
  };
  const ca = pem("ca.pem", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
  const key = pem("k.pem", "-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n");

  it("flags win over the environment, each named by where it came from", () => {
    useControlFlags({ ca, socket: "x" });
    try {
      expect(controlTlsFiles({ HSU_CONTROL_CA: "/env/ca.pem", HSU_CONTROL_CERT: "/env/c.pem" })).toEqual({
        ca: { file: ca, from: "--ca" },
        cert: { file: "/env/c.pem", from: "HSU_CONTROL_CERT" },
        flagged: true,
      });
    } finally {
      useControlFlags({});
    }
    expect(controlTlsFiles({ HSU_CONTROL_CA: ca })).toEqual({ ca: { file: ca, from: "HSU_CONTROL_CA" }, flagged: false });
    expect(controlTlsFiles({})).toEqual({ flagged: false });
  });

  it("nothing given: plain TCP; a CA: its bytes", () => {
    expect(readControlTls({ flagged: false })).toBeUndefined();
    expect(readControlTls({ ca: { file: ca, from: "--ca" }, flagged: true })?.ca?.toString()).toContain("BEGIN CERTIFICATE");
  });

  it("refuses a certificate without its key, a missing file, a file of the wrong kind, naming the flag and file", () => {
    const bad = (files: Parameters<typeof readControlTls>[0]) => () => readControlTls(files);
    expect(bad({ cert: { file: ca, from: "--client-cert" }, flagged: true })).toThrow("--client-cert needs --client-key too");
    expect(bad({ key: { file: key, from: "HSU_CONTROL_KEY" }, flagged: false })).toThrow("HSU_CONTROL_KEY needs HSU_CONTROL_CERT too");
    expect(bad({ ca: { file: join(dir, "none"), from: "HSU_CONTROL_CA" }, flagged: false })).toThrow(`HSU_CONTROL_CA ${join(dir, "none")}: cannot read the CA certificate: ENOENT`);
    expect(bad({ ca: { file: key, from: "--ca" }, flagged: true })).toThrow(`--ca ${key}: not a PEM CA certificate (no -----BEGIN CERTIFICATE----- line)`);
    expect(bad({ cert: { file: ca, from: "--client-cert" }, key: { file: ca, from: "--client-key" }, flagged: true })).toThrow("not a PEM private key");
    expect(bad({ ca: { file: dir, from: "--ca" }, flagged: true })).toThrow(expect.objectContaining({ code: "invalid_argument", message: expect.stringContaining("EISDIR") }));
  });

  it("hints name the file that did not work, or the flag to pass", () => {
    expect(connectHints({ flagged: false }).untrusted).toBe("pass the CA that signed the master's certificate with --ca FILE (or HSU_CONTROL_CA=FILE)");
    expect(connectHints({ ca: { file: "/x/ca.pem", from: "--ca" }, flagged: true }).untrusted).toMatch(/^--ca \/x\/ca\.pem did not sign it/);
    expect(connectHints({ cert: { file: "/c.pem", from: "HSU_CONTROL_CERT" }, flagged: false })["client-cert-refused"]).toContain("(HSU_CONTROL_CERT /c.pem is not)");
  });
});
