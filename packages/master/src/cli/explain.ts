import { Code, ConnectError } from "@connectrpc/connect";
import { HsuError } from "@hsu/client/errors";
import { connectFailureKind } from "@hsu/transport";
import { JWT_UNCHECKED } from "../auth/messages.ts";

/** A failure as one readable message: what went wrong and what to do, never a stack trace. */
export function explain(e: unknown): string {
  if (e instanceof ConnectError) {
    // A TLS handshake refused, or a port that hung up: the transport's message names the address, the cause and the fix.
    if (connectFailureKind(e)) return `cannot connect to the master: ${e.rawMessage}`;
    // UNAVAILABLE is "no master" unless the master itself answered it (a JWT whose identity provider is down).
    if (e.code === Code.Unavailable && !e.rawMessage.startsWith(JWT_UNCHECKED)) return `cannot reach the master (${e.rawMessage}); is it running? \`hsu up -d\` starts one`;
    if (e.code === Code.DeadlineExceeded) {
      return `the master accepted the call but did not answer in time (${e.rawMessage}); it may be stopped (SIGSTOP) or overloaded: check its process and its log, master.log in the state dir`;
    }
    // Over TCP the CLI's only credential is HSU_CONTROL_TOKEN: a refusal without one says where it goes.
    if (e.code === Code.Unauthenticated && !process.env.HSU_CONTROL_TOKEN) return `${e.rawMessage}; the CLI sends it from HSU_CONTROL_TOKEN, which is not set`;
    return e.rawMessage;
  }
  return e instanceof Error ? e.message : String(e);
}

/** True for a mistake in how hsu was called (exit code 2) rather than a failure (1). */
export const isUsageMistake = (e: unknown): boolean => HsuError.is(e) && e.code === "invalid_argument";
