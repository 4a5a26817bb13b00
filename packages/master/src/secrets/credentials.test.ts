import { createRedactor } from "@hsu/client";
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { createCredentialDelivery, credentialsBase, CREDENTIALS_ENV, onTmpfs } from "./credentials.ts";
import { createSecretStore } from "./store.ts";

const root = mkdtempSync(join(tmpdir(), "hsu-cred-"));
const bases: string[] = [];
afterAll(() => {
  rmSync(root, { recursive: true, force: true });
  for (const b of bases) rmSync(b, { recursive: true, force: true });
});
let n = 0;

async function setUp(values: Record<string, string | Buffer>) {
  const stateDir = mkdtempSync(join(root, `s${n++}-`));
  const store = createSecretStore(stateDir);
  for (const [k, v] of Object.entries(values)) await store.set(k, Buffer.from(v));
  const redactor = createRedactor();
  const owner = `test${process.pid}x${n}`;
  const delivery = createCredentialDelivery({ store, stateDir, owner, redactor });
  bases.push(delivery.base);
  return { stateDir, store, redactor, delivery, owner };
}
const rejection = async (p: Promise<unknown>) => {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error("resolved");
};
const mode = (p: string) => statSync(p).mode & 0o777;

describe("credential delivery", () => {
  it("puts the base on tmpfs where the host has one (here: /dev/shm or /run), one per state dir", async () => {
    const { delivery, stateDir, owner } = await setUp({});
    expect(delivery.tmpfs).toBe(onTmpfs("/dev/shm") || onTmpfs("/run"));
    if (delivery.tmpfs) expect(delivery.base).not.toContain(stateDir);
    expect(credentialsBase(stateDir, owner).path).toBe(delivery.base);
    expect(credentialsBase(stateDir, "other").path).not.toBe(delivery.base);
  });

  it("one grant: a 0700 dir with 0400 files, env variables, every value added to the redactor; release removes the dir", async () => {
    const { delivery, redactor } = await setUp({ db: "db-value-1", key: "key-value-2" });
    const g = await delivery.provider("api", [{ name: "db" }, { name: "db", file: "copy" }, { name: "key", env: "API_KEY" }]);
    const dir = g.env[CREDENTIALS_ENV]!;
    expect(dir).toBe(join(delivery.base, "api"));
    expect(mode(dir)).toBe(0o700);
    expect(mode(delivery.base)).toBe(0o700);
    expect(readdirSync(dir).sort()).toEqual(["copy", "db"]);
    for (const f of readdirSync(dir)) expect(mode(join(dir, f))).toBe(0o400);
    expect(readFileSync(join(dir, "copy"), "utf8")).toBe("db-value-1");
    expect(g.env.API_KEY).toBe("key-value-2");
    expect(redactor.redact("db-value-1 key-value-2")).toBe("[redacted] [redacted]");
    await g.release();
    expect(existsSync(dir)).toBe(false);
  });

  it("a second grant of a running unit (a re-adopted process) rewrites its dir in place and drops what is no longer granted", async () => {
    const { delivery, store } = await setUp({ a: "value-a-1", b: "value-b-1" });
    const first = await delivery.provider("u", [{ name: "a" }, { name: "b" }]);
    const dir = first.env[CREDENTIALS_ENV]!;
    writeFileSync(join(dir, "stray"), "left by someone");
    await store.set("a", Buffer.from("value-a-2"));
    const second = await delivery.provider("u", [{ name: "a" }]);
    expect(second.env[CREDENTIALS_ENV]).toBe(dir);
    expect(readdirSync(dir)).toEqual(["a"]);
    expect(readFileSync(join(dir, "a"), "utf8")).toBe("value-a-2");
    await first.release();
    expect(existsSync(dir)).toBe(true); // still granted to the second run
    await second.release();
    expect(existsSync(dir)).toBe(false);
  });

  it("refuses a value the environment cannot carry, saying to deliver it as a file, and writes nothing", async () => {
    const { delivery } = await setUp({ nul: "a\0b", bin: Buffer.from([0xff, 0xfe, 0x41]), long: "x".repeat(200 * 1024) });
    expect((await rejection(delivery.provider("u", [{ name: "nul", env: "V" }]))).message).toContain('secret "nul" contains a NUL byte and cannot be the environment variable V: deliver it as a file');
    expect((await rejection(delivery.provider("u", [{ name: "bin", env: "V" }]))).message).toContain("is not UTF-8 text");
    expect((await rejection(delivery.provider("u", [{ name: "long", env: "V" }]))).message).toContain("over the kernel's 131072-byte limit");
    expect((await rejection(delivery.provider("u", [{ name: "absent" }]))).message).toContain('secret "absent" is not set');
    expect(existsSync(join(delivery.base, "u"))).toBe(false);
  });

  it("refuses a unit dir that is a symlink planted to point elsewhere (the base may be on shared /dev/shm)", async () => {
    const { delivery } = await setUp({ a: "value-a" });
    const target = mkdtempSync(join(root, "target-"));
    mkdirSync(delivery.base, { recursive: true, mode: 0o700 });
    symlinkSync(target, join(delivery.base, "victim"));
    expect((await rejection(delivery.provider("victim", [{ name: "a" }]))).message).toContain("is not a directory of ours");
    expect(readdirSync(target)).toEqual([]);
    expect(lstatSync(join(delivery.base, "victim")).isSymbolicLink()).toBe(true);
  });

  it("reap removes what no live grant holds and `keep` does not name, then the base itself once empty", async () => {
    const { delivery } = await setUp({ a: "value-a" });
    const live = await delivery.provider("live", [{ name: "a" }]);
    mkdirSync(join(delivery.base, "leftover"));
    mkdirSync(join(delivery.base, "adopted"));
    expect(delivery.reap(["adopted"])).toEqual(["leftover"]);
    expect(readdirSync(delivery.base).sort()).toEqual(["adopted", "live"]);
    await live.release();
    expect(delivery.reap().sort()).toEqual(["adopted"]);
    expect(existsSync(delivery.base)).toBe(false);
  });

  it("preload puts values in the redactor before any unit starts, and ignores what it cannot read", async () => {
    const { delivery, redactor } = await setUp({ a: "preloaded-value" });
    await delivery.preload(["a", "missing"]);
    expect(redactor.redact("x preloaded-value")).toBe("x [redacted]");
  });
});
