import { execFileSync } from "node:child_process";
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { createSecretStore, MAX_SECRET_BYTES } from "./store.ts";

// Real files and the real age CLI (Debian's /usr/bin/age): the store's files are age's own format.
const root = mkdtempSync(join(tmpdir(), "hsu-store-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const fresh = () => createSecretStore(mkdtempSync(join(root, `s${n++}-`)));
const rejection = async (p: Promise<unknown>) => {
  try {
    await p;
  } catch (e) {
    return e as Error & { code: string };
  }
  throw new Error("resolved");
};

describe("secret store", () => {
  it("makes one identity on first use (0600, age-keygen's format), even when two processes race for it", async () => {
    const a = fresh();
    const b = createSecretStore(join(a.dir, ".."));
    const [ra, rb] = await Promise.all([a.recipient(), b.recipient()]);
    expect(ra).toBe(rb);
    expect(statSync(a.identityFile).mode & 0o777).toBe(0o600);
    expect(execFileSync("age-keygen", ["-y", a.identityFile], { encoding: "utf8" }).trim()).toBe(ra);
    expect(readdirSync(a.dir).filter((f) => f.endsWith(".tmp"))).toEqual([]);
  });

  it("set writes what `age -d` reads back byte for byte; an armored file made with `age -a -r` is read too", async () => {
    const s = fresh();
    const value = Buffer.from("multi\nline\0value\xff");
    await s.set("k", value);
    expect(Buffer.compare(execFileSync("age", ["-d", "-i", s.identityFile, s.fileOf("k")]), value)).toBe(0);
    expect(Buffer.compare(Buffer.from(await s.decrypt("k")), value)).toBe(0);
    execFileSync("age", ["-a", "-r", await s.recipient(), "-o", s.fileOf("armored")], { input: "from elsewhere" });
    expect(Buffer.from(await s.decrypt("armored")).toString()).toBe("from elsewhere");
    expect(s.list().map((x) => x.name)).toEqual(["armored", "k"]);
    expect(s.remove("k")).toBe(true);
    expect(s.remove("k")).toBe(false);
  });

  it("says what to do for a missing, corrupted, truncated or foreign secret, naming secret and file", async () => {
    const s = fresh();
    const missing = await rejection(s.decrypt("nope"));
    expect(missing.code).toBe("not_found");
    expect(missing.message).toContain('secret "nope" is not set');
    expect(missing.message).toContain("hsu secret set nope");
    await s.set("t", Buffer.from("a value to cut short"));
    const whole = readFileSync(s.fileOf("t"));
    writeFileSync(s.fileOf("t"), whole.subarray(0, whole.length - 5));
    expect((await rejection(s.decrypt("t"))).message).toMatch(/secret "t" cannot be decrypted from .*t\.age .*corrupted or not an age file/);
    writeFileSync(s.fileOf("junk"), "not age at all");
    expect((await rejection(s.decrypt("junk"))).message).toContain("corrupted or not an age file");
    execFileSync("age-keygen", ["-o", join(s.dir, "..", "other.txt")], { stdio: "ignore" });
    const other = execFileSync("age-keygen", ["-y", join(s.dir, "..", "other.txt")], { encoding: "utf8" }).trim();
    execFileSync("age", ["-r", other, "-o", s.fileOf("foreign")], { input: "x" });
    expect((await rejection(s.decrypt("foreign"))).message).toMatch(/encrypted to another recipient than this master's \(age1\w+\).*hsu secret recipient/);
  });

  it("a replaced identity cannot read what the old one sealed, and says so", async () => {
    const s = fresh();
    await s.set("k", Buffer.from("value"));
    rmSync(s.identityFile);
    expect((await rejection(s.decrypt("k"))).message).toContain("there is no identity");
    await s.recipient(); // a new identity
    expect((await rejection(s.decrypt("k"))).message).toContain("encrypted to another recipient");
  });

  it("refuses an identity readable by others, one with two keys, hostile names, and a value over the size cap", async () => {
    const s = fresh();
    await s.recipient();
    chmodSync(s.identityFile, 0o644);
    expect((await rejection(s.recipient())).message).toContain(`chmod 600 ${s.identityFile}`);
    chmodSync(s.identityFile, 0o600);
    writeFileSync(s.identityFile, `${readFileSync(s.identityFile, "utf8")}${readFileSync(s.identityFile, "utf8")}`);
    expect((await rejection(s.recipient())).message).toContain("holds 2 AGE-SECRET-KEY-1... lines");
    const t = fresh();
    for (const bad of ["../x", "a/b", "", ".x", "x.age", "a\0b", "x".repeat(200)]) expect(() => t.fileOf(bad), JSON.stringify(bad)).toThrow("not a valid secret name");
    expect((await rejection(t.set("big", Buffer.alloc(MAX_SECRET_BYTES + 1)))).message).toContain(`at most ${MAX_SECRET_BYTES}`);
  });
});
