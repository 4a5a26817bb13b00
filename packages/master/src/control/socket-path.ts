import { HsuError } from "@hsu/client";
import { lstatSync } from "node:fs";
import { connect } from "node:net";

const kindOf = (st: { isFile(): boolean; isDirectory(): boolean; isSymbolicLink(): boolean }) =>
  st.isSymbolicLink() ? "a symlink" : st.isDirectory() ? "a directory" : st.isFile() ? "a regular file" : "not a socket";

/**
 * What is wrong with the thing at the control socket path, if anything: the
 * one rule `hsu validate` (with a line) and the master (before it binds) both
 * apply. Nothing there, or a socket, is fine; anything else is never deleted.
 */
export function controlSocketPathProblem(path: string): string | undefined {
  let st;
  try {
    st = lstatSync(path, { throwIfNoEntry: false });
  } catch (e) {
    return `${path} cannot be checked (${(e as Error).message})`;
  }
  if (!st || st.isSocket()) return undefined;
  return `${path} is ${kindOf(st)}, not a socket; hsu never deletes it: move it away or set master.control.socket to another path`;
}

/**
 * Checks the control socket path before the master binds it (with the state
 * dir's lock held): nothing there, or a stale socket nobody listens on, which
 * the listener then replaces. A file, directory or symlink there is never
 * deleted, and a socket someone still serves is never taken over: both throw,
 * naming `master.control.socket` and the path.
 */
export async function checkControlSocketPath(path: string): Promise<void> {
  const problem = controlSocketPathProblem(path);
  if (problem) throw new HsuError("invalid_config", problem, { field: "master.control.socket" });
  if (!lstatSync(path, { throwIfNoEntry: false })) return;
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
