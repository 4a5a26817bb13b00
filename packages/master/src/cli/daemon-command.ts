// `hsu daemon` (internal): the master in this process, as `hsu up --detach` starts it.
import { loadDeployment } from "../config/index.ts";
import { runMaster } from "../daemon/run.ts";

/** Runs the master of hsu.yaml until it stops; tells a waiting `hsu up --detach` how its `up` went. */
export async function runDaemon(values: Record<string, string | boolean | undefined>): Promise<number> {
  const stamp = () => new Date().toISOString();
  let running: Awaited<ReturnType<typeof runMaster>>;
  try {
    running = await runMaster(await loadDeployment(String(values.file)), { log: (l) => process.stderr.write(`${stamp()} ${l}\n`) });
  } catch (e) {
    // A master that cannot start leaves nothing behind: say why (master.log) and exit.
    process.stderr.write(`${stamp()} the master cannot start: ${(e as Error).message}\n`);
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
