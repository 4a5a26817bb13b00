import { HsuError } from "@hsu/client";
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, statSync, writeSync, chmodSync } from "node:fs";
import { join } from "node:path";
import { ROLES, type Principal, type Role } from "./principal.ts";

/** One API token as stored: never its secret, only the secret's sha256. */
export interface TokenRecord {
  readonly id: string;
  readonly name: string;
  /** sha256 of the secret part, hex. */
  readonly hash: string;
  readonly created: number;
  readonly expires?: number;
  readonly roles: readonly Role[];
  readonly units: readonly string[];
  readonly methods: readonly string[];
  readonly revoked?: number;
}

/** A token as listed: what it may do and whether it is live; never the secret or its hash. */
export type TokenInfo = Omit<TokenRecord, "hash">;

/** What `create` needs: a name, at least one role, optional scopes and expiry. */
export interface NewToken {
  readonly name: string;
  readonly roles: readonly Role[];
  readonly units?: readonly string[];
  readonly methods?: readonly string[];
  /** ms since the epoch. */
  readonly expires?: number;
}

/** Why a bearer token was not accepted, said so that its holder knows what to do. */
export interface TokenRefusal {
  readonly refused: string;
}

/** The API tokens of one master: the master is their only writer. */
export interface TokenStore {
  readonly file: string;
  /** Makes a token; the returned string is the only time its secret exists outside the caller. */
  create(t: NewToken): { token: string; info: TokenInfo };
  list(): TokenInfo[];
  /** Marks a token revoked (kept, for the audit log's sake); the next call with it is refused. */
  revoke(id: string): TokenInfo;
  /** The principal an `hsu_<id>_<secret>` string stands for, or why it does not. */
  verify(token: string): Principal | TokenRefusal;
}

const PREFIX = "hsu_";
const ID = /^[0-9a-f]{8}$/;

/** True when the string has the shape of an API token (so other bearer kinds, JWTs, are tried instead). */
export function looksLikeApiToken(s: string): boolean {
  return s.startsWith(PREFIX) && ID.test(s.slice(PREFIX.length, PREFIX.length + 8)) && s[PREFIX.length + 8] === "_";
}

const sha256 = (s: string) => createHash("sha256").update(s).digest();

/** Options for {@link openTokenStore}. */
export interface TokenStoreOptions {
  /** The master's state dir: tokens live in `<stateDir>/auth/tokens.json`. */
  stateDir: string;
  /** ms since the epoch (default Date.now): expiry is checked against it. */
  now?: () => number;
  /** How often, at most, the file is looked at for a change made by hand (default 1000 ms). */
  recheckMs?: number;
}

/**
 * Opens (and creates on first write) the token store. Lookups are answered
 * from memory; the file is stat'ed at most every `recheckMs` to pick up a
 * hand edit, and re-read only when its size, mtime or inode changed. Writes
 * go to a temporary file, fsync'd, renamed over the old one (mode 0600 in a
 * 0700 directory).
 */
