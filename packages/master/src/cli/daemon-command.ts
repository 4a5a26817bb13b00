// `hsu daemon` (internal): the master in this process, as `hsu up --detach` starts it.
import { loadDeployment } from "../config/index.ts";
import { runMaster } from "../daemon/run.ts";
import type { DaemonRefusal } from "./up.ts";

/** Runs the master of hsu.yaml until it stops; tells a waiting `hsu up --detach` how its `up` went. */
export async function runDaemon(values: Record<string, string | boolean | undefined>): Promise<number> {
  const stamp = () => new Date().toISOString();
  let running: Awaited<ReturnType<typeof runMaster>>;
  try {
    running = await runMaster(await loadDeployment(String(values.file)), { log: (l) => process.stderr.write(`${stamp()} ${l}\n`) });
  } catch (e) {
    // A master that cannot start leaves nothing behind: say why (master.log, and to `hsu up -d`) and exit.
    const refused = (e as Error).message;
    process.stderr.write(`${stamp()} the master cannot start: ${refused}\n`);
    if (process.send && process.connected) {
      // Sent before we exit, or given up on after a while (the CLI that waits may be gone).
      await new Promise<void>((r) => {
        setTimeout(r, 2_000);
        process.send!({ refused } satisfies DaemonRefusal, undefined, {}, () => r());
      });
    }
    process.exit(1);
  }
  running.master.onEvent((e) => process.stderr.write(`${new Date(e.time).toISOString()} ${e.unit}: ${e.from} -> ${e.to} (${e.reason})\n`));
  let error: string | undefined;
  await running.master.up().catch((e: unknown) => {
    error = (e as Error).message;
    process.stderr.write(`${stamp()} up: ${error}\n`);
  });
  // `hsu up --detach` waits for this; it may be gone already.
  process.send?.(error ? { error } : {}, undefined, {}, () => process.connected && process.disconnect());
  await running.done;
  return 0;
}
