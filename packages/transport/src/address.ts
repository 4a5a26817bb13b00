/**
 * The one address syntax of HSU (docs/unit-contract.md, "Addresses"):
 * `unix:/abs/path`, `unix:///abs/path`, `host:port`, `tcp://host:port`.
 */
export type UnitAddress =
  | { readonly kind: "unix"; readonly path: string }
  | { readonly kind: "tcp"; readonly host: string; readonly port: number };

/** The kernel's limit for a Unix socket path (sun_path) including the NUL. */
export const UNIX_PATH_MAX = 108;

/** Thrown for an address that does not follow the syntax; says what and why. */
export class AddressError extends Error {
  override readonly name = "AddressError";
}

/** Parses an address string; throws AddressError naming the input and the rule it broke. */
export function parseAddress(input: string): UnitAddress {
  const text = input.trim();
  if (text.startsWith("unix:")) {
    const path = text.startsWith("unix://") ? text.slice("unix://".length) : text.slice("unix:".length);
    if (!path.startsWith("/")) {
      throw new AddressError(`address "${input}": a unix socket path must be absolute, like unix:/run/hsu/api.sock`);
    }
    if (Buffer.byteLength(path) >= UNIX_PATH_MAX) {
      throw new AddressError(
        `address "${input}": the socket path is ${Buffer.byteLength(path)} bytes; the kernel allows at most ${UNIX_PATH_MAX - 1} - use a shorter directory`,
      );
    }
    return { kind: "unix", path };
  }
  const hostPort = text.startsWith("tcp://") ? text.slice("tcp://".length) : text;
  const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(hostPort);
  if (!m) {
    throw new AddressError(`address "${input}": expected unix:/path/to.sock or host:port (for example 127.0.0.1:0)`);
  }
  const port = Number(m[2]);
  if (port > 65535) throw new AddressError(`address "${input}": port ${port} is above 65535`);
  const host = m[1]!.startsWith("[") ? m[1]!.slice(1, -1) : m[1]!;
  return { kind: "tcp", host, port };
}

/** Formats an address in its canonical form (`unix:/path` or `host:port`, IPv6 in brackets). */
export function formatAddress(address: UnitAddress): string {
  if (address.kind === "unix") return `unix:${address.path}`;
  return `${address.host.includes(":") ? `[${address.host}]` : address.host}:${address.port}`;
}
