import {
  buildDependencyGraph,
  createCgroupHome,
  createDurableOs,
  createLimitMonitorFactory,
  createLimitPlanner,
  createLogCollector,
  createRedactor,
  createRegistrar,
  createResourceSamplerGroup,
  createSupervisor,
  createSystemClock,
  createHealthMonitor,
  specDefaults,
  validateHealthCheckSpec,
  HsuError,
  type HealthCheckSpec,
  type HealthMonitor,
  startInOrder,
  stopInReverse,
  describeLeftovers,
  type CgroupReapReport,
  type DependencyGraph,
  type LogCollector,
  type LogLine,
  type Registrar,
  type Clock,
  type ResourceSamplerGroup,
  type Supervisor,
} from "@hsu/client";
import { mkdirSync, rmdirSync } from "node:fs";
import { join } from "node:path";
import type { Deployment, UnitConfig } from "../config/index.ts";
import { createIntegratedSlot, type IntegratedSlot } from "./integrated-slot.ts";
import { createManagedSlot } from "./managed-slot.ts";
import { openRunDir } from "./run-dir.ts";
import { createPoolSlot, type PoolSlot } from "./pool-slot.ts";
import { createScheduledSlot } from "./scheduled-slot.ts";
import type { MasterEvent, Slot, UnitView } from "./slot.ts";
import { checkStateDir, ownerMark } from "./state-dir.ts";
import { startError, STOP_MARGIN_MS, unbuildableMonitor, waitUntilStarted, withDeadline } from "./start-check.ts";
import { toHealthInput, toManagedSpec } from "./unit-specs.ts";
import { writeGatewayConfig } from "./gateway-config.ts";
import { createUnmanagedSlot } from "./unmanaged-slot.ts";
import { createUsageOnDemand } from "./usage.ts";
import { CONFIG_DIR_ENV, configDir, isSecretConfigDir, prepareUnitConfig, reapSecretConfigDirs, unitLookup, writeConfigFiles, type SecretSource } from "./unit-config.ts";
import { createCredentialDelivery, privateCaptureDir } from "../secrets/credentials.ts";
import { createSecretStore } from "../secrets/store.ts";
import { runsOtherTree } from "../artifacts/store.ts";
import { ownedProcesses } from "./owned-processes.ts";

/**
 * A unit as `hsu ps` shows it, with its resources (undefined until its process was sampled). CPU is
 * over the time since the previous sample; a process's first sample is its average since it started.
 */
export interface UnitStatusView extends UnitView {
  cpuPercent: number | undefined;
  rssBytes: number | undefined;
}

/** What `apply` changed. */
export interface ApplyPlan {
  added: string[];
  removed: string[];
  changed: string[];
  unchanged: string[];
}

/** The running master: every unit of a deployment, driven through one interface. */
export interface Master {
  readonly deployment: Deployment;
  /** Starts every auto-start unit in dependency order (independent ones in parallel). */
  up(): Promise<void>;
  list(): UnitStatusView[];
  get(id: string): UnitStatusView[];
  /**
   * Someone wants the resource figures `list` and `get` show: samples every unit now unless the last
   * pass is under a second old, then once a second until 10 s without a call. Nothing is sampled otherwise.
   */
  sampleUsage(): Promise<void>;
  /**
   * Starts, stops or restarts the units `ids` name (a unit, a replica, a pool: every replica), many in
   * one call. Every id is resolved first: one that names no unit fails the call (not_found, naming each
   * unknown id) before anything is done. An id named twice, or a replica named with its pool, acts once.
   * The units are acted on together; a unit whose action fails does not hold up the others, and the call
   * then fails naming each. A stop sends every stop signal first, stops a unit only after the named units
   * that depend on it, and waits for each unit up to its own graceful_timeout + STOP_MARGIN_MS.
   */
  start(ids: string | readonly string[]): Promise<void>;
  stop(ids: string | readonly string[]): Promise<void>;
  restart(ids: string | readonly string[]): Promise<void>;
  scale(pool: string, replicas: number): Promise<void>;
  /** Loads a new deployment: starts what was added, stops what was removed, restarts what changed. */
  apply(next: Deployment, dryRun?: boolean): Promise<ApplyPlan>;
  /** The integrated unit (or pool of them) a call to `id` (the unit, or one replica) goes to. */
  integrated(id: string): IntegratedSlot;
  readonly logs: LogCollector;
  /** Tail then live lines. */
  logLines(units: string[], tail: number, follow: boolean, signal: AbortSignal): AsyncIterable<LogLine>;
  onEvent(listener: (e: MasterEvent) => void): () => void;
  /** Stops every owned unit in reverse dependency order, then releases everything. */
  shutdown(): Promise<string[]>;
}

