import { unitIdPattern } from "@hsu/client";
import { bool, duration, either, isMap, isSeq, list, num, obj, oneOf, record, size, str, type Field, type JsonSchema } from "./fields.ts";
import { SECRET_NAME, SECRET_NAME_HINT } from "../secrets/names.ts";
import { SOURCE_URL } from "../artifacts/source.ts";
import { OIDC_ALGORITHMS } from "../auth/oidc-claims.ts";
import { ROLES } from "../auth/principal.ts";

const ID = { pattern: unitIdPattern, hint: 'lower-case letters, digits, ".", "_" or "-" (at most 63), like "api" or "worker-1"' };
const SIGNALS = ["SIGTERM", "SIGINT", "SIGQUIT", "SIGHUP", "SIGUSR1", "SIGUSR2", "SIGKILL"] as const;

const healthCheck = obj(
  {
    type: oneOf(["process", "http", "tcp", "exec", "grpc"], "How to check: process alive, HTTP status, TCP connect, a command's exit code, or grpc.health.v1."),
    interval: duration("Time between checks (default 10s)."),
    timeout: duration("How long one check may take (default 2s)."),
    initial_delay: duration("Wait this long after start before the first check."),
    success_threshold: num({ integer: true, min: 1, description: "Consecutive successes to become healthy (default 1)." }),
    failure_threshold: num({ integer: true, min: 1, description: "Consecutive failures to become unhealthy (default 3)." }),
    url: str({ description: "http: the URL to request." }),
    method: oneOf(["GET", "HEAD", "POST", "PUT"], "http: the method (default GET)."),
    headers: record(str(), undefined, "http: request headers."),
    expect_status: num({ integer: true, min: 100, max: 599, description: "http: the status to expect (default any 2xx or 3xx)." }),
    host: str({ description: "tcp: the host (default 127.0.0.1)." }),
    port: num({ integer: true, min: 1, max: 65535, description: "tcp: the port." }),
    path: str({ description: "tcp: a Unix socket path instead of host and port." }),
    command: str({ description: "exec: the program to run; exit 0 means healthy." }),
    args: list(str(), "exec: its arguments."),
    env: record(str(), undefined, "exec: environment variables added to the master's."),
    cwd: str({ description: "exec: its working directory." }),
    address: str({ description: "grpc: the unit's address (default: the address it registered)." }),
    service: str({ description: 'grpc: the service to check ("" = the whole unit).' }),
  },
  { required: ["type"], description: "A health check." },
);

const limits = obj(
  {
    cpu: num({ min: 0.01, description: "CPU cores, e.g. 0.5." }),
    cpu_weight: num({ integer: true, min: 1, max: 10000, description: "Relative CPU weight (cgroup cpu.weight)." }),
    memory: size("Memory limit, e.g. 512MiB."),
    memory_swap: size("Memory plus swap limit."),
    max_processes: num({ integer: true, min: 1, description: "Most processes and threads." }),
    max_open_files: num({ integer: true, min: 1, description: "Most open file descriptors." }),
    max_address_space: size("Largest virtual address space (RLIMIT_AS)."),
    io_weight: num({ integer: true, min: 1, max: 10000, description: "Relative IO weight." }),
    io_read_bps: size("Read bandwidth per second."),
    io_write_bps: size("Write bandwidth per second."),
    policy: oneOf(["log", "restart", "stop", "kill"], "What to do when a monitored limit is passed (default restart)."),
    check_interval: duration("How often the monitor samples (default 1s)."),
  },
  { description: "Resource limits: enforced with cgroups v2 or setrlimit where the host allows, monitored everywhere else." },
);

const restart = obj(
  {
    policy: oneOf(["never", "on-failure", "always", "unless-stopped"], "When to restart an exited unit (default on-failure)."),
    max_retries: num({ integer: true, min: 0, description: "Restarts before giving up (0: no limit)." }),
    delay: duration("The first restart delay (default 1s)."),
    backoff: num({ min: 1, description: "Each further delay is multiplied by this (default 2)." }),
    max_delay: duration("The longest delay (default 1m)."),
    breaker: obj(
      {
        window: duration("The crash-loop window (default 1m)."),
        max_restarts: num({ integer: true, min: 1, description: "Restarts within the window that mark the unit failed (default 5)." }),
      },
      { description: "Crash-loop breaker." },
    ),
  },
  { description: "Restart policy." },
);

