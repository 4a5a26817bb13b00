import { timestampDate, timestampFromMs } from "@bufbuild/protobuf/wkt";
import { UnitKind, type UnitStatus } from "@hsu/proto";
import { spawn } from "node:child_process";
import { mkdirSync, openSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { deploymentJsonSchema, loadDeployment, parseDuration, SpecError } from "../config/index.ts";
import { masterAnswers, runMaster } from "../daemon/run.ts";
import { controlClient, controlSocketFor } from "./client.ts";
import { formatBytes, formatDuration, paint, spinner, stateColor, table, useColor } from "./format.ts";

type Values = Record<string, string | boolean | undefined>;
type Options = NonNullable<Parameters<typeof import("node:util").parseArgs>[0]>["options"];

/** One `hsu` subcommand. */
export interface Command {
  summary: string;
  args?: string;
  options: Options;
  run(values: Values, positionals: string[]): Promise<number>;
}

const file = { file: { type: "string", short: "f", default: "hsu.yaml" } } as const;
// `hsu logs -f` follows, as in every log tool; its spec file is --file only.
const fileLong = { file: { type: "string", default: "hsu.yaml" } } as const;
const socket = { socket: { type: "string" } } as const;
const json = { json: { type: "boolean" } } as const;

const kindName: Record<number, string> = {
  [UnitKind.MANAGED]: "managed",
  [UnitKind.UNMANAGED]: "unmanaged",
  [UnitKind.INTEGRATED]: "integrated",
  [UnitKind.POOL_REPLICA]: "pool",
  [UnitKind.SCHEDULED]: "scheduled",
};

function statusJson(u: UnitStatus) {
  return {
    id: u.id,
    kind: kindName[u.kind] ?? "unknown",
    state: u.state,
    pid: u.pid || null,
    startedAt: u.startedAt ? timestampDate(u.startedAt).toISOString() : null,
    uptimeMs: u.startedAt && u.pid ? Date.now() - timestampDate(u.startedAt).getTime() : null,
    restarts: u.restarts,
    cpuPercent: Math.round(u.cpuPercent * 10) / 10,
    rssBytes: Number(u.rssBytes),
    health: u.health || null,
    address: u.address || null,
    lastExit: u.lastExit || null,
    pool: u.pool || null,
    nextRun: u.nextRun ? timestampDate(u.nextRun).toISOString() : null,
  };
}

/** The `hsu ps` table. */
export function psTable(units: UnitStatus[], color: boolean): string {
  const rows = units.map((u) => {
    const j = statusJson(u);
    return [
      j.id,
      j.kind,
      paint(j.state, stateColor(j.state), color),
      j.pid ? String(j.pid) : "-",
      j.uptimeMs !== null ? formatDuration(j.uptimeMs) : j.nextRun ? `next ${j.nextRun.slice(11, 19)}` : "-",
      String(j.restarts),
      j.pid ? `${j.cpuPercent.toFixed(1)}%` : "-",
      formatBytes(j.rssBytes),
      j.health ? paint(j.health, j.health === "healthy" ? "green" : j.health === "unhealthy" ? "red" : "gray", color) : "-",
    ];
  });
  return table(["UNIT", "KIND", "STATE", "PID", "UPTIME", "RESTARTS", "CPU", "RSS", "HEALTH"], rows, { right: [3, 5, 6, 7], color });
}

async function client(values: Values) {
  const { socket: path } = await controlSocketFor(String(values.file), values.socket as string | undefined);
  return controlClient(path);
}

const unitColors = ["cyan", "magenta", "blue", "yellow", "green"] as const;
function prefixer(color: boolean) {
  const assigned = new Map<string, (typeof unitColors)[number]>();
  let width = 8;
  return (unit: string) => {
    if (!assigned.has(unit)) assigned.set(unit, unitColors[assigned.size % unitColors.length]!);
    width = Math.max(width, unit.length);
    return paint(`${unit.padEnd(width)} |`, assigned.get(unit)!, color);
  };
}

async function waitSettled(socketPath: string, timeoutMs: number): Promise<UnitStatus[]> {
  const c = controlClient(socketPath);
  const until = Date.now() + timeoutMs;
  for (;;) {
    const { units } = await c.listUnits({});
    if (!units.some((u) => u.state === "starting") || Date.now() > until) return units;
    await new Promise((r) => setTimeout(r, 100));
  }
}

export const commands: Record<string, Command> = {
  up: {
    summary: "start the master and every auto-start unit (foreground, or --detach)",
    options: { ...file, detach: { type: "boolean", short: "d" }, ...json },
    async run(values) {
      const deployment = await loadDeployment(String(values.file));
      const color = useColor();
      if (values.detach) {
        if (await masterAnswers(deployment.master.controlSocket)) throw new Error(`a master is already running on ${deployment.master.controlSocket}`);
        mkdirSync(deployment.master.stateDir, { recursive: true, mode: 0o700 });
        const logFile = join(deployment.master.stateDir, "master.log");
        const out = openSync(logFile, "a");
        const self = fileURLToPath(new URL(import.meta.url.endsWith(".ts") ? "./main.ts" : "./main.js", import.meta.url));
        const child = spawn(process.execPath, [...process.execArgv, self, "daemon", "-f", resolve(String(values.file))], {
          detached: true,
          stdio: ["ignore", out, out],
        });
        child.unref();
        const spin = spinner(`starting ${Object.keys(deployment.units).length} units`);
        const exited = new Promise<number>((r) => child.once("exit", (c) => r(c ?? 1)));
        for (;;) {
          const code = await Promise.race([exited, new Promise<null>((r) => setTimeout(() => r(null), 100))]);
          if (code !== null) {
            spin.stop();
            process.stderr.write(readFileSync(logFile, "utf8").split("\n").slice(-20).join("\n"));
            return 1;
          }
          if (await masterAnswers(deployment.master.controlSocket)) break;
        }
        const units = await waitSettled(deployment.master.controlSocket, 60_000);
        spin.stop(`${paint("✔", "green", color)} master running (pid ${child.pid}), log ${logFile}`);
        process.stdout.write(values.json ? `${JSON.stringify(units.map(statusJson), null, 2)}\n` : `${psTable(units, color)}\n`);
        return 0;
      }
      const running = await runMaster(deployment, { log: (l) => process.stderr.write(`${paint("hsu", "bold", color)} ${l}\n`) });
      const prefix = prefixer(color);
      running.master.onEvent((e) => {
        process.stderr.write(`${paint("hsu", "bold", color)} ${e.unit}: ${e.from} -> ${paint(e.to, stateColor(e.to), color)} (${e.reason})\n`);
      });
      const logsDone = (async () => {
        const controller = new AbortController();
        void running.done.then(() => controller.abort());
        for await (const line of running.master.logLines([], 0, true, controller.signal)) {
          process.stdout.write(`${prefix(line.unit)} ${line.text}\n`);
        }
      })();
      const spin = spinner(`starting ${Object.keys(deployment.units).length} units`);
      try {
        await running.master.up();
        spin.stop(`${paint("✔", "green", color)} up: ${Object.keys(deployment.units).length} units; Ctrl-C stops them all`);
      } catch (e) {
        spin.stop(`${paint("✘", "red", color)} ${(e as Error).message}`);
      }
      process.stderr.write(`${psTable(running.master.list().map((v) => ({ ...toStatusLite(v) })) as UnitStatus[], color)}\n`);
      await running.done;
      await logsDone.catch(() => {});
      return 0;
    },
  },
  daemon: {
    summary: "(internal) run the master in this process; `hsu up --detach` starts it",
    options: { ...file },
    async run(values) {
      const deployment = await loadDeployment(String(values.file));
      const running = await runMaster(deployment, { log: (l) => process.stderr.write(`${new Date().toISOString()} ${l}\n`) });
      running.master.onEvent((e) => process.stderr.write(`${new Date(e.time).toISOString()} ${e.unit}: ${e.from} -> ${e.to} (${e.reason})\n`));
      await running.master.up().catch((e: unknown) => process.stderr.write(`${new Date().toISOString()} up: ${(e as Error).message}\n`));
      await running.done;
      return 0;
    },
  },
  ps: {
    summary: "list units: kind, state, pid, uptime, restarts, CPU, RSS, health",
    options: { ...file, ...socket, ...json },
    async run(values) {
      const { units } = await (await client(values)).listUnits({});
      process.stdout.write(values.json ? `${JSON.stringify(units.map(statusJson), null, 2)}\n` : `${psTable(units, useColor())}\n`);
      return 0;
    },
  },
  logs: {
    summary: "show unit logs (all units when none is named); -f follows",
    args: "[unit...]",
    options: { ...fileLong, ...socket, ...json, follow: { type: "boolean", short: "f" }, since: { type: "string" }, tail: { type: "string", short: "n" } },
    async run(values, units) {
      const c = await client(values);
      const sinceMs = values.since ? parseDuration(String(values.since)) : undefined;
      if (values.since && sinceMs === undefined) throw new Error(`--since: expected a duration like "10m", got "${values.since}"`);
      const color = useColor();
      const prefix = prefixer(color);
      for await (const { entry } of c.streamLogs({
        units,
        follow: !!values.follow,
        tail: values.tail ? Number(values.tail) : 100,
        ...(sinceMs !== undefined ? { since: timestampFromMs(Date.now() - sinceMs) } : {}),
      })) {
        if (!entry) continue;
        if (values.json) {
          process.stdout.write(`${JSON.stringify({ unit: entry.unit, stream: entry.stream, time: entry.time ? timestampDate(entry.time).toISOString() : null, text: entry.text })}\n`);
        } else {
          const text = entry.stream === "stderr" ? paint(entry.text, "yellow", color) : entry.text;
          process.stdout.write(`${prefix(entry.unit)} ${text}\n`);
        }
      }
      return 0;
    },
  },
  start: unitCommand("start a stopped unit", (c, id) => c.startUnit({ id })),
  stop: unitCommand("stop a unit gracefully (it stays stopped)", (c, id) => c.stopUnit({ id })),
  restart: unitCommand("restart a unit", (c, id) => c.restartUnit({ id })),
  scale: {
    summary: "set a worker pool's replica count",
    args: "<pool> <N>",
    options: { ...file, ...socket, ...json },
    async run(values, [pool, n]) {
      if (!pool || n === undefined || !/^\d+$/.test(n)) throw new Error("usage: hsu scale <pool> <N>");
      const res = await (await client(values)).scalePool({ pool, replicas: Number(n) });
      process.stdout.write(values.json ? `${JSON.stringify(res.replicas.map(statusJson), null, 2)}\n` : `${psTable(res.replicas, useColor())}\n`);
      return 0;
    },
  },
  apply: {
    summary: "reload hsu.yaml: start added units, stop removed ones, restart changed ones",
    options: { ...file, ...socket, ...json, "dry-run": { type: "boolean" } },
    async run(values) {
      const path = String(values.file);
      await loadDeployment(path); // every error, with lines, before the master sees it
      const res = await (await client(values)).apply({ specYaml: readFileSync(path, "utf8"), fileName: path, dryRun: !!values["dry-run"] });
      if (values.json) process.stdout.write(`${JSON.stringify({ added: res.added, removed: res.removed, changed: res.changed, unchanged: res.unchanged })}\n`);
      else {
        const color = useColor();
        for (const [label, ids, c] of [["added", res.added, "green"], ["removed", res.removed, "red"], ["restarted", res.changed, "yellow"], ["unchanged", res.unchanged, "gray"]] as const) {
          if (ids.length) process.stdout.write(`${paint(label.padEnd(10), c, color)} ${ids.join(", ")}\n`);
        }
      }
      return 0;
    },
  },
  down: {
    summary: "stop every unit the master owns, then the master",
    options: { ...file, ...socket, ...json },
    async run(values) {
      const res = await (await client(values)).shutdownMaster({});
      process.stdout.write(values.json ? `${JSON.stringify({ stopped: res.stopped })}\n` : `stopped ${res.stopped.length} units and the master\n`);
      return 0;
    },
  },
  validate: {
    summary: "check hsu.yaml and report every problem with its path and line",
    options: { ...file, ...json },
    async run(values) {
      try {
        const d = await loadDeployment(String(values.file));
        process.stdout.write(values.json ? `${JSON.stringify({ valid: true, units: Object.keys(d.units) })}\n` : `${values.file}: valid (${Object.keys(d.units).length} units)\n`);
        return 0;
      } catch (e) {
        if (!(e instanceof SpecError)) throw e;
        if (values.json) process.stdout.write(`${JSON.stringify({ valid: false, issues: e.issues })}\n`);
        else process.stderr.write(`${e.message}\n`);
        return 1;
      }
    },
  },
  schema: {
    summary: "print the JSON Schema of hsu.yaml (for editors)",
    options: {},
    async run() {
      process.stdout.write(`${JSON.stringify(deploymentJsonSchema(), null, 2)}\n`);
      return 0;
    },
  },
};

function unitCommand(summary: string, call: (c: ReturnType<typeof controlClient>, id: string) => Promise<{ unit?: UnitStatus }>): Command {
  return {
    summary,
    args: "<unit>",
    options: { ...file, ...socket, ...json },
    async run(values, [id]) {
      if (!id) throw new Error("name the unit: `hsu ps` lists them");
      const res = await call(await client(values), id);
      if (res.unit) process.stdout.write(values.json ? `${JSON.stringify(statusJson(res.unit))}\n` : `${psTable([res.unit], useColor())}\n`);
      return 0;
    },
  };
}

function toStatusLite(v: import("../daemon/master.ts").UnitStatusView) {
  return {
    id: v.id,
    kind: { managed: UnitKind.MANAGED, unmanaged: UnitKind.UNMANAGED, integrated: UnitKind.INTEGRATED, pool_replica: UnitKind.POOL_REPLICA, scheduled: UnitKind.SCHEDULED }[v.kind],
    state: v.state,
    pid: v.pid ?? 0,
    startedAt: v.startedAt !== undefined ? timestampFromMs(v.startedAt) : undefined,
    restarts: v.restarts,
    cpuPercent: v.cpuPercent,
    rssBytes: BigInt(Math.round(v.rssBytes)),
    health: v.health,
    address: v.address,
    lastExit: v.lastExit,
    pool: v.pool,
    nextRun: v.nextRun !== undefined ? timestampFromMs(v.nextRun) : undefined,
  };
}

/** The help text. */
export function usage(): string {
  const lines = Object.entries(commands)
    .filter(([name]) => name !== "daemon")
    .map(([name, c]) => `  ${`${name}${c.args ? ` ${c.args}` : ""}`.padEnd(22)} ${c.summary}`);
  return `hsu - run the native units of an application\n\nUsage: hsu <command> [-f hsu.yaml] [--json]\n\nCommands:\n${lines.join("\n")}\n`;
}
