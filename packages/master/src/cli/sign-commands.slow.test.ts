// `hsu key generate`, `hsu sign`, `hsu verify` as a user runs them, against the real minisign 0.11
// CLI, with minisign's full-cost (1 GiB scrypt) password-protected keys: hence a slow suite.
import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parsePublicKey, parseSecretKey, verifyFile } from "../artifacts/minisign.ts";
import { hsuWith } from "../test-support/hsu-cli.ts";

const root = join(import.meta.dirname, "..", "..", "..", "..");
const tmp = mkdtempSync(join(tmpdir(), "hsu-sign-cli-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const hsu = (env: Record<string, string | undefined>, ...args: string[]) => hsuWith({ cwd: tmp, env: { HSU_KEY_PASSWORD: undefined, HSU_SIGNING_KEY: undefined, ...env } }, ...args);
const minisign = (args: string[], input = "") => spawnSync("minisign", args, { cwd: tmp, input, encoding: "utf8" });
const read = (name: string) => readFileSync(join(tmp, name), "utf8");
const mode = (name: string) => statSync(join(tmp, name)).mode & 0o777;

beforeAll(() => {
  execFileSync("bash", [join(root, "scripts/tools/debian.sh"), "minisign"], { stdio: "inherit" });
  writeFileSync(join(tmp, "app.tar.gz"), Buffer.from("an artifact\n".repeat(5000)));
});

describe("hsu key generate", () => {
  it("--no-password writes NAME.key 0600 and NAME.pub 0644 that minisign -S -W uses; never overwrites", async () => {
    const r = await hsu({}, "key", "generate", "--no-password", "--name", "ci");
    expect(r.code, r.stderr).toBe(0);
    expect(mode("ci.key")).toBe(0o600);
    expect(mode("ci.pub")).toBe(0o644);
    const pub = parsePublicKey(read("ci.pub"));
    expect(r.stdout).toContain(`key ${pub.keyId}`);
    expect(minisign(["-S", "-W", "-s", "ci.key", "-m", "app.tar.gz", "-x", "ci.minisig"]).status).toBe(0);
    const v = await hsu({}, "verify", "app.tar.gz", "-p", "ci.pub", "-x", "ci.minisig");
    expect(v.code, v.stderr).toBe(0);
    expect(v.stdout).toContain(`good signature by key ${pub.keyId}`);
    const before = read("ci.key");
    const again = await hsu({}, "key", "generate", "--no-password", "--name", "ci");
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/ci\.key already exists; hsu never overwrites a key/);
    expect(read("ci.key")).toBe(before);
  });

  it("without HSU_KEY_PASSWORD or --no-password it refuses (exit 2) and writes nothing", async () => {
    const r = await hsu({}, "key", "generate", "--name", "nothing");
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/set HSU_KEY_PASSWORD .* or pass --no-password/);
    expect(() => statSync(join(tmp, "nothing.key"))).toThrow();
    expect((await hsu({}, "key", "make")).code).toBe(2);
  });

  it("with HSU_KEY_PASSWORD the key is encrypted at minisign's cost; minisign -S unlocks it with that password only", async () => {
    mkdirSync(join(tmp, "keys"));
    const r = await hsu({ HSU_KEY_PASSWORD: "s3cret pass" }, "key", "generate", "-o", "keys", "--json");
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { keyId: string; encrypted: boolean; publicKey: string };
    expect(out.encrypted).toBe(true);
    expect(read("keys/hsu.key").split("\n")[1]).toMatch(/^RWRTY0Iy/); // "Ed" "Sc" "B2"
    expect(minisign(["-S", "-s", "keys/hsu.key", "-m", "app.tar.gz", "-x", "wrong.minisig"], "not it\n").stderr).toContain("Wrong password");
    const ok = minisign(["-S", "-s", "keys/hsu.key", "-m", "app.tar.gz", "-x", "theirs.minisig", "-t", "by minisign"], "s3cret pass\n");
    expect(ok.status, ok.stderr).toBe(0);
    const v = await hsu({}, "verify", "app.tar.gz", "-p", out.publicKey, "-x", "theirs.minisig", "--json");
    expect(JSON.parse(v.stdout)).toMatchObject({ valid: true, keyId: out.keyId, trustedComment: "by minisign" });
  });
});

