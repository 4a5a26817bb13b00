import { isAbsolute, join, resolve } from "node:path";
import { masterPaths, specDefaults as D } from "@hsu/client";
import type { TlsFiles } from "@hsu/transport";
import type { RawDeployment, RawOidcProvider, RawTls, RawUnit } from "./schema.ts";
import { DEFAULT_CLOCK_TOLERANCE_MS, DEFAULT_ROLES_CLAIM, OIDC_ALGORITHMS, type OidcProviderConfig } from "../auth/oidc-claims.ts";
import type { SecretUse } from "../secrets/credentials.ts";
import { sourceDefaults, trustedKeyRefs, type RawSource, type SourceConfig, type TrustedKeyRef } from "../artifacts/source.ts";
import { currentLink } from "../artifacts/store.ts";
import { DEFAULT_HEALTH_TIMEOUT_MS } from "../artifacts/upgrade-state.ts";
import { gatewayDefaults, type GatewaySpec } from "./gateway.ts";

/** A dependency and the condition it must reach before the dependent starts. */
export interface Dependency {
  readonly unit: string;
  readonly condition: "started" | "healthy" | "completed";
}

/** One unit with every default applied; durations in ms, sizes in bytes. */
export interface UnitConfig {
  readonly id: string;
  readonly kind: "managed" | "unmanaged" | "integrated";
  readonly description: string;
  readonly command: string | undefined;
  readonly args: readonly string[];
  readonly shell: boolean;
  readonly cwd: string;
  readonly env: Readonly<Record<string, string>>;
  readonly envMode: "merge" | "replace";
  /** `env_file:` in order, paths absolute; a later file wins, `env:` wins over all. */
  readonly envFiles: readonly { readonly path: string; readonly required: boolean }[];
  /** `config:` by file name: inline content or an absolute template path. */
  readonly configFiles: readonly { readonly name: string; readonly content: string | undefined; readonly template: string | undefined }[];
  /** Top-level `vars:` with the unit's own over them. */
  readonly vars: Readonly<Record<string, string>>;
  readonly autoStart: boolean;
  readonly gracefulTimeoutMs: number;
  readonly stopSignal: NodeJS.Signals;
  readonly nice: number | undefined;
  readonly stdout: "capture" | "inherit" | "ignore";
  readonly stderr: "capture" | "inherit" | "ignore";
  readonly restart: {
    readonly policy: "never" | "on-failure" | "always" | "unless-stopped";
    readonly maxRetries: number;
    readonly delayMs: number;
    readonly backoffMultiplier: number;
    readonly maxDelayMs: number;
    readonly breaker: { readonly windowMs: number; readonly maxRestarts: number };
  };
  readonly healthCheck: Readonly<Record<string, unknown>> | undefined;
  readonly limits: Readonly<Record<string, unknown>> | undefined;
  readonly dependsOn: readonly Dependency[];
  readonly replicas: number | undefined;
  readonly schedule:
    | { readonly cron: string; readonly timezone: string | undefined; readonly overlap: "skip" | "queue" | "replace"; readonly history: number }
    | undefined;
  readonly listen: "unix" | "tcp";
  readonly startTimeoutMs: number;
  readonly idleTimeoutMs: number | undefined;
  readonly onDemand: boolean;
  readonly locate: { readonly pid?: number; readonly pidFile?: string; readonly processName?: string; readonly commandLine?: string; readonly port?: number } | undefined;
  readonly canTerminate: boolean;
  /** The secrets the unit gets (hsu.yaml `secrets:`), each as a file in its credentials dir or as `env`. */
  readonly secrets: readonly SecretUse[] | undefined;
  /**
   * `source:`: the artifact the unit runs from. Its `command` (when it has a "/") and `cwd`
   * are then inside the installed tree, through <state_dir>/artifacts/units/<id>/current.
   */
  readonly source: SourceConfig | undefined;
  /** `upgrade:`: how `hsu upgrade` gates a new version. */
  readonly upgrade: { readonly healthTimeoutMs: number; readonly drainTimeoutMs: number | undefined; readonly window: string | undefined; readonly whenIdle: boolean };
  /** `gateway:`: this unit is an HSU gateway; the master writes this as its HSU_GATEWAY_CONFIG. */
  readonly gateway: GatewaySpec | undefined;
  /** The unit as written, for `hsu apply` to tell what changed. */
  readonly fingerprint: string;
}