const condition = oneOf(["started", "healthy", "completed"], "started: the process runs; healthy: ready or health check passing; completed: exited 0.");
const dependsOn: Field<string[] | Record<string, "started" | "healthy" | "completed">> = either(
  list(str({ pattern: ID.pattern, hint: ID.hint })),
  record(condition, ID),
  isMap,
);

const schedule = obj(
  {
    cron: str({ description: 'A cron expression with seconds: "sec min hour day month weekday", e.g. "0 */5 * * * *".' }),
    timezone: str({ description: "An IANA time zone, e.g. Europe/Berlin (default: the host's)." }),
    overlap: oneOf(["skip", "queue", "replace"], "When a run is due while the last still runs (default skip)."),
    history: num({ integer: true, min: 1, description: "How many past runs to remember (default 20)." }),
  },
  { required: ["cron"], description: "Run the unit on a cron schedule (a batch job)." },
);

const SECRET = { pattern: SECRET_NAME, hint: SECRET_NAME_HINT };
const secretUse = obj(
  {
    env: str({ pattern: /^[A-Za-z_][A-Za-z0-9_]*$/, hint: "an environment variable name like API_KEY", description: "Deliver it as this environment variable instead of a file." }),
    file: str({ ...SECRET, description: "The file name in $HSU_CREDENTIALS_DIR (default: the secret's name)." }),
  },
  { description: "How the unit gets this secret: a file (default) or, with `env`, an environment variable." },
);
const secrets: Field<string[] | Record<string, { env?: string; file?: string }>> = either(list(str(SECRET)), record(secretUse, SECRET), isMap);

const locate = {
  pid: num({ integer: true, min: 1, description: "unmanaged: the process id." }),
  pid_file: str({ description: "unmanaged: a file holding the process id." }),
  process_name: str({ description: "unmanaged: the process name (/proc/PID/comm)." }),
  command_line: str({ description: "unmanaged: a regular expression matched against the command line." }),
  port: num({ integer: true, min: 1, max: 65535, description: "unmanaged: a TCP port the process listens on." }),
  can_terminate: bool("unmanaged: the master may stop it (default false)."),
};

const envFileEntry = either(
  str(),
  obj({ path: str({ description: "The file, relative to hsu.yaml's directory." }), required: bool("A missing file is an error (default true).") }, { required: ["path"] }),
  isMap,
);
const envFile = either(envFileEntry, list(envFileEntry), isSeq);
const configFile = obj(
  {
    content: str({ description: "The template, inline." }),
    template: str({ description: "A template file, relative to hsu.yaml's directory (inside it)." }),
  },
  { description: "A config file rendered into $HSU_CONFIG_DIR at each start (see docs/config.md)." },
);
const FILE_NAME = { pattern: /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/, hint: 'a plain file name (letters, digits, ".", "_", "-"), like "app.conf"' };
const vars = record(str(), { pattern: /^[A-Za-z_][A-Za-z0-9_-]*$/, hint: 'letters, digits, "_" and "-"' }, "Values for config templates ({{ vars.NAME }}).");

