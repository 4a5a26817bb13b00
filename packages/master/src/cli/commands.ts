import type { Command } from "./help.ts";

export type { Command } from "./help.ts";
type Values = Record<string, string | boolean | undefined>;
type Run = (values: Values, positionals: string[]) => Promise<number>;

const file = { file: { type: "string", short: "f", default: "hsu.yaml" } } as const;
// Where the master is, and for its TCP port over TLS the CA to trust and a client certificate.
const socket = { socket: { type: "string" }, ca: { type: "string" }, "client-cert": { type: "string" }, "client-key": { type: "string" } } as const;
const json = { json: { type: "boolean" } } as const;

// Each command's code is imported when it runs: the table itself loads nothing but these texts.
const lazy =
  <M>(load: () => Promise<M>, pick: (m: M) => Run): Run =>
  async (values, positionals) =>
    pick(await load())(values, positionals);
const units = () => import("./unit-commands.ts");
const spec = () => import("./spec-commands.ts");
const signing = () => import("./sign-commands.ts");

/** Every `hsu` subcommand by name, in the order `hsu --help` lists them. */
export const commands: Record<string, Command> = {
  up: {
    summary: "start the master and every auto-start unit (foreground, or --detach)",
    options: { ...file, detach: { type: "boolean", short: "d" }, ...json },
    examples: ["hsu up                # run in this terminal; Ctrl-C stops everything", "hsu up -d              # run in the background; then hsu ps, hsu logs -f, hsu down"],
    run: lazy(() => import("./up.ts"), (m) => m.runUp),
  },
  install: {
    summary: "fetch, verify (sha256, minisign) and unpack the units' source: artifacts into the state dir",
    args: "[unit...]",
    options: { ...file, ...json },
    examples: ["hsu install              # every unit with a source: not yet on it", "hsu install api          # only this one"],
    run: lazy(() => import("./install-command.ts"), (m) => m.runInstall),
  },
  upgrade: {
    summary: "install a source unit's new version, restart it, and roll back by itself if it does not run or pass its health check",
    args: "<unit> [version]",
    options: { ...file, ...socket, ...json, now: { type: "boolean" } },
    examples: [
      "hsu upgrade api            # to the source hsu.yaml names now; gated by upgrade.health_timeout (30s)",
      "hsu upgrade api 1.3.0      # with source.index: that version; else refused unless hsu.yaml names 1.3.0",
      "hsu upgrade api --now      # even outside upgrade.window, without waiting for upgrade.when_idle",
    ],
    run: lazy(() => import("./upgrade-command.ts"), (m) => m.runUpgrade),
  },
  rollback: {
    summary: "put a source unit back on the version before the one it runs, and restart it there",
    args: "<unit>",
    options: { ...file, ...socket, ...json },
    examples: ["hsu rollback api           # the previous version in its history; also finishes a killed upgrade"],
    run: lazy(() => import("./upgrade-command.ts"), (m) => m.runRollback),
  },
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
    run: lazy(units, (m) => m.runPs),
  },
  logs: {
    summary: "show unit logs (all units when none is named); -f follows",
    args: "[unit...]",
    options: {
      // `hsu logs -f` follows, as in every log tool; its spec file is --file only.
      file: { type: "string", default: "hsu.yaml" },
      ...socket,
      ...json,
      follow: { type: "boolean", short: "f" },
      since: { type: "string" },
      tail: { type: "string", short: "n" },
      timestamps: { type: "boolean", short: "t" },
    },
    examples: ["hsu logs -f                # every unit, live", "hsu logs -n 20 web workers   # a pool's name stands for its replicas", "hsu logs --since 10m -t"],
    run: lazy(() => import("./logs.ts"), (m) => m.runLogs),
  },
  start: unitCommand("start", "start stopped units"),
  stop: unitCommand("stop", "stop units gracefully (they stay stopped until `hsu start`)"),
  restart: unitCommand("restart", "stop units and start them again"),
  scale: {
    summary: "set a worker pool's replica count",
    args: "<pool> <N>",
    options: { ...file, ...socket, ...json },
    examples: ["hsu scale workers 5", "hsu scale workers 0      # stop every replica, keep the pool"],
    run: lazy(units, (m) => m.runScale),
  },
  apply: {
    summary: "reload hsu.yaml: start added units, stop removed ones, restart changed ones",
    options: { ...file, ...socket, ...json, "dry-run": { type: "boolean" } },
    examples: ["hsu apply --dry-run      # what would change", "hsu apply"],
    run: lazy(spec, (m) => m.runApply),
  },
  down: {
    summary: "stop every unit the master owns, then the master; returns when nothing is left",
    options: { ...file, ...socket, ...json },
    run: lazy(() => import("./down.ts"), (m) => m.runDown),
  },
  validate: {
    summary: "check hsu.yaml and report every problem with its path and line",
    options: { ...file, ...json },
    examples: ["hsu validate", "hsu validate -f deploy/prod.yaml --json"],
    run: lazy(spec, (m) => m.runValidate),
  },
  schema: {
    summary: "print the JSON Schema of hsu.yaml (for editors)",
    options: {},
    examples: ["hsu schema > hsu.schema.json   # then: # yaml-language-server: $schema=./hsu.schema.json"],
    run: lazy(spec, (m) => m.runSchema),
  },
  key: {
    summary: "make a minisign key pair for signing artifacts (password from HSU_KEY_PASSWORD, or --no-password)",
    args: "generate",
    options: { output: { type: "string", short: "o" }, name: { type: "string", default: "hsu" }, "no-password": { type: "boolean" }, ...json },
    examples: ["HSU_KEY_PASSWORD=... hsu key generate -o keys   # keys/hsu.key (0600, encrypted) and keys/hsu.pub", "hsu key generate --no-password --name ci   # ci.key stored unencrypted, like minisign -W"],
    run: lazy(signing, (m) => m.runKey),
  },
  sign: {
    summary: "sign files with a minisign secret key: writes <file>.minisig, which `minisign -V` accepts",
    args: "<file...>",
    options: { key: { type: "string", short: "k" }, "trusted-comment": { type: "string", short: "t" }, signature: { type: "string", short: "x" }, ...json },
    examples: ["hsu sign app-1.2.0.tar.gz -k keys/hsu.key -t 'app 1.2.0'", "HSU_SIGNING_KEY=keys/hsu.key hsu sign dist/*.tar.gz"],
    run: lazy(signing, (m) => m.runSign),
  },
  verify: {
    summary: "check a file's minisign signature (<file>.minisig) against trusted public keys",
    args: "<file>",
    options: { pubkey: { type: "string", short: "p", multiple: true }, signature: { type: "string", short: "x" }, ...json },
    examples: ["hsu verify app-1.2.0.tar.gz -p keys/hsu.pub", "hsu verify app.tar.gz -p RWQ...   # the key's base64 line, as minisign -P takes it"],
    run: lazy(signing, (m) => m.runVerify),
  },
  secret: {
    summary: "store secrets encrypted with age for units to get (set, list, rm, recipient)",
    args: "set <name> | list | rm <name> | recipient",
    // The value comes from stdin or a file, never argv: a command line is visible to every user in ps and /proc, and stays in shell history.
    options: { ...file, ...json, "from-file": { type: "string" } },
    examples: [
      "hsu secret set db_password < pw.txt    # the value from stdin (never an argument: ps and shell history would show it)",
      "hsu secret set tls_key --from-file key.pem",
      "hsu secret list                        # names, sizes, dates, units; never values",
      "hsu secret rm db_password",
      "age -r $(hsu secret recipient) -o api_key.age key.txt   # prepare one elsewhere, copy to <state_dir>/secrets/",
    ],
    run: lazy(() => import("./secret-commands.ts"), (m) => m.runSecret),
  },
  token: {
    summary: "make, list and revoke API tokens for the TCP control port and the gateway (through the master; admin)",
    args: "create --name NAME --role ROLE... | list | revoke <id>",
    options: {
      ...file,
      ...socket,
      ...json,
      name: { type: "string" },
      role: { type: "string", multiple: true },
      unit: { type: "string", multiple: true },
      method: { type: "string", multiple: true },
      expires: { type: "string" },
    },
    examples: [
      "hsu token create --name ci --role operator --expires 30d   # prints the token once, then its id",
      "hsu token create --name web --role caller --unit echo --method 'hsu.examples.echo.v1.EchoService/*'",
      "hsu token list              # ids, names, scopes, expiry; never a secret",
      "hsu token revoke 1a2b3c4d   # refused from the next call on",
    ],
    run: lazy(() => import("./token-commands.ts"), (m) => m.runToken),
  },
  audit: {
    summary: "show the audit log of mutating and refused control calls; `verify` checks its hash chain",
    args: "[verify]",
    options: { ...file, ...json, tail: { type: "string", short: "n" } },
    examples: ["hsu audit -n 20           # the last 20 entries", "hsu audit --json | jq 'select(.result == \"denied\")'", "hsu audit verify          # exit 1 and the first bad line when an entry was edited, deleted or moved"],
    run: lazy(() => import("./audit-commands.ts"), (m) => m.runAudit),
  },
  daemon: {
    summary: "(internal) run the master in this process; `hsu up --detach` starts it",
    hidden: true,
    options: { ...file },
    run: lazy(() => import("./daemon-command.ts"), (m) => m.runDaemon),
  },
};

function unitCommand(name: "start" | "stop" | "restart", summary: string): Command {
  return {
    summary,
    args: "<unit...> | --all",
    options: { ...file, ...socket, ...json, all: { type: "boolean" } },
    examples: [`hsu ${name} web`, `hsu ${name} web queue      # both in one call`, `hsu ${name} --all          # every unit`],
    run: lazy(units, (m) => (values, positionals) => m.runUnitCommand(name, values, positionals)),
  };
}
