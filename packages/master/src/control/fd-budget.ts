import type { ConnectionLimits } from "@hsu/transport";
import { readFileSync } from "node:fs";

/** The soft "Max open files" limit in /proc/self/limits text; undefined when absent or unlimited. */
export function parseOpenFileLimit(limitsText: string): number | undefined {
  const m = /^Max open files\s+(\d+|unlimited)\s/m.exec(limitsText);
  return m && m[1] !== "unlimited" ? Number(m[1]) : undefined;
}

/** This process's soft RLIMIT_NOFILE (Linux /proc); undefined where it cannot be read. */
export function openFileLimit(): number | undefined {
  try {
    return parseOpenFileLimit(readFileSync("/proc/self/limits", "utf8"));
  } catch {
    return undefined;
  }
}

/** Used when the limit cannot be read: the common default soft limit. */
const ASSUMED_FD_LIMIT = 1024;

/** Seconds a TCP connection has to send its first request with the right token. */
export const UNTRUSTED_TIMEOUT_MS = 5_000;

/**
 * The limits of the TCP control port, sized from the fd limit so a flood of
 * connections can take at most a quarter of the master's descriptors: the
 * rest stays for the Unix control socket, units' pipes and log files, the
 * registrar and /proc reads. One peer address gets at most a quarter of that,
 * so a flood from one address leaves room for others. A connection that has
 * not sent an authenticated request within {@link UNTRUSTED_TIMEOUT_MS} is
 * destroyed; an idle authenticated one is closed after a minute.
 */
export function tcpControlLimits(fdLimit: number | undefined): Required<ConnectionLimits> {
  const fds = fdLimit ?? ASSUMED_FD_LIMIT;
  const maxConnections = Math.max(8, Math.min(4096, Math.floor(fds / 4)));
  return {
    maxConnections,
    maxPerPeer: Math.max(4, Math.floor(maxConnections / 4)),
    untrustedTimeoutMs: UNTRUSTED_TIMEOUT_MS,
    idleTimeoutMs: 60_000,
  };
}

/** The Unix control socket: only the owner can connect (mode 0600), so no caps; idle sessions still go. */
export const unixControlLimits: ConnectionLimits = { idleTimeoutMs: 5 * 60_000 };