const source = obj(
  {
    url: str({ pattern: SOURCE_URL, hint: "an https://, http:// or file: URL of a .tar.gz, .tgz, .tar or .zip", description: "The artifact: an https://, http:// or file: URL (file:dist/app.tgz is relative to hsu.yaml) of a .tar.gz, .tgz, .tar or .zip." }),
    index: str({
      pattern: SOURCE_URL,
      hint: "an https://, http:// or file: URL of a JSON index",
      description: 'Instead of url: a JSON index of versions ({"versions": [{"version", "url", "sha256", "signature"?}]}); `hsu upgrade` installs the newest, or the one named. Needs master.trusted_keys.',
    }),
    sha256: str({ pattern: /^[0-9a-fA-F]{64}$/, hint: "64 hex digits (sha256sum prints them)", description: "The artifact's sha256, pinned: anything else is refused." }),
    signature: str({ description: "The minisign signature (.minisig): a URL or a path relative to hsu.yaml (default: url + \".minisig\" when master.trusted_keys is set)." }),
    version: str({ description: "A label for this version, shown in the history." }),
    max_size: size("Refuse an artifact larger than this (default 512MiB).", { min: 1 }),
    max_unpacked: size("Refuse an archive that unpacks to more than this (default 2GiB).", { min: 1 }),
    max_files: num({ integer: true, min: 1, description: "Refuse an archive with more entries than this (default 100000)." }),
    keep: num({ integer: true, min: 1, max: 100, description: "Installed versions kept for this unit (default 3)." }),
    connect_timeout: duration("How long to wait for the server to connect and answer (default 15s).", { positive: true }),
    idle_timeout: duration("How long the server may send nothing mid-download (default 30s).", { positive: true }),
  },
  { description: "Install the unit from a verified artifact (see docs/artifacts.md): relative command paths and cwd are inside it." },
);
const upgrade = obj(
  {
    health_timeout: duration("How long `hsu upgrade` gives the new version to run - and pass its health check, when it has one - before it rolls back (default 30s).", { positive: true }),
    drain_timeout: duration("integrated: how long calls already on their way to the old process may take to finish when it is restarted (for an upgrade, a rollback or `hsu restart`) before it is told to shut down; new calls wait for the new process meanwhile (default: graceful_timeout).", { positive: true }),
    when_idle: bool("integrated: wait until the unit is at rest (stopped after idle_timeout) before upgrading it (default false; --now does not wait)."),
    window: str({ description: 'When `hsu upgrade` may run (without --now): a cron expression whose every matching minute is open, e.g. "* 2-4 * * *" (02:00-04:59, the host\'s time zone).' }),
  },
  { description: "How `hsu upgrade` moves a source unit to a new version (see docs/artifacts.md)." },
);
const trustedKey = either(
  str({ description: "A minisign public key: its base64 line (RW...) or the .pub text." }),
  obj({ file: str({ description: "A minisign .pub file, relative to hsu.yaml." }) }, { required: ["file"] }),
  isMap,
);

/**
 * A TLS server's files (`master.control.tls`, a gateway's `tls`), relative
 * to hsu.yaml; they are reloaded when they change.
 */
export const tlsField = obj(
  {
    cert_file: str({ description: "PEM certificate chain, leaf first." }),
    key_file: str({ description: "PEM private key of the certificate." }),
    client_ca_file: str({ description: "PEM CA certificates that client certificates must chain to (needed for client_auth request/require)." }),
    client_auth: oneOf(["none", "request", "require"], "Client certificates: none (default), request (checked when sent), require (the handshake fails without one)."),
  },
  { required: ["cert_file", "key_file"], description: "Serve TLS with these files; a change on disk is picked up by new connections." },
);

const oidcProvider = obj(
  {
    issuer: str({ pattern: /^https?:\/\/[^\s]+$/, hint: "an http(s) URL, exactly the iss of the tokens", description: "The issuer URL, exactly as tokens carry it in iss; discovery reads <issuer>/.well-known/openid-configuration." }),
    audience: either(str(), list(str()), isSeq),
    roles_claim: str({ description: 'The claim holding groups or roles: a string or a list of strings; a dotted name reaches nested claims (default "roles").' }),
    role_map: record(oneOf(ROLES), undefined, "Claim value -> role; a value equal to a role name maps to it unless mapped here."),
    units_claim: str({ description: 'The claim listing the unit id globs a caller may reach ("*": every unit); set, a token without it is refused.' }),
    jwks_uri: str({ pattern: /^https?:\/\/[^\s]+$/, hint: "an http(s) URL", description: "The JWKS URL (default: the one discovery names)." }),
    clock_tolerance: duration("Leeway for exp/nbf against clock skew (default 30s)."),
    algorithms: list(oneOf(OIDC_ALGORITHMS), "The signature algorithms accepted (default: every asymmetric one; never none or HS*)."),
  },
  { required: ["issuer", "audience"], description: "A trusted OIDC identity provider." },
);