export function openTokenStore(options: TokenStoreOptions): TokenStore {
  const dir = join(options.stateDir, "auth");
  const file = join(dir, "tokens.json");
  const now = options.now ?? Date.now;
  const recheckMs = options.recheckMs ?? 1000;
  let records = new Map<string, TokenRecord>();
  let seen = "";
  let checkedAt = -Infinity;

  const stamp = (): string => {
    try {
      const s = statSync(file);
      return `${s.ino}:${s.size}:${s.mtimeMs}`;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return "";
      throw e;
    }
  };
  const load = () => {
    const current = stamp();
    checkedAt = now();
    if (current === seen) return;
    seen = current;
    if (current === "") {
      records = new Map();
      return;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(file, "utf8"));
    } catch (e) {
      throw new HsuError("internal", `cannot read the API tokens: ${(e as Error).message}; fix or remove the file (every token in it stops working)`, { file });
    }
    const list = (parsed as { tokens?: unknown }).tokens;
    if (!Array.isArray(list)) throw new HsuError("internal", "the API tokens file has no \"tokens\" list; fix or remove it", { file });
    records = new Map((list as TokenRecord[]).map((r) => [r.id, r]));
  };
  const fresh = () => {
    if (now() - checkedAt >= recheckMs) load();
  };
  const save = () => {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    chmodSync(dir, 0o700);
    const tmp = `${file}.${process.pid}.tmp`;
    const fd = openSync(tmp, "w", 0o600);
    try {
      writeSync(fd, `${JSON.stringify({ version: 1, tokens: [...records.values()] }, null, 2)}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, file);
    seen = stamp();
  };
  const info = ({ hash: _hash, ...rest }: TokenRecord): TokenInfo => rest;

  load();
  return {
    file,
    create(t) {
      if (!t.name.trim()) throw new HsuError("invalid_argument", "a token needs a name (--name ci)");
      if (!t.roles.length) throw new HsuError("invalid_argument", `a token needs at least one role (--role ${ROLES.join("|")})`);
      for (const r of t.roles) if (!ROLES.includes(r)) throw new HsuError("invalid_argument", `unknown role "${r}"; the roles are ${ROLES.join(", ")}`);
      if (t.expires !== undefined && t.expires <= now()) throw new HsuError("invalid_argument", "the expiry is in the past");
      load();
      let id: string;
      do id = randomBytes(4).toString("hex");
      while (records.has(id));
      const secret = randomBytes(32).toString("base64url");
      const record: TokenRecord = {
        id,
        name: t.name,
        hash: sha256(secret).toString("hex"),
        created: now(),
        ...(t.expires !== undefined ? { expires: t.expires } : {}),
        roles: [...new Set(t.roles)],
        units: [...(t.units ?? [])],
        methods: [...(t.methods ?? [])],
      };
      records.set(id, record);
      save();
      return { token: `${PREFIX}${id}_${secret}`, info: info(record) };
    },
    list() {
      fresh();
      return [...records.values()].sort((a, b) => a.created - b.created || a.id.localeCompare(b.id)).map(info);
    },
    revoke(id) {
      load();
      const bare = id.startsWith(PREFIX) ? id.slice(PREFIX.length, PREFIX.length + 8) : id;
      const r = records.get(bare);
      if (!r) throw new HsuError("not_found", `no API token "${id}"; \`hsu token list\` shows their ids`);
      if (r.revoked === undefined) {
        records.set(bare, { ...r, revoked: now() });
        save();
      }
      return info(records.get(bare)!);
    },
    verify(token) {
      fresh();
      const id = token.slice(PREFIX.length, PREFIX.length + 8);
      const short = `${PREFIX}${id}`;
      if (!looksLikeApiToken(token)) return { refused: "the bearer token is not an API token (hsu_<id>_<secret>)" };
      const r = records.get(id);
      const given = sha256(token.slice(PREFIX.length + 9));
      // Compare even when the id is unknown, so the time taken says nothing about which ids exist.
      const expected = r ? Buffer.from(r.hash, "hex") : Buffer.alloc(32);
      if (!timingSafeEqual(given, expected.length === 32 ? expected : Buffer.alloc(32)) || !r) {
        return { refused: `token ${short} is not valid (unknown id or wrong secret); create one with \`hsu token create\`` };
      }
      if (r.revoked !== undefined) return { refused: `token ${short} ("${r.name}") was revoked at ${new Date(r.revoked).toISOString()}; create a new one with \`hsu token create\`` };
      if (r.expires !== undefined && r.expires <= now()) return { refused: `token ${short} ("${r.name}") expired at ${new Date(r.expires).toISOString()}; create a new one with \`hsu token create\`` };
      return { kind: "api-token", subject: id, roles: r.roles, units: r.units, methods: r.methods, ...(r.expires !== undefined ? { expiresAt: r.expires } : {}) };
    },
  };
}
