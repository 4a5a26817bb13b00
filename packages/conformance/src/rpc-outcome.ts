import { Code, ConnectError } from "@connectrpc/connect";

/** The gRPC code a call ends with, by name ("ok" on success) plus the message, for readable failures. */
export async function codeOf(call: Promise<unknown>): Promise<string> {
  try {
    await call;
    return "ok";
  } catch (e) {
    const err = ConnectError.from(e);
    return `${Code[err.code]}: ${err.rawMessage}`;
  }
}

/** Matches a {@link codeOf} result with the given code, whatever the message. */
export function isCode(code: Code): RegExp {
  return new RegExp(`^${Code[code]}:`);
}