/** A whole deployment with every default applied, frozen. */
export interface Deployment {
  readonly version: 1;
  readonly baseDir: string;
  readonly master: {
    readonly id: string;
    readonly stateDir: string;
    readonly controlSocket: string;
    readonly controlTcp: string | undefined;
    readonly tokenFile: string | undefined;
    /** `control.tls`: serve the TCP control port over TLS with these files (absolute paths). */
    readonly controlTls: TlsFiles | undefined;
    /** `auth:`: the OIDC providers trusted for bearer JWTs, and the audit log. */
    readonly auth: { readonly oidc: readonly OidcProviderConfig[]; readonly auditFile: string };
    readonly logs: { readonly maxFileBytes: number; readonly maxFiles: number; readonly tailLines: number };
    readonly onRestart: "adopt" | "stop";
    /** `trusted_keys:`: the minisign public keys a unit's source may be signed by. */
    readonly trustedKeys: readonly TrustedKeyRef[];
  };
  readonly units: Readonly<Record<string, UnitConfig>>;
}

const camel = (s: string) => s.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());

/** snake_case keys to camelCase, one level deep (health checks and limits). */
function camelKeys(o: Record<string, unknown> | undefined): Record<string, unknown> | undefined {
  if (!o) return undefined;
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [camel(k), v]));
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === "object") {
    Object.values(value).forEach(deepFreeze);
    Object.freeze(value);
  }
  return value;
}

interface UnitContext {
  baseDir: string;
  stateDir: string;
  topVars: Record<string, string>;
  trusted: boolean;
}

function unitDefaults(id: string, u: RawUnit, c: UnitContext): UnitConfig {
  const { baseDir, topVars } = c;
  const kind = u.kind ?? "managed";
  const at = (p: string | undefined) => (p === undefined ? undefined : isAbsolute(p) ? p : resolve(baseDir, p));
  // A source unit runs from its installed tree: `current` is followed at each start.
  const tree = u.source ? currentLink(c.stateDir, id) : undefined;
  const inTree = (p: string) => (isAbsolute(p) ? p : resolve(tree!, p));
  const deps: Dependency[] = !u.depends_on
    ? []
    : Array.isArray(u.depends_on)
      ? u.depends_on.map((d) => ({ unit: d, condition: "started" as const }))
      : Object.entries(u.depends_on).map(([d, condition]) => ({ unit: d, condition }));
  const r = u.restart ?? {};
  return {
    id,
    kind,
    description: u.description ?? "",
    command: tree && u.command?.includes("/") && !u.shell ? inTree(u.command) : u.command,
    args: u.args ?? [],
    shell: u.shell ?? false,
    cwd: tree ? (u.cwd === undefined ? tree : inTree(u.cwd)) : (at(u.cwd) ?? baseDir),
    env: u.env ?? {},
    envMode: u.env_mode ?? "merge",
    envFiles: (u.env_file === undefined ? [] : Array.isArray(u.env_file) ? u.env_file : [u.env_file]).map((f) =>
      typeof f === "string" ? { path: at(f)!, required: true } : { path: at(f.path)!, required: f.required ?? true },
    ),
    configFiles: Object.entries(u.config ?? {}).map(([name, c]) => ({ name, content: c.content, template: at(c.template) })),
    vars: { ...topVars, ...(u.vars ?? {}) },
    autoStart: u.auto_start ?? true,
    gracefulTimeoutMs: u.graceful_timeout ?? D.gracefulTimeoutMs,
    stopSignal: u.stop_signal ?? D.stopSignal,
    nice: u.nice,
    stdout: u.stdout ?? D.output,
    stderr: u.stderr ?? D.output,
    restart: {
      policy: r.policy ?? (u.schedule ? "never" : D.restart.policy),
      maxRetries: r.max_retries ?? 0,
      delayMs: r.delay ?? D.restart.delayMs,
      backoffMultiplier: r.backoff ?? D.restart.backoffMultiplier,
      maxDelayMs: r.max_delay ?? D.restart.maxDelayMs,
      breaker: { windowMs: r.breaker?.window ?? D.restart.breaker.windowMs, maxRestarts: r.breaker?.max_restarts ?? D.restart.breaker.maxRestarts },
    },
    healthCheck: camelKeys(u.health_check as Record<string, unknown> | undefined),
    limits: camelKeys(u.limits as Record<string, unknown> | undefined),
    dependsOn: deps,
    replicas: u.replicas,
    schedule: u.schedule?.cron
      ? { cron: u.schedule.cron, timezone: u.schedule.timezone, overlap: u.schedule.overlap ?? D.schedule.overlap, history: u.schedule.history ?? D.schedule.history }
      : undefined,
    listen: u.listen ?? "unix",
    startTimeoutMs: u.start_timeout ?? D.startTimeoutMs,
    idleTimeoutMs: u.idle_timeout,
    onDemand: u.on_demand ?? true,
    locate:
      kind === "unmanaged"
        ? {
            ...(u.pid !== undefined ? { pid: u.pid } : {}),
            ...(u.pid_file !== undefined ? { pidFile: at(u.pid_file)! } : {}),
            ...(u.process_name !== undefined ? { processName: u.process_name } : {}),
            ...(u.command_line !== undefined ? { commandLine: u.command_line } : {}),
            ...(u.port !== undefined ? { port: u.port } : {}),
          }
        : undefined,
    canTerminate: u.can_terminate ?? false,
    secrets: !u.secrets
      ? undefined
      : Array.isArray(u.secrets)
        ? u.secrets.map((name) => ({ name }))
        : Object.entries(u.secrets).map(([name, how]) => ({ name, ...how })),
    source: u.source ? sourceDefaults(u.source as RawSource, baseDir, c.trusted) : undefined,
    upgrade: { healthTimeoutMs: u.upgrade?.health_timeout ?? DEFAULT_HEALTH_TIMEOUT_MS, drainTimeoutMs: u.upgrade?.drain_timeout, window: u.upgrade?.window, whenIdle: u.upgrade?.when_idle ?? false },
    gateway: u.gateway ? gatewayDefaults(u.gateway, baseDir) : undefined,
    fingerprint: JSON.stringify(u),
  };
}