describe("hsu sign", () => {
  it("signs with an encrypted key and HSU_KEY_PASSWORD; minisign -V accepts the .minisig", async () => {
    const r = await hsu({ HSU_KEY_PASSWORD: "s3cret pass" }, "sign", "app.tar.gz", "-k", "keys/hsu.key", "-t", "app 1.2.0");
    expect(r.code, r.stderr).toBe(0);
    expect(mode("app.tar.gz.minisig")).toBe(0o644);
    const v = minisign(["-V", "-p", "keys/hsu.pub", "-m", "app.tar.gz"]);
    expect(v.status, v.stderr).toBe(0);
    expect(v.stdout).toContain("Trusted comment: app 1.2.0");
  });

  it("an encrypted key without a password, or with a wrong one, is refused (exit 1) and nothing is written", async () => {
    writeFileSync(join(tmp, "other.txt"), "x");
    const none = await hsu({ HSU_SIGNING_KEY: "keys/hsu.key" }, "sign", "other.txt");
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/password-protected.*set HSU_KEY_PASSWORD/);
    const wrong = await hsu({ HSU_KEY_PASSWORD: "nope" }, "sign", "other.txt", "-k", "keys/hsu.key");
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/keys\/hsu\.key:2: wrong password/);
    expect(() => statSync(join(tmp, "other.txt.minisig"))).toThrow();
    const missing = await hsu({}, "sign", "other.txt");
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/hsu\.key: no such secret key/);
  });

  it("a password-protected key made by minisign -G signs with hsu sign", async () => {
    expect(minisign(["-G", "-p", "mk.pub", "-s", "mk.key"], "their pass\ntheir pass\n").status).toBe(0);
    const r = await hsu({ HSU_KEY_PASSWORD: "their pass" }, "sign", "app.tar.gz", "-k", "mk.key", "-x", "mk.minisig");
    expect(r.code, r.stderr).toBe(0);
    expect(minisign(["-V", "-p", "mk.pub", "-m", "app.tar.gz", "-x", "mk.minisig"]).status).toBe(0);
    expect(minisign(["-S", "-s", "mk.key", "-m", "app.tar.gz", "-x", "by-mk.minisig", "-t", "minisign, password key"], "their pass\n").status).toBe(0);
    const theirs = await verifyFile(join(tmp, "app.tar.gz"), read("by-mk.minisig"), [parsePublicKey(read("mk.pub"))]);
    expect(theirs.trustedComment).toBe("minisign, password key");
    const sk = await parseSecretKey(read("mk.key"), { password: "their pass" });
    expect(sk.keyId).toBe(parsePublicKey(read("mk.pub")).keyId);
  });
});

describe("hsu verify", () => {
  it("refuses a tampered file, a wrong key and a malformed signature with exit 1 and the reason", async () => {
    writeFileSync(join(tmp, "tampered.tar.gz"), read("app.tar.gz").replace("an artifact", "an artifacT"));
    const t = await hsu({}, "verify", "tampered.tar.gz", "-p", "keys/hsu.pub", "-x", "app.tar.gz.minisig");
    expect(t.code).toBe(1);
    expect(t.stderr).toMatch(/signature does not match tampered\.tar\.gz \(tampered or truncated\?\)/);
    const w = await hsu({}, "verify", "app.tar.gz", "-p", "ci.pub", "-p", "mk.pub");
    expect(w.code).toBe(1);
    expect(w.stderr).toMatch(/signed by key id [0-9A-F]{1,16}, which is not a trusted key \(the trusted key ids are [0-9A-F]{1,16}, [0-9A-F]{1,16}\)/);
    writeFileSync(join(tmp, "bad.minisig"), read("app.tar.gz.minisig").replace(/\n[A-Za-z0-9+/=]+\n$/, "\nshort==\n"));
    const b = await hsu({}, "verify", "app.tar.gz", "-p", "keys/hsu.pub", "-x", "bad.minisig");
    expect(b.code).toBe(1);
    expect(b.stderr).toMatch(/bad\.minisig:4: global signature: malformed base64/);
    const n = await hsu({}, "verify", "app.tar.gz");
    expect(n.code).toBe(2);
    const v = await verifyFile(join(tmp, "app.tar.gz"), read("app.tar.gz.minisig"), [parsePublicKey(read("keys/hsu.pub"))]);
    expect(v.trustedComment).toBe("app 1.2.0");
  });
});