/** Options for {@link createMaster}. */
export interface MasterOptions {
  deployment: Deployment;
  /** Where the master's own messages go. */
  log?: (line: string) => void;
  /** Time source of on-demand resource sampling (the system clock by default). */
  clock?: Clock;
  /** The sampler group of every unit's resources (one /proc scan per pass); a new one by default. */
  samplers?: ResourceSamplerGroup;
  /** Where `{{ secret "NAME" }}` in config templates reads from; none configured by default. */
  secrets?: SecretSource;
}

/** The files a unit's next config renders to, written into its HSU_CONFIG_DIR on `write()`. */
export interface ConfigRewrite {
  /**
   * Writes the next render over the unit's directory and returns the
   * render's generation and the names whose content changed (added and
   * removed ones too); undefined when the env files changed as well, which
   * only a restart can hand to the process.
   */
  write(): Promise<{ generation: bigint; changedFiles: string[] } | undefined>;
}

/**
 * HOOK (Reconfigure): an integrated unit whose only change is its rendered
 * config. When every process of it runs, the new files are written and each
 * is asked to reload them (Core Reconfigure): "reconfigured" when all did
 * (they keep their pids), else "restart" - a unit at rest, env files that
 * changed too, no reload hook (UNIMPLEMENTED), a refusal
 * (FAILED_PRECONDITION), or a unit that cannot be reached.
 */
export async function reconfigureOrRestart(unit: Slot, next: UnitConfig, rewrite?: ConfigRewrite): Promise<"reconfigured" | "restart"> {
  const integrated = unit as Partial<IntegratedSlot> & Slot;
  if (next.kind !== "integrated" || !rewrite || !integrated.reconfigurable?.()) return "restart";
  const written = await rewrite.write().catch(() => undefined);
  if (!written) return "restart";
  try {
    await integrated.reconfigure!(written);
    return "reconfigured";
  } catch {
    // Whatever the reason (unsupported, failed_precondition, unavailable, a timeout), the restart renders the files again.
    return "restart";
  }
}

