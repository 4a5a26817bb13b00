import { createHash, randomBytes, timingSafeEqual } from "node:crypto";

const digest = (text: string) => createHash("sha256").update(text).digest();

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
  // Digests have one length whatever the inputs, so the comparison time says nothing about the token.
  const same = timingSafeEqual(digest(m[1]!), digest(expected));
  return same ? "ok" : "wrong";
}

/** A fresh random token for a unit (256 bits, base64url). */
export function newToken(): string {
  return randomBytes(32).toString("base64url");
}
