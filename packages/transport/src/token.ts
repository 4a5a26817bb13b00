import { randomBytes, timingSafeEqual } from "node:crypto";

/** The outcome of checking a call's bearer token. */
export type TokenCheck = "ok" | "missing" | "wrong";

/**
 * Checks an `authorization` header value against the expected token in
 * constant time. An empty expected token refuses everything ("missing").
 */
export function checkBearer(header: string | null | undefined, expected: string | undefined): TokenCheck {
  if (!expected) return "missing";
  const m = header ? /^Bearer\s+(.+)$/i.exec(header.trim()) : null;
  if (!m) return "missing";
  const a = Buffer.from(m[1]!);
  const b = Buffer.from(expected);
  // Compare equal-length buffers so the time does not leak the length either.
  const same = a.length === b.length && timingSafeEqual(a, b);
  if (a.length !== b.length) timingSafeEqual(b, b);
  return same ? "ok" : "wrong";
}

/** A fresh random token for a unit (256 bits, base64url). */
export function newToken(): string {
  return randomBytes(32).toString("base64url");
}
