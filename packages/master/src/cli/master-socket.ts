import { HsuError } from "@hsu/client/hsu-error";
import { locateMaster } from "@hsu/client/locate";
import { statSync } from "node:fs";
import { requireSpecFile } from "./spec-file.ts";

/**
 * Where the master that --socket, HSU_CONTROL or hsu.yaml names listens: a
 * Unix socket path or host:port. Only the master's place is read from
 * hsu.yaml (`locateMaster`: `master.state_dir` and `master.control.socket`,
 * by the same `masterPaths` rule as the loader), so `hsu ps` neither loads
 * nor runs the spec's validators. Loads no RPC code.
 */
export function masterSocket(values: { file?: unknown; socket?: unknown }): string {
  const socket = values.socket as string | undefined;
  if (socket || process.env.HSU_CONTROL) return locateMaster(socket ? { socket } : {}).socket;
  const file = requireSpecFile(String(values.file));
  // A FIFO or a directory named hsu.yaml must not hang or confuse the read: `hsu validate` explains it.
  if (!statSync(file).isFile()) throw new HsuError("invalid_config", "not a regular file; `hsu validate` says more", { file });
  return locateMaster({ file }).socket;
}
