import { readdir, readFile, readlink } from "node:fs/promises";
import { isVanishedError, listPids } from "../resources/proc.ts";

const LISTEN = "0A";

/** Socket inodes of TCP sockets (v4 and v6) listening on `port`, from /proc/net/tcp{,6}. */
export async function listeningInodes(port: number, procRoot = "/proc"): Promise<Set<string>> {
  const inodes = new Set<string>();
  for (const file of ["tcp", "tcp6"]) {
    let text: string;
    try {
      text = await readFile(`${procRoot}/net/${file}`, "utf8");
    } catch (error) {
      // A host without IPv6 has no tcp6 table.
      if ((error as { code?: string }).code === "ENOENT") continue;
      throw error;
    }
    for (const line of text.split("\n").slice(1)) {
      const f = line.trim().split(/\s+/);
      const local = f[1];
      if (!local || f[3] !== LISTEN) continue;
      if (parseInt(local.slice(local.lastIndexOf(":") + 1), 16) === port && f[9] && f[9] !== "0") inodes.add(f[9]);
    }
  }
  return inodes;
}

/**
 * Pids holding a socket listening on `port`: one readlink per open fd of
 * every process, so it is meant for attaching, not for polling.
 */
export async function pidsListeningOn(port: number, procRoot = "/proc"): Promise<number[]> {
  const inodes = await listeningInodes(port, procRoot);
  if (inodes.size === 0) return [];
  const targets = new Set([...inodes].map((i) => `socket:[${i}]`));
  const owners: number[] = [];
  await Promise.all(
    (await listPids(procRoot)).map(async (pid) => {
      let fds: string[];
      try {
        fds = await readdir(`${procRoot}/${pid}/fd`);
      } catch (error) {
        if (isVanishedError(error)) return;
        throw error;
      }
      for (const fd of fds) {
        const link = await readlink(`${procRoot}/${pid}/fd/${fd}`).catch((error: unknown) => {
          if (isVanishedError(error)) return "";
          throw error;
        });
        if (targets.has(link)) {
          owners.push(pid);
          return;
        }
      }
    }),
  );
  return owners;
}
