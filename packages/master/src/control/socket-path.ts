import { HsuError } from "@hsu/client";
import { lstat } from "node:fs/promises";
import { connect } from "node:net";

const kindOf = (st: { isFile(): boolean; isDirectory(): boolean; isSymbolicLink(): boolean }) =>
  st.isSymbolicLink() ? "a symlink" : st.isDirectory() ? "a directory" : st.isFile() ? "a regular file" : "not a socket";

/**
 * Checks the control socket path before the master binds it (with the state
 * dir's lock held): nothing there, or a stale socket nobody listens on, which
 * the listener then replaces. A file, directory or symlink there is never
 * deleted, and a socket someone still serves is never taken over: both throw,
 * naming `master.control.socket` and the path.
 */
export async function checkControlSocketPath(path: string): Promise<void> {
  let st;
  try {
    st = await lstat(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return;
    throw new HsuError("invalid_config", `${path} cannot be checked (${(e as Error).message})`, { field: "master.control.socket" });
  }
  if (!st.isSocket()) {
    throw new HsuError("invalid_config", `${path} is ${kindOf(st)}, not a socket; hsu never deletes it: move it away or set master.control.socket to another path`, {
      field: "master.control.socket",
    });
  }
  // The kernel answers a connect on a listening socket even when its process is stopped: a refusal means nobody listens.
  const served = await new Promise<boolean>((resolve) => {
    const s = connect(path);
    s.once("connect", () => (s.destroy(), resolve(true)));
    s.once("error", (e: NodeJS.ErrnoException) => resolve(e.code !== "ECONNREFUSED" && e.code !== "ENOENT"));
  });
  if (served) {
    throw new HsuError("already_exists", `another process listens on ${path} (a master of another state dir?); stop it or set master.control.socket to another path`, {
      field: "master.control.socket",
    });
  }
}
