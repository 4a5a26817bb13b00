import { type UnitStatus } from "@hsu/proto";
import { existsSync, readFileSync } from "node:fs";
import { deploymentJsonSchema, loadDeployment, SpecError } from "../config/index.ts";
import { runMaster } from "../daemon/run.ts";
import { connect as client, controlClient, controlSocketFor, isAddress, requireSpecFile } from "./client.ts";
import { paint, useColor } from "./format.ts";
import { usageError, type Command } from "./help.ts";
import { procStartTime, psTable, selectUnits, statusJson, summaryLine } from "./status.ts";
import { logsCommand } from "./logs.ts";
import { downCommand } from "./down.ts";
import { upCommand, type DaemonRefusal } from "./up.ts";

export type { Command } from "./help.ts";
export { psTable } from "./status.ts";
type Values = Record<string, string | boolean | undefined>;

const file = { file: { type: "string", short: "f", default: "hsu.yaml" } } as const;
const socket = { socket: { type: "string" } } as const;
const json = { json: { type: "boolean" } } as const;

const printUnits = (units: UnitStatus[], values: Values, local: boolean) => {
  const startTimeOf = local ? procStartTime : undefined;
  const color = useColor();
  process.stdout.write(
    values.json
      ? `${JSON.stringify(units.map((u) => statusJson(u, Date.now(), startTimeOf)), null, 2)}\n`
      : `${psTable(units, { color, wide: !!values.wide, ...(startTimeOf ? { startTimeOf } : {}), ...(process.stdout.isTTY ? { maxWidth: process.stdout.columns } : {}) })}\n`,
  );
};

