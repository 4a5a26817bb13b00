// What the CLI presents to a master over TCP: the bearer token of HSU_CONTROL_TOKEN.
// Loads no RPC code (`hsu ps`'s quick path reads it too).
import { HsuError } from "@hsu/client/hsu-error";

/**
 * The bearer the CLI sends over TCP: HSU_CONTROL_TOKEN (an API token, a JWT
 * of master.auth.oidc, or the control token), or undefined when it is unset
 * or empty. Whitespace around it (a pasted line, `$(cat file)` of a file
 * with CRLF) and a leading `Bearer ` are dropped; a value that still holds
 * whitespace or a control character cannot be a header and is refused here,
 * rather than reaching the master as no credential at all.
 */
export function controlToken(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const raw = env.HSU_CONTROL_TOKEN;
  if (raw === undefined) return undefined;
  const token = raw.trim().replace(/^Bearer\s+/i, "");
  if (token === "") return undefined;
  // Printable ASCII without spaces: what an API token, a JWT (base64url) or a control token is.
  if (!/^[\x21-\x7e]+$/.test(token)) {
    const at = [...token].findIndex((c) => !/[\x21-\x7e]/.test(c));
    throw new HsuError(
      "invalid_argument",
      `HSU_CONTROL_TOKEN has ${describe(token[at]!)} at character ${at + 1} of ${token.length}; set it to the token alone (an API token, a JWT, or the control token), e.g. HSU_CONTROL_TOKEN=$(cat token-file)`,
    );
  }
  return token;
}

const describe = (c: string) => (/\s/.test(c) ? "whitespace" : c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f ? "a control character" : `a non-ASCII character (${JSON.stringify(c)})`);