const auth = obj(
  {
    oidc: list(oidcProvider, "OIDC providers whose JWTs are accepted as bearer credentials; a token goes to the one named by its iss."),
    audit_file: str({ description: "The tamper-evident audit log (default <state_dir>/audit.log)." }),
  },
  { description: "Who may call the master and its units, and the audit log." },
);

const gatewayRoute = obj(
  {
    unit: str({ ...ID, description: "The integrated unit (of this hsu.yaml) the route calls." }),
    descriptors: either(
      str({ description: "A FileDescriptorSet file (`buf build <protos> -o x.binpb`), relative to hsu.yaml." }),
      list(str(), "Several FileDescriptorSet files."),
      isSeq,
    ),
    services: list(str({ pattern: /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/, hint: 'a fully-qualified service name like "hsu.examples.echo.v1.EchoService"' }), "The services to route (default: every one in the descriptors but hsu.core.*, hsu.master.*, grpc.reflection.*)."),
    prefix: str({ pattern: /^(\/[A-Za-z0-9_~-][A-Za-z0-9._~-]*)*$/, hint: 'a path prefix like "/echo" (no trailing slash, no "." or ".." segments)', description: 'Mount the route under this path (default "").' }),
    auth: oneOf(["required", "none"], "required (default): calls need credentials; none: anonymous calls may reach these services."),
  },
  { required: ["unit", "descriptors"], description: "One gateway route: services of one unit." },
);
const gateway = obj(
  {
    listen: str({ pattern: /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, hint: "host:port like 127.0.0.1:8080", description: "Where the gateway listens (host:port)." }),
    tls: tlsField,
    openapi: str({ pattern: /^(\/[A-Za-z0-9._~-]+)+$/, hint: 'a path like "/openapi.json"', description: "Serve the OpenAPI 3.1 document of the routes here." }),
    routes: list(gatewayRoute, "The routes: which units and services, under which prefix."),
    cors: obj(
      {
        origins: list(str(), 'Origins allowed to call from a browser ("*": any).'),
        headers: list(str(), "Request headers allowed beyond the protocols' own."),
        max_age: duration("How long a browser may cache a preflight (default 10m)."),
      },
      { description: "Cross-origin (browser) calls." },
    ),
    limits: obj(
      {
        max_body: size("The largest request body (default 1MiB)."),
        timeout: duration("The longest a request may take, the unit's call included (default 30s).", { positive: true }),
        header_timeout: duration("The request line and headers must arrive within this long (default 10s).", { positive: true }),
        rate: obj(
          {
            requests: num({ integer: true, min: 1, description: "Requests allowed per `per` from one client address." }),
            per: duration("The period of `requests` (default 1s).", { positive: true }),
            burst: num({ integer: true, min: 1, description: "The most requests at once from a rested client (default: requests)." }),
          },
          { required: ["requests"], description: "Per-client rate limit (a token bucket per client address); past it: 429 with Retry-After." },
        ),
      },
      { description: "Request limits." },
    ),
  },
  { required: ["listen", "routes"], description: "Run this unit as an HSU gateway (command: hsu-gateway): HTTP into integrated units (see docs/gateway.md)." },
);