/** Every `hsu` subcommand by name, in the order `hsu --help` lists them. */
export const commands: Record<string, Command> = {
  up: upCommand,
  ps: {
    summary: "list units: kind, state, pid, uptime, restarts, CPU, RSS, health",
    args: "[unit...]",
    options: { ...file, ...socket, ...json, wide: { type: "boolean", short: "w" } },
    examples: [
      "hsu ps",
      "hsu ps web workers       # only these (a pool name stands for its replicas)",
      "hsu ps --wide           # also address, last exit, description",
      "hsu ps --json | jq '.[] | select(.state == \"failed\")'",
    ],
    async run(values, names) {
      const { c, local } = await client(values);
      const units = selectUnits((await c.listUnits({})).units, names);
      printUnits(units, values, local);
      if (!values.json) process.stdout.write(`${summaryLine(units, useColor())}\n`);
      return 0;
    },
  },
  logs: logsCommand,
  start: unitCommand("start", "start a stopped unit", (c, id) => c.startUnit({ id })),
  stop: unitCommand("stop", "stop a unit gracefully (it stays stopped until `hsu start`)", (c, id) => c.stopUnit({ id })),
  restart: unitCommand("restart", "stop a unit and start it again", (c, id) => c.restartUnit({ id })),
  scale: {
    summary: "set a worker pool's replica count",
    args: "<pool> <N>",
    options: { ...file, ...socket, ...json },
    examples: ["hsu scale workers 5", "hsu scale workers 0      # stop every replica, keep the pool"],
    async run(values, [pool, n, ...extra]) {
      if (!pool || n === undefined) throw usageError("scale", "name the pool and the replica count", "<pool> <N>");
      if (!/^\d+$/.test(n)) throw usageError("scale", `the replica count must be a whole number, got "${n}"`, "<pool> <N>");
      if (extra.length) throw usageError("scale", `unexpected argument "${extra[0]}"`, "<pool> <N>");
      const { c, local } = await client(values);
      const res = await c.scalePool({ pool, replicas: Number(n) });
      printUnits(res.replicas, values, local);
      return 0;
    },
  },
  apply: {
    summary: "reload hsu.yaml: start added units, stop removed ones, restart changed ones",
    options: { ...file, ...socket, ...json, "dry-run": { type: "boolean" } },
    examples: ["hsu apply --dry-run      # what would change", "hsu apply"],
    async run(values) {
      const path = requireSpecFile(String(values.file));
      await loadDeployment(path); // every error, with lines, before the master sees it
      const dry = !!values["dry-run"];
      const { c } = await client(values);
      const res = await c.apply({ specYaml: readFileSync(path, "utf8"), fileName: path, dryRun: dry });
      if (values.json) {
        process.stdout.write(`${JSON.stringify({ dryRun: dry, added: res.added, removed: res.removed, changed: res.changed, unchanged: res.unchanged })}\n`);
        return 0;
      }
      const color = useColor();
      const rows = [
        [dry ? "would add" : "added", res.added, "green"],
        [dry ? "would stop" : "removed", res.removed, "red"],
        [dry ? "would restart" : "restarted", res.changed, "yellow"],
        ["unchanged", res.unchanged, "gray"],
      ] as const;
      for (const [label, ids, col] of rows) if (ids.length) process.stdout.write(`${paint(label.padEnd(dry ? 13 : 10), col, color)} ${ids.join(", ")}\n`);
      if (!res.added.length && !res.removed.length && !res.changed.length) process.stdout.write(`nothing to do: the master already runs ${path} as written\n`);
      else if (dry) process.stdout.write(`${paint("dry run: nothing was changed; run `hsu apply` to do it", "gray", color)}\n`);
      return 0;
    },
  },
  down: downCommand,
  validate: {
    summary: "check hsu.yaml and report every problem with its path and line",
    options: { ...file, ...json },
    examples: ["hsu validate", "hsu validate -f deploy/prod.yaml --json"],
    async run(values) {
      try {
        const d = await loadDeployment(requireSpecFile(String(values.file)));
        const n = Object.keys(d.units).length;
        const color = useColor();
        process.stdout.write(values.json ? `${JSON.stringify({ valid: true, units: Object.keys(d.units) })}\n` : `${paint("✔", "green", color)} ${values.file}: valid (${n} unit${n === 1 ? "" : "s"})\n`);
        return 0;
      } catch (e) {
        if (!(e instanceof SpecError)) throw e;
        if (values.json) process.stdout.write(`${JSON.stringify({ valid: false, issues: e.issues })}\n`);
        // "hsu.yaml: 2 problems in hsu.yaml:" names the file twice.
        else process.stderr.write(`${paint("✘", "red", useColor(process.stderr))} ${e.message.replace(/^(\S+): (\d+ problems? in \1)/, "$2")}\n`);
        return 1;
      }
    },
  },
  schema: {
    summary: "print the JSON Schema of hsu.yaml (for editors)",
    options: {},
    examples: ["hsu schema > hsu.schema.json   # then: # yaml-language-server: $schema=./hsu.schema.json"],
    async run() {
      process.stdout.write(`${JSON.stringify(deploymentJsonSchema(), null, 2)}\n`);
      return 0;
    },
  },
  daemon: {
    summary: "(internal) run the master in this process; `hsu up --detach` starts it",
    hidden: true,
    options: { ...file },
    async run(values) {
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
    },
  },
};

function unitCommand(name: string, summary: string, call: (c: ReturnType<typeof controlClient>, id: string) => Promise<{ unit?: UnitStatus; units?: UnitStatus[] }>): Command {
  return {
    summary,
    args: "<unit>",
    options: { ...file, ...socket, ...json },
    examples: [`hsu ${name} web`],
    async run(values, [id, ...extra]) {
      if (!id) throw usageError(name, "name the unit (`hsu ps` lists them)", "<unit>");
      if (extra.length) throw usageError(name, `one unit at a time; unexpected "${extra[0]}"`, "<unit>");
      const { c, local } = await client(values);
      const res = await call(c, id);
      // Every unit the id addressed: one unit or replica, or each replica of a pool (older masters send only `unit`).
      const units = res.units?.length ? res.units : res.unit ? [res.unit] : [];
      if (!units.length) return 0;
      if (values.json && units.length === 1) process.stdout.write(`${JSON.stringify(statusJson(units[0]!, Date.now(), local ? procStartTime : undefined))}\n`);
      else printUnits(units, values, local);
      // A start that ended in `failed` did not do what was asked: say why, and exit 1.
      const failed = name === "stop" ? [] : units.filter((u) => u.state === "failed");
      for (const u of failed) process.stderr.write(`hsu ${name}: ${u.id} failed${u.lastExit ? `: ${u.lastExit}` : ""}; \`hsu logs ${u.id}\` shows its output\n`);
      return failed.length ? 1 : 0;
    },
  };
}
