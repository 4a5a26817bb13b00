import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { looksLikeApiToken, openTokenStore } from "./tokens.ts";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const stateDir = () => {
  const d = mkdtempSync(join(tmpdir(), "hsu-tokens-"));
  dirs.push(d);
  return d;
};

describe("the API token store", () => {
  it("shows the secret once and stores only its sha256, in a 0600 file in a 0700 dir", () => {
    const dir = stateDir();
    const store = openTokenStore({ stateDir: dir });
    const { token, info } = store.create({ name: "ci", roles: ["operator"], units: ["echo"], methods: ["pkg.S/*"] });
    expect(token).toMatch(/^hsu_[0-9a-f]{8}_[A-Za-z0-9_-]{43}$/);
    expect(token.startsWith(`hsu_${info.id}_`)).toBe(true);
    expect(info).not.toHaveProperty("hash");
    const text = readFileSync(store.file, "utf8");
    expect(text).not.toContain(token.slice(13));
    expect(JSON.parse(text).tokens[0]).toMatchObject({ id: info.id, name: "ci", roles: ["operator"], units: ["echo"], methods: ["pkg.S/*"], hash: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect(statSync(store.file).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, "auth")).mode & 0o777).toBe(0o700);
    expect(store.list().map((t) => Object.keys(t).sort())).toEqual([["created", "id", "methods", "name", "roles", "units"]]);
  });

  it("verifies the token to its principal; refuses a wrong secret, an unknown id and garbage", () => {
    const store = openTokenStore({ stateDir: stateDir() });
    const { token, info } = store.create({ name: "ci", roles: ["viewer"] });
    expect(store.verify(token)).toEqual({ kind: "api-token", subject: info.id, roles: ["viewer"], units: [], methods: [] });
    const wrong = `${token.slice(0, -2)}${token.endsWith("AA") ? "BB" : "AA"}`;
    expect(store.verify(wrong)).toEqual({ refused: expect.stringContaining(`token hsu_${info.id} is not valid`) });
    expect(store.verify("hsu_00000000_abc")).toEqual({ refused: expect.stringContaining("is not valid") });
    expect(store.verify("hsu_nothex!!_abc")).toEqual({ refused: expect.stringContaining("not an API token") });
    expect(store.verify(`hsu_${info.id}_`)).toEqual({ refused: expect.stringContaining("is not valid") });
  });

  it("refuses an expired token from the moment it expires, naming when", () => {
    let now = 1_000_000;
    const store = openTokenStore({ stateDir: stateDir(), now: () => now });
    const { token, info } = store.create({ name: "short", roles: ["viewer"], expires: now + 60_000 });
    expect(store.verify(token)).toMatchObject({ kind: "api-token", expiresAt: now + 60_000 });
    now += 60_000;
    expect(store.verify(token)).toEqual({ refused: `token hsu_${info.id} ("short") expired at ${new Date(now).toISOString()}; create a new one with \`hsu token create\`` });
  });

  it("a revoke takes effect at once, survives a reopen, and is idempotent", () => {
    const dir = stateDir();
    const store = openTokenStore({ stateDir: dir });
    const { token, info } = store.create({ name: "ci", roles: ["admin"] });
    const revoked = store.revoke(`hsu_${info.id}`);
    expect(revoked.revoked).toEqual(expect.any(Number));
    expect(store.verify(token)).toEqual({ refused: expect.stringContaining("was revoked") });
    expect(store.revoke(info.id).revoked).toBe(revoked.revoked);
    expect(openTokenStore({ stateDir: dir }).verify(token)).toEqual({ refused: expect.stringContaining("was revoked") });
    expect(() => store.revoke("ffffffff")).toThrow(/no API token "ffffffff"; `hsu token list` shows their ids/);
  });

  it("picks up a change made to the file behind its back (after recheckMs)", () => {
    let now = 0;
    const dir = stateDir();
    const store = openTokenStore({ stateDir: dir, now: () => now, recheckMs: 1000 });
    const { token } = store.create({ name: "ci", roles: ["viewer"] });
    const other = openTokenStore({ stateDir: dir, now: () => now });
    other.revoke(token.slice(4, 12));
    expect(store.verify(token)).toMatchObject({ kind: "api-token" });
    now += 1000;
    expect(store.verify(token)).toMatchObject({ refused: expect.stringContaining("revoked") });
  });

  it("refuses nonsense at creation: no name, no role, an unknown role, a past expiry", () => {
    const store = openTokenStore({ stateDir: stateDir(), now: () => 10 });
    expect(() => store.create({ name: " ", roles: ["viewer"] })).toThrow(/needs a name/);
    expect(() => store.create({ name: "x", roles: [] })).toThrow(/at least one role \(--role caller\|viewer\|operator\|admin\)/);
    expect(() => store.create({ name: "x", roles: ["root" as never] })).toThrow(/unknown role "root"/);
    expect(() => store.create({ name: "x", roles: ["viewer"], expires: 5 })).toThrow(/in the past/);
  });

  it("a corrupt file is an error naming the file, not an empty store", () => {
    const dir = stateDir();
    const store = openTokenStore({ stateDir: dir });
    store.create({ name: "ci", roles: ["viewer"] });
    writeFileSync(store.file, "{not json");
    expect(() => openTokenStore({ stateDir: dir })).toThrow(/cannot read the API tokens/);
  });

  it("tells an API token's shape from a JWT or a control token", () => {
    expect(looksLikeApiToken("hsu_0123abcd_xyz")).toBe(true);
    expect(looksLikeApiToken("hsu_0123abc_xyz")).toBe(false);
    expect(looksLikeApiToken("eyJ.eyJ.sig")).toBe(false);
  });
});