const unit = obj(
  {
    source,
    gateway,
    upgrade,
    kind: oneOf(["managed", "unmanaged", "integrated"], "managed (default), unmanaged, or integrated (serves the Core API)."),
    description: str(),
    command: str({ description: "The program to run (looked up on PATH); no shell unless `shell: true`." }),
    args: list(str(), "Its arguments."),
    shell: bool("Run `command` through /bin/sh -c (default false)."),
    cwd: str({ description: "Working directory (default: the directory of hsu.yaml)." }),
    env: record(str(), undefined, "Environment variables."),
    env_mode: oneOf(["merge", "replace"], "merge: over the master's environment (default); replace: only `env`."),
    env_file: envFile,
    config: record(configFile, FILE_NAME, "Config files rendered from templates into $HSU_CONFIG_DIR, by file name."),
    vars,
    auto_start: bool("Start with `hsu up` (default true; integrated units start on demand)."),
    graceful_timeout: duration("How long a stop waits before SIGKILL (default 30s)."),
    stop_signal: oneOf(SIGNALS, "The signal that asks it to stop (default SIGTERM)."),
    nice: num({ integer: true, min: -20, max: 19, description: "Scheduling priority." }),
    stdout: oneOf(["capture", "inherit", "ignore"], "What to do with standard output (default capture)."),
    stderr: oneOf(["capture", "inherit", "ignore"], "What to do with standard error (default capture)."),
    restart,
    health_check: healthCheck,
    limits,
    depends_on: dependsOn,
    replicas: num({ integer: true, min: 0, max: 1000, description: "Run a worker pool of this many replicas (each gets HSU_INDEX)." }),
    schedule,
    listen: oneOf(["unix", "tcp"], "integrated: where the unit listens (default unix)."),
    start_timeout: duration("How long `hsu up` waits for the unit to show it started - integrated: its handshake; managed: 1s alive or ready (default 10s).", { positive: true }),
    idle_timeout: duration("integrated: stop after this long without calls (default: never).", { positive: true }),
    on_demand: bool("integrated: start on the first call instead of at `hsu up` (default true)."),
    secrets: {
      read: secrets.read,
      schema: () => ({ ...secrets.schema(), description: "Secrets (`hsu secret set`) the unit gets as files in $HSU_CREDENTIALS_DIR: a list of names, or a mapping name -> { env: VAR } / { file: NAME }." }),
    },
    ...locate,
  },
  { description: "One unit." },
);

const master = obj(
  {
    id: str({ pattern: ID.pattern, hint: ID.hint, description: "The master's id." }),
    state_dir: str({ description: "Where the master keeps its state, sockets and logs (default .hsu beside hsu.yaml)." }),
    control: obj({
      socket: str({ description: "The control socket path (default <state_dir>/control.sock, mode 0600)." }),
      tcp: str({ description: "Also listen on TCP (host:port); every call then needs a bearer credential: an API token, an OIDC JWT or the control token." }),
      token_file: str({ description: "Optional: a file holding a control token, an admin credential for TCP control (API tokens and OIDC work without it)." }),
      tls: tlsField,
    }),
    auth,
    logs: obj({
      max_file_size: size("Rotate a unit's log file past this size (default 10MiB).", { min: 1 }),
      max_files: num({ integer: true, min: 0, description: "Rotated files to keep (default 5)." }),
      tail_lines: num({ integer: true, min: 0, description: "Lines kept in memory per unit (default 1000)." }),
    }),
    on_restart: oneOf(["adopt", "stop"], "After a master crash: re-adopt units still running (default) or stop them."),
    trusted_keys: list(trustedKey, "Public keys (minisign) whose signatures make a unit's source: trusted; any one of them suffices."),
  },
  { description: "The master itself." },
);

/** The whole hsu.yaml, described once. */
export const deploymentField = obj(
  {
    version: num({ integer: true, min: 1, max: 1, description: "The spec version (1)." }),
    master,
    vars,
    units: record(unit, ID, "The units, by id."),
  },
  { required: ["units"], extensions: true },
);

/** The raw shape read from hsu.yaml, before defaults. */
export type RawDeployment = NonNullable<ReturnType<typeof deploymentField.read>>;
export type RawUnit = NonNullable<ReturnType<typeof unit.read>>;
export type RawTls = NonNullable<ReturnType<typeof tlsField.read>>;
export type RawOidcProvider = NonNullable<ReturnType<typeof oidcProvider.read>>;

/** The JSON Schema of hsu.yaml, generated from the same description the validator uses. */
export function deploymentJsonSchema(): JsonSchema {
  return {
    $schema: "https://json-schema.org/draft/2020-12/schema",
    $id: "https://hsu.dev/schema/hsu.yaml.json",
    title: "HSU deployment (hsu.yaml)",
    ...deploymentField.schema(),
  };
}
