// `hsu ps`, `start`, `stop`, `restart` and `scale`: one control call each, and the units it returns.
import type { UnitStatus } from "@hsu/proto";
import { isControlAddress } from "@hsu/client/locate";
import type { ControlClient } from "./client.ts";
import { useColor } from "./color.ts";
import { quickListUnits, QuickCallFailed } from "./list-units.ts";
import { masterSocket } from "./master-socket.ts";
import { procStartTime, psTable, selectUnits, statusJson, summaryLine } from "./status.ts";
import { usageError } from "./usage-error.ts";

type Values = Record<string, string | boolean | undefined>;

const printUnits = (units: UnitStatus[], values: Values, local: boolean) => {
  const startTimeOf = local ? procStartTime : undefined;
  const color = useColor();
  process.stdout.write(
    values.json
      ? `${JSON.stringify(units.map((u) => statusJson(u, Date.now(), startTimeOf)), null, 2)}\n`
      : `${psTable(units, { color, wide: !!values.wide, ...(startTimeOf ? { startTimeOf } : {}), ...(process.stdout.isTTY ? { maxWidth: process.stdout.columns } : {}) })}\n`,
  );
};

// The full control client (connect, the generated descriptors) is loaded only by the calls that need it.
const client = async (values: Values) => (await import("./client.ts")).connect(values);

/**
 * `hsu ps [unit...]`: ListUnits on the quick path (list-units.ts); when that
 * fails for any reason, once more through the full client, whose error is
 * the one to show (no master running, refused, permission denied, ...).
 */
export async function runPs(values: Values, names: string[]): Promise<number> {
  const socket = masterSocket(values);
  const local = !isControlAddress(socket);
  let all: UnitStatus[];
  try {
    all = await quickListUnits(socket, !local);
  } catch (e) {
    if (!(e instanceof QuickCallFailed)) throw e;
    const { controlClient, READ_TIMEOUT_MS } = await import("./client.ts");
    all = (await controlClient(socket).listUnits({}, { timeoutMs: READ_TIMEOUT_MS })).units;
  }
  const units = selectUnits(all, names);
  printUnits(units, values, local);
  if (!values.json) process.stdout.write(`${summaryLine(units, useColor())}\n`);
  return 0;
}

/** `hsu scale <pool> <N>`. */
export async function runScale(values: Values, [pool, n, ...extra]: string[]): Promise<number> {
  if (!pool || n === undefined) throw usageError("scale", "name the pool and the replica count", "<pool> <N>");
  if (!/^\d+$/.test(n)) throw usageError("scale", `the replica count must be a whole number, got "${n}"`, "<pool> <N>");
  if (extra.length) throw usageError("scale", `unexpected argument "${extra[0]}"`, "<pool> <N>");
  const { c, local } = await client(values);
  const res = await c.scalePool({ pool, replicas: Number(n) });
  printUnits(res.replicas, values, local);
  return 0;
}

type Selection = { id?: string; ids?: string[]; all?: boolean };
const calls: Record<"start" | "stop" | "restart", (c: ControlClient, sel: Selection) => Promise<{ unit?: UnitStatus; units?: UnitStatus[] }>> = {
  start: (c, sel) => c.startUnit(sel),
  stop: (c, sel) => c.stopUnit(sel),
  restart: (c, sel) => c.restartUnit(sel),
};

/** `hsu start|stop|restart <unit...>` or `--all`: one control call for all of them. */
export async function runUnitCommand(name: "start" | "stop" | "restart", values: Values, ids: string[]): Promise<number> {
  if (values.all && ids.length) throw usageError(name, `--all or unit names, not both; unexpected "${ids[0]}"`, "<unit...> | --all");
  if (!values.all && !ids.length) throw usageError(name, "name the units (`hsu ps` lists them), or --all", "<unit...> | --all");
  const { c, local } = await client(values);
  // One unit goes as `id`, which every master version reads; more as `ids` (a master without batches refuses an empty `id`).
  const res = await calls[name](c, values.all ? { all: true } : ids.length === 1 ? { id: ids[0]! } : { ids });
  // Every unit the ids addressed: units or replicas, or each replica of a pool (older masters send only `unit`).
  const units = res.units?.length ? res.units : res.unit ? [res.unit] : [];
  if (!units.length) return 0;
  if (values.json && units.length === 1 && ids.length === 1) process.stdout.write(`${JSON.stringify(statusJson(units[0]!, Date.now(), local ? procStartTime : undefined))}\n`);
  else printUnits(units, values, local);
  // A start that ended in `failed` did not do what was asked: say why, and exit 1.
  const failed = name === "stop" ? [] : units.filter((u) => u.state === "failed");
  for (const u of failed) process.stderr.write(`hsu ${name}: ${u.id} failed${u.lastExit ? `: ${u.lastExit}` : ""}; \`hsu logs ${u.id}\` shows its output\n`);
  return failed.length ? 1 : 0;
}