/** A `tls:` block with its paths resolved against `baseDir`. */
export function tlsDefaults(t: RawTls | undefined, baseDir: string): TlsFiles | undefined {
  if (!t?.cert_file || !t.key_file) return undefined;
  return {
    certFile: resolve(baseDir, t.cert_file),
    keyFile: resolve(baseDir, t.key_file),
    ...(t.client_ca_file ? { clientCaFile: resolve(baseDir, t.client_ca_file) } : {}),
    clientAuth: t.client_auth ?? "none",
  };
}

function oidcDefaults(o: RawOidcProvider): OidcProviderConfig {
  return {
    issuer: o.issuer!,
    audience: typeof o.audience === "string" ? [o.audience] : [...(o.audience ?? [])],
    rolesClaim: o.roles_claim ?? DEFAULT_ROLES_CLAIM,
    roleMap: Object.fromEntries(Object.entries(o.role_map ?? {})),
    unitsClaim: o.units_claim,
    jwksUri: o.jwks_uri,
    clockToleranceMs: o.clock_tolerance ?? DEFAULT_CLOCK_TOLERANCE_MS,
    algorithms: o.algorithms?.length ? o.algorithms : OIDC_ALGORITHMS,
  };
}

/** Applies every default and resolves relative paths against `baseDir`. */
export function applyDefaults(raw: RawDeployment, baseDir: string): Deployment {
  const m = raw.master ?? {};
  const { stateDir, controlSocket } = masterPaths(baseDir, m.state_dir, m.control?.socket);
  const units: Record<string, UnitConfig> = {};
  const trustedKeys = trustedKeyRefs(m.trusted_keys, baseDir);
  const ctx: UnitContext = { baseDir, stateDir, topVars: raw.vars ?? {}, trusted: trustedKeys.length > 0 };
  for (const [id, u] of Object.entries(raw.units ?? {})) Object.defineProperty(units, id, { value: unitDefaults(id, u, ctx), enumerable: true });
  return deepFreeze({
    version: 1 as const,
    baseDir,
    master: {
      id: m.id ?? "hsu",
      stateDir,
      controlSocket,
      controlTcp: m.control?.tcp,
      tokenFile: m.control?.token_file ? resolve(baseDir, m.control.token_file) : undefined,
      controlTls: tlsDefaults(m.control?.tls, baseDir),
      auth: {
        oidc: (m.auth?.oidc ?? []).map(oidcDefaults),
        auditFile: m.auth?.audit_file ? resolve(baseDir, m.auth.audit_file) : join(stateDir, "audit.log"),
      },
      logs: {
        maxFileBytes: m.logs?.max_file_size ?? D.logs.maxFileBytes,
        maxFiles: m.logs?.max_files ?? D.logs.maxFiles,
        tailLines: m.logs?.tail_lines ?? D.logs.tailLines,
      },
      onRestart: m.on_restart ?? "adopt",
      trustedKeys,
    },
    units,
  });
}