/** Creates the master for a deployment; nothing starts until `up()`. */
export async function createMaster(options: MasterOptions): Promise<Master> {
  let deployment = options.deployment;
  const log = options.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  const m = deployment.master;
  checkStateDir(m.stateDir);
  const run = openRunDir(m.stateDir);
  const runDir = run.path;
  mkdirSync(join(m.stateDir, "logs"), { recursive: true, mode: 0o700 });
  // Every secret value the master decrypts is hidden in every unit's captured output.
  const redactor = createRedactor();
  const logs = createLogCollector({ dir: join(m.stateDir, "logs"), maxFileBytes: m.logs.maxFileBytes, maxFiles: m.logs.maxFiles, tailLines: m.logs.tailLines, redactor });
  // Unit output goes to files and every process is recorded, so a restarted master finds its units again.
  const owner = ownerMark(m.stateDir);
  const store = createSecretStore(m.stateDir);
  const credentials = createCredentialDelivery({ store, stateDir: m.stateDir, owner, redactor });
  const secretNames = (d: Deployment) => Object.values(d.units).flatMap((u) => (u.secrets ?? []).map((s) => s.name));
  // Before the previous life's unread output is drained into the logs (recover, below): it is redacted too.
  await credentials.preload(secretNames(deployment));
  if (secretNames(deployment).length && !credentials.tmpfs) log(`warning: no tmpfs for the units' credentials: they go to ${credentials.base}, on disk`);
  // Every unit's cgroup is hsu-<owner>/<unit>: the next master with this state dir finds what a crash left.
  const cgroups = createCgroupHome({ owner });
  const sameUnit = (a: number, b: number) => {
    const unit = cgroups.unitOf(a);
    return unit !== undefined && unit === cgroups.unitOf(b);
  };
  // Read output is freed from the capture files in steps of a quarter log file, so they hold about that much.
  const freeEveryBytes = Math.min(1024 * 1024, Math.max(4096, Math.floor(m.logs.maxFileBytes / 4)));
  // Output of a unit that gets secrets (as files, env or in a rendered config) is captured on tmpfs, never on disk unredacted.
  const captureDir = privateCaptureDir(m.stateDir, owner);
  const getsSecrets = (unit: string): boolean => {
    try {
      const spec = supervisor.unit(unit).spec;
      return spec.credentials !== undefined || isSecretConfigDir(spec.env?.[CONFIG_DIR_ENV] ?? "");
    } catch {
      return false;
    }
  };
  const os = createDurableOs({
    stateDir: m.stateDir, owner, sameUnit, logSink: logs, freeEveryBytes, warn: (w) => log(`warning: ${w}`),
    ...(captureDir ? { privateCapture: { dir: captureDir, wants: getsSecrets } } : {}),
  });
  // One health factory for every managed unit and replica: the unit's spec holds its check, validated when
  // the spec was loaded (toManagedSpec). Should building the monitor still throw, the unit is reported
  // unhealthy with the reason - a throw here would strand the unit in "running".
  const healthMonitorFactory = (unit: string, target: { pid: number }): HealthMonitor => {
    try {
      return createHealthMonitor(supervisor.unit(unit).spec.healthCheck as HealthCheckSpec, target);
    } catch (e) {
      const reason = `the health check cannot be built: ${(e as Error).message}`;
      log(`unit "${unit}": ${reason}`);
      return unbuildableMonitor(reason);
    }
  };
  const supervisor: Supervisor = createSupervisor({
    logSink: logs,
    os,
    healthMonitorFactory,
    limitPlanner: createLimitPlanner({ cgroups }),
    limitMonitorFactory: createLimitMonitorFactory(),
    credentialProvider: credentials.provider,
  });
  // From here on the master holds sockets and timers: a failure before it is returned releases them,
  // so a master that cannot start exits instead of hanging.
  const cleanups: (() => Promise<unknown> | unknown)[] = [() => supervisor.shutdown(), () => logs.close()];
  const release = async () => {
    for (const c of cleanups.reverse()) await Promise.resolve().then(c).catch(() => {});
  };
  let registrar: Registrar;
  try {
    registrar = await createRegistrar({ listen: `unix:${join(runDir, "registrar.sock")}`, masterId: m.id });
  } catch (e) {
    await release();
    throw e;
  }
  cleanups.push(() => registrar.close());
  const samplers: ResourceSamplerGroup = options.samplers ?? createResourceSamplerGroup();
  const listeners = new Set<(e: MasterEvent) => void>();
  // Why each unit (or replica) last failed, for `up` to say.
  const failedReasons = new Map<string, string>();
  listeners.add((e) => {
    if (e.to === "failed") failedReasons.set(e.unit, e.reason);
  });
  const emit = (e: MasterEvent) => listeners.forEach((l) => l(e));
  const slots = new Map<string, Slot>();
  let graph: DependencyGraph = buildDependencyGraph([]);
  let shuttingDown: Promise<string[]> | undefined;
  supervisor.onEvent((e) => {
    if (e.type === "warning") log(`warning: unit "${e.unit}": ${e.reason}`);
  });

  // Units whose live process the previous master left: an on-demand integrated unit takes it over at `up`.
  const adoptable = new Set<string>();
  // env_file and config: read when the slot is made (env), rendered at each start the master asks for (files).
  // `{{ secret "NAME" }}` reads the same store as `secrets:`; a value rendered into a file is redacted from output too.
  const secrets: SecretSource = options.secrets ?? {
    get: async (name) => {
      const value = await store.decrypt(name);
      redactor.add(value);
      try {
        return new TextDecoder("utf-8", { fatal: true }).decode(value);
      } catch {
        throw new HsuError("invalid_argument", `secret "${name}" is not UTF-8 text, so a template cannot hold it: deliver it as a file (the unit's secrets: list) instead`);
      }
    },
  };
  const contentKeys = new Map<string, { envKey: string; filesKey: string | undefined }>();
  // For `hsu apply`: renders a unit's next config over its directory (see reconfigureOrRestart).
  const rewriters = new Map<string, (next: Deployment) => ConfigRewrite>();
  const registered = (id: string) => {
    const s = slots.get(id);
    return s ? viewsOf(s)[0]?.address || undefined : undefined;
  };
  const valuesFor = (d: Deployment) => ({ env: process.env, units: unitLookup(d, runDir, registered), secrets });
  const makeSlot = async (cfg: UnitConfig): Promise<Slot> => {
    if (cfg.kind === "unmanaged" || (!cfg.envFiles.length && !cfg.configFiles.length)) return makeBareSlot(cfg);
    const prep = await prepareUnitConfig(cfg, deployment, { ...valuesFor(deployment), render: false });
    const dir = configDir(m.stateDir, owner, cfg.id, prep.secret);
    const env = { ...prep.env, ...cfg.env, ...(cfg.configFiles.length ? { [CONFIG_DIR_ENV]: dir } : {}) };
    contentKeys.set(cfg.id, { envKey: prep.envKey, filesKey: undefined });
    const s = await makeBareSlot({ ...cfg, env });
    if (!cfg.configFiles.length) return s;
    // A reload without a restart moves the unit on to its next config: later renders use that one.
    let current = cfg;
    let generation = 0n;
    let written = new Map<string, string>();
    const render = async () => {
      const p = await prepareUnitConfig(current, deployment, valuesFor(deployment));
      writeConfigFiles(dir, p.files);
      contentKeys.get(cfg.id)!.filesKey = p.filesKey;
      written = new Map(p.files.map((f) => [f.name, f.text]));
      generation++;
    };
    rewriters.set(cfg.id, (next) => ({
      write: async () => {
        const nextCfg = next.units[cfg.id]!;
        const p = await prepareUnitConfig(nextCfg, next, valuesFor(next));
        const known = contentKeys.get(cfg.id)!;
        if (p.envKey !== known.envKey || configDir(m.stateDir, owner, cfg.id, p.secret) !== dir) return undefined;
        const names = new Set([...written.keys(), ...p.files.map((f) => f.name)]);
        const changedFiles = [...names].filter((n) => written.get(n) !== p.files.find((f) => f.name === n)?.text).sort();
        writeConfigFiles(dir, p.files);
        known.filesKey = p.filesKey;
        written = new Map(p.files.map((f) => [f.name, f.text]));
        current = nextCfg;
        return { generation: ++generation, changedFiles };
      },
    }));
    const { up, start, restart } = s;
    s.up = async () => (await render(), await up());
    s.start = async (member) => (await render(), await start(member));
    s.restart = async (member) => (await render(), await restart(member));
    return s;
  };
  // Whether a unit whose hsu.yaml entry is the same would now read other env files or render other config.
  const contentChanged = async (next: Deployment, id: string): Promise<boolean> => {
    const cfg = next.units[id]!;
    const known = contentKeys.get(id);
    if (cfg.kind === "unmanaged" || (!known && !cfg.envFiles.length && !cfg.configFiles.length)) return false;
    if (!known) return true;
    const p = await prepareUnitConfig(cfg, next, { ...valuesFor(next), render: known.filesKey !== undefined });
    return p.envKey !== known.envKey || (known.filesKey !== undefined && p.filesKey !== known.filesKey);
  };
  const makeBareSlot = async (cfg: UnitConfig): Promise<Slot> => {
    if (cfg.kind === "unmanaged") {
      const health = cfg.healthCheck ? validateHealthCheckSpec(toHealthInput(cfg.healthCheck), { unit: cfg.id, field: "health_check" }) : undefined;
      return createUnmanagedSlot(cfg, samplers, emit, health);
    }
    if (cfg.kind === "integrated") {
      return createIntegratedSlot({ cfg, supervisor, registrar, socketDir: runDir, stateDir: m.stateDir, adoptable: (id) => adoptable.has(id), emit });
    }
    const spec = toManagedSpec(cfg, cfg.gateway ? writeGatewayConfig(m.stateDir, cfg.id, cfg.gateway, m.controlSocket) : {});
    if (cfg.replicas !== undefined) return createPoolSlot(cfg, supervisor, spec, emit);
    if (cfg.schedule) return createScheduledSlot(cfg, supervisor, spec, emit);
    return createManagedSlot(cfg, supervisor, spec, emit);
  };

  const setGraph = (d: Deployment) => {
    graph = buildDependencyGraph(Object.values(d.units).map((u) => ({ id: u.id, dependsOn: u.dependsOn })));
  };
  try {
    setGraph(deployment);
    for (const cfg of Object.values(deployment.units)) slots.set(cfg.id, await makeSlot(cfg));
  } catch (e) {
    for (const s of slots.values()) cleanups.push(() => s.close());
    await release();
    throw e;
  }

  const findSlot = (id: string): Slot | undefined => slots.get(id) ?? [...slots.values()].find((x) => x.views().some((v) => v.id === id));
  const slot = (id: string): Slot => {
    const s = findSlot(id);
    if (!s) throw new HsuError("not_found", `no unit "${id}"; \`hsu ps\` lists them`, { unit: id });
    return s;
  };

  // A slot's own id addresses the whole slot (a pool); a replica id, that member only. Every id is
  // resolved before any is acted on, so a batch with an unknown id does nothing.
  const select = (ids: string | readonly string[]): Map<Slot, Set<string> | undefined> => {
    const list = typeof ids === "string" ? [ids] : ids;
    const found = list.map((id) => [id, findSlot(id)] as const);
    const unknown = [...new Set(found.filter(([, s]) => !s).map(([id]) => id))];
    if (unknown.length) {
      const named = unknown.map((id) => `"${id}"`).join(", ");
      const nothing = list.length > 1 ? "; nothing was done" : "";
      throw new HsuError("not_found", `no unit${unknown.length > 1 ? "s" : ""} ${named}${nothing}; \`hsu ps\` lists them`, unknown.length === 1 ? { unit: unknown[0]! } : {});
    }
    const picked = new Map<Slot, Set<string> | undefined>(); // undefined: the whole slot
    for (const [id, s] of found) {
      if (s!.id === id) picked.set(s!, undefined);
      else if (!picked.has(s!)) picked.set(s!, new Set([id]));
      else picked.get(s!)?.add(id);
    }
    return picked;
  };
  // Every member acted on at once; a failure is reported once all have settled, each failure named.
  const settled = async (work: Promise<unknown>[]) => {
    const failed = (await Promise.allSettled(work)).filter((r): r is PromiseRejectedResult => r.status === "rejected").map((r) => HsuError.from(r.reason));
    if (failed.length === 1) throw failed[0];
    if (failed.length) throw new HsuError(failed[0]!.code, failed.map((e) => e.message).join("; "), {}, { cause: failed[0] });
  };
  const each = (picked: Map<Slot, Set<string> | undefined>, act: (s: Slot, member: string | undefined) => Promise<void>) =>
    settled([...picked].flatMap(([s, members]) => (members ? [...members].map((m) => act(s, m)) : [act(s, undefined)])));
  const stopOne = (s: Slot, member: string | undefined) =>
    withDeadline(s.stop(member), stopDeadline(s.id), `stopping "${member ?? s.id}" (units.${s.id}.graceful_timeout + ${STOP_MARGIN_MS / 1000}s)`, member ?? s.id);

  // Resources are read only while someone asks for them (`hsu ps`, the control API), all units in one pass.
  const usage = createUsageOnDemand({
    clock: options.clock ?? createSystemClock({ unref: true }),
    samplers,
    pids: () => [...slots.values()].flatMap(viewsOf).map((v) => v.pid).filter((p): p is number => p !== undefined),
    log,
  });

  // A slot being closed (apply, shutdown) may already be gone from the supervisor: it shows nothing.
  const viewsOf = (s: Slot): UnitView[] => {
    try {
      return s.views();
    } catch {
      return [];
    }
  };
  // No process, or not sampled yet: unknown, never a made-up 0.
  const withUsage = (v: UnitView): UnitStatusView => ({ ...v, ...((v.pid !== undefined ? usage.of(v.pid) : undefined) ?? { cpuPercent: undefined, rssBytes: undefined }) });
  // Processes of a previous life of this master: taken over at their unit's start, or stopped.
  const wanted = (unit: string) => {
    const cfg = deployment.units[unit];
    // A source unit's process left on a tree its `current` no longer names (a rollback while no master ran)
    // is stopped, and the unit starts again on `current`: never the old version under the new name.
    if (cfg?.source && ownedProcesses(m.stateDir).some((p) => p.unit === unit && runsOtherTree(m.stateDir, unit, p.pid))) return false;
    if (cfg) return (cfg.kind === "managed" || cfg.kind === "integrated") && cfg.replicas === undefined;
    const m2 = /^(.*)-(\d+)$/.exec(unit);
    const pool = m2 ? deployment.units[m2[1]!] : undefined;
    return !!pool && pool.replicas !== undefined && Number(m2![2]) < pool.replicas;
  };
  let recovery: Awaited<ReturnType<typeof os.recover>>;
  try {
    recovery = await os.recover(m.onRestart, wanted);
  } catch (e) {
    usage.close();
    for (const s of slots.values()) cleanups.push(() => s.close());
    await release();
    throw e;
  }
  for (const id of recovery.adoptable) adoptable.add(id);
  if (recovery.adoptable.length) log(`re-adopting ${recovery.adoptable.length} unit process(es) of the previous master: ${recovery.adoptable.join(", ")}`);
  if (recovery.drained.length) log(`wrote the output left unread by the previous master to the logs of: ${recovery.drained.join(", ")}`);
  if (recovery.stopped.length) log(`stopped ${recovery.stopped.length} process(es) left by the previous master: ${recovery.stopped.join(", ")}`);
  // The re-adopted keep their cgroups; every other one the previous life left is emptied (setsid escapees too) and removed.
  const reaped = async (why: string, report: CgroupReapReport) => {
    if (report.removed.length) log(`removed ${report.removed.length} cgroup(s) ${why}: ${report.removed.join(", ")}${report.killed.length ? ` (killed ${report.killed.join(", ")})` : ""}`);
    if (report.survivors.length) log(`warning: ${describeLeftovers(report.survivors)}`);
  };
  await reaped("left by the previous master", await cgroups.reap(recovery.adoptable));
  const reapCredentials = (why: string, keep?: string[]) => {
    const gone = credentials.reap(keep);
    if (gone.length) log(`removed the credentials of ${gone.length} unit(s) ${why}: ${gone.join(", ")}`);
  };
  // Rendered config files that hold a secret live on tmpfs too: a re-adopted unit keeps its own, the rest go (and all at shutdown).
  const reapSecretConfig = (why: string, keep?: string[]) => {
    const gone = reapSecretConfigDirs(owner, keep);
    if (gone.length) log(`removed the secret-holding config files of ${gone.length} unit(s) ${why}: ${gone.join(", ")}`);
  };
  reapSecretConfig("left by the previous master", recovery.adoptable);
  reapCredentials("left by the previous master", recovery.adoptable);

  const stopDeadline = (id: string) => (deployment.units[id]?.gracefulTimeoutMs ?? 0) + STOP_MARGIN_MS;

  // How long a dependent waits for a dependency to be started or healthy: its start timeout, plus the
  // time its health check needs to pass. A "completed" dependency is waited for until it exits.
  const reachDeadline = (id: string, condition: string): number | undefined => {
    const cfg = deployment.units[id];
    if (condition === "completed" || !cfg) return undefined;
    const h = cfg.healthCheck as { interval?: number; timeout?: number; initialDelay?: number; successThreshold?: number } | undefined;
    const health = condition === "healthy" && h
      ? (h.initialDelay ?? specDefaults.health.initialDelayMs) + (h.successThreshold ?? specDefaults.health.successThreshold) * ((h.interval ?? specDefaults.health.intervalMs) + (h.timeout ?? specDefaults.health.timeoutMs))
      : 0;
    return cfg.startTimeoutMs + specDefaults.startSettleMs + health;
  };
  const upSet = async (ids?: Set<string>) => {
    const controller = new AbortController();
    const reached = (id: string, c: Parameters<Slot["reached"]>[0]) => {
      const ms = reachDeadline(id, c);
      const wait = slot(id).reached(c, controller.signal);
      return ms === undefined ? wait : withDeadline(wait, ms, `waiting for "${id}" to be ${c} (units.${id}.start_timeout${c === "healthy" ? ` and units.${id}.health_check` : ""})`, id);
    };
    try {
      await startInOrder(graph, { start: (id) => slot(id).up(), reached, stop: (id) => slot(id).stop() }, ids);
    } finally {
      controller.abort();
    }
  };

  const master: Master = {
    get deployment() {
      return deployment;
    },
    logs,
    async up() {
      let orderError: unknown;
      try {
        await upSet();
      } catch (e) {
        orderError = e;
      } finally {
        const dropped = await os.dropUnclaimed();
        if (dropped.length) log(`stopped ${dropped.length} process(es) of the previous master whose units are not started: ${dropped.join(", ")}`);
        await reaped("of the previous master's units that are not started", await cgroups.reap());
        reapCredentials("of the previous master's units that are not started");
      }
      // A unit that cannot start (spawn error, exit 127) fails within moments: say which, and why.
      const failures = await waitUntilStarted({
        views: () => [...slots.values()].flatMap(viewsOf),
        config: (v) => deployment.units[v.pool || v.id] ?? deployment.units[v.id],
        failedReason: (id) => failedReasons.get(id),
      });
      if (failures.length || orderError) throw startError(failures, orderError);
    },
    list: () => [...slots.values()].flatMap(viewsOf).map(withUsage).sort((a, b) => a.id.localeCompare(b.id)),
    get: (id) => {
      const s = slot(id);
      const views = s.views().map(withUsage);
      return s.id === id ? views : views.filter((v) => v.id === id);
    },
    sampleUsage: () => usage.want(),
    start: async (ids) => each(select(ids), (s, member) => s.start(member)),
    async stop(ids) {
      const picked = select(ids);
      const failures: Promise<unknown>[] = [];
      // Dependents first; units with none (all of them, mostly) get their stop signal in this same turn.
      await stopInReverse(graph, {
        stop: async (id) => {
          const s = slots.get(id)!;
          const work = each(new Map([[s, picked.get(s)]]), stopOne);
          failures.push(work);
          await work.catch(() => undefined);
        },
      }, new Set([...picked.keys()].map((s) => s.id)));
      await settled(failures);
    },
    restart: async (ids) => each(select(ids), (s, member) => s.restart(member)),
    async scale(pool, replicas) {
      const s = slot(pool) as Partial<PoolSlot> & Slot;
      if (s.scale && s.id !== pool) throw new HsuError("failed_precondition", `"${pool}" is a replica of pool "${s.id}"; scale the pool: \`hsu scale ${s.id} N\``, { unit: pool });
      if (!s.scale) throw new HsuError("failed_precondition", `not a pool; give it \`replicas: N\` in hsu.yaml, then \`hsu apply\``, { unit: pool, field: `units.${pool}.replicas` });
      await s.scale(replicas);
    },
    integrated(id) {
      const s = slot(id);
      if (s.config.kind !== "integrated") throw new HsuError("failed_precondition", `is ${s.config.kind}, not integrated: only a unit of \`kind: integrated\` is called through the master`, { unit: id, field: `units.${id}.kind` });
      return s as IntegratedSlot;
    },
    async apply(next, dryRun = false) {
      const plan: ApplyPlan = { added: [], removed: [], changed: [], unchanged: [] };
      for (const id of Object.keys(next.units)) {
        const before = deployment.units[id];
        if (!before) plan.added.push(id);
        else if (before.fingerprint !== next.units[id]!.fingerprint) plan.changed.push(id);
        else if (await contentChanged(next, id)) {
          const s = slots.get(id);
          if (!dryRun && s && next.units[id]!.kind === "integrated" && (await reconfigureOrRestart(s, next.units[id]!, rewriters.get(id)?.(next))) === "reconfigured") plan.unchanged.push(id);
          else plan.changed.push(id);
        } else plan.unchanged.push(id);
      }
      for (const id of Object.keys(deployment.units)) if (!(id in next.units)) plan.removed.push(id);
      if (dryRun) return plan;
      buildDependencyGraph(Object.values(next.units).map((u) => ({ id: u.id, dependsOn: u.dependsOn })));
      const going = new Set([...plan.removed, ...plan.changed]);
      await stopInReverse(graph, { stop: async (id) => await slot(id).close() }, going);
      for (const id of going) {
        slots.delete(id);
        contentKeys.delete(id);
        rewriters.delete(id);
      }
      deployment = next;
      setGraph(next);
      await credentials.preload(secretNames(next));
      const coming = [...plan.added, ...plan.changed];
      for (const id of coming) slots.set(id, await makeSlot(next.units[id]!));
      await upSet(new Set(coming));
      return plan;
    },
    async *logLines(units, tail, follow, signal) {
      // A pool's name stands for its replicas.
      const expand = (u: string): string[] => {
        if (slots.has(u)) return slots.get(u)!.views().map((v) => v.id);
        slot(u); // an unknown id is an error, not an empty stream
        return [u];
      };
      const wanted = units.length ? units.flatMap(expand) : [...slots.values()].flatMap((s) => s.views().map((v) => v.id));
      if (!follow) {
        const lines = wanted.flatMap((u) => logs.tail(u, tail)).sort((a, b) => a.time - b.time || a.seq - b.seq);
        yield* lines;
        return;
      }
      const sub = logs.subscribe({ ...(units.length ? { units: wanted } : {}), fromTail: tail });
      const it = sub[Symbol.asyncIterator]();
      const aborted = new Promise<IteratorResult<LogLine>>((r) => signal.addEventListener("abort", () => r({ done: true, value: undefined }), { once: true }));
      try {
        for (;;) {
          const next = await Promise.race([it.next(), aborted]);
          if (next.done) return;
          yield next.value;
        }
      } finally {
        await it.return?.();
      }
    },
    onEvent(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    shutdown() {
      shuttingDown ??= (async () => {
        usage.close();
        const ids = [...slots.keys()];
        await stopInReverse(graph, {
          stop: async (id) => {
            // A unit that does not stop in time is reported and left behind, never waited on forever.
            await withDeadline(slot(id).close("shutdown"), stopDeadline(id), `stopping "${id}" (units.${id}.graceful_timeout + ${STOP_MARGIN_MS / 1000}s)`, id).catch((e: unknown) => log(`shutdown: ${(e as Error).message}`));
            slots.delete(id);
          },
        });
        await supervisor.shutdown();
        // Ended runs' records and capture files are removed in batches off the exit path: all gone before the master is.
        await os.idle();
        await reaped("at shutdown", await cgroups.close());
        reapCredentials("at shutdown");
        reapSecretConfig("at shutdown");
        // Every run's output is in the logs by now (os.idle), so the capture dir is empty; one that is not stays.
        if (captureDir) rmdirQuietly(captureDir);
        await registrar.close();
        await logs.close();
        run.remove();
        return ids;
      })();
      return shuttingDown;
    },
  };
  return master;
}

function rmdirQuietly(dir: string): void {
  try {
    rmdirSync(dir);
  } catch {
    // absent, or not empty: either way nothing of a unit is lost
  }
}
