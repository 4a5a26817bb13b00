// `hsu secret set|list|rm|recipient`: on the state dir directly, not through the master (see docs/secrets.md).
import { HsuError } from "@hsu/client/hsu-error";
import { redactablePieces } from "@hsu/client";
import { readFileSync } from "node:fs";
import type { Deployment } from "../config/index.ts";
import { checkStateDir } from "../daemon/state-dir.ts";
import { checkSecretName } from "../secrets/names.ts";
import { createSecretStore, MAX_SECRET_BYTES, type SecretStore } from "../secrets/store.ts";
import { formatBytes, relativeTime, table } from "./format.ts";
import { requireSpecFile } from "./spec-file.ts";
import { usageError } from "./usage-error.ts";

type Values = Record<string, string | boolean | undefined>;

/** The usage line of `hsu secret`. */
export const SECRET_ARGS = "set <name> | list | rm <name> | recipient";

async function open(values: Values): Promise<{ store: SecretStore; deployment: Deployment }> {
  const { loadDeployment } = await import("../config/index.ts");
  // Only where the state dir is matters: a unit's missing executable must not keep a secret from being set.
  const deployment = await loadDeployment(requireSpecFile(String(values.file)), { environment: false });
  checkStateDir(deployment.master.stateDir);
  return { store: createSecretStore(deployment.master.stateDir), deployment };
}

/** The units of `d` that get secret `name`. */
const usersOf = (d: Deployment, name: string) => Object.values(d.units).filter((u) => u.secrets?.some((s) => s.name === name)).map((u) => u.id);

/** Reads all of standard input, bounded: a value is never taken from the command line. */
async function readStdin(): Promise<Buffer> {
  if (process.stdin.isTTY) {
    throw new HsuError("invalid_argument", "the value is read from standard input, which is a terminal here: pipe it in (`hsu secret set NAME < file`, `pass show x | hsu secret set NAME`) or use --from-file PATH");
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of process.stdin as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_SECRET_BYTES) throw new HsuError("invalid_argument", `the value on standard input is over ${MAX_SECRET_BYTES} bytes; secrets are small (keys, passwords, certificates)`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** `hsu secret <action> [name]`. */
export async function runSecret(values: Values, args: string[]): Promise<number> {
  const [action, name, ...extra] = args;
  const need = (n: number) => {
    if (args.length - 1 !== n) throw usageError("secret", `${action} takes ${n ? "a secret name" : "no arguments"}${extra.length || (n === 0 && name) ? `, got: ${args.slice(1).join(" ")}` : ""}`, SECRET_ARGS);
  };
  switch (action) {
    case "set": {
      need(1);
      checkSecretName(name!);
      const from = values["from-file"];
      const value = typeof from === "string" ? readFileSync(from) : await readStdin();
      if (value.length === 0) throw new HsuError("invalid_argument", `the value of secret "${name}" is empty (nothing on standard input${typeof from === "string" ? ` or in ${from}` : ""})`);
      const { store, deployment } = await open(values);
      await store.set(name!, value);
      process.stdout.write(`secret "${name}" set (${store.fileOf(name!)})\n`);
      const users = usersOf(deployment, name!);
      if (users.length) process.stdout.write(`units that get it read it at their next start: \`hsu restart ${users.join(" ")}\`\n`);
      if (redactablePieces(value.toString("utf8")).length === 0) {
        process.stderr.write(`warning: the value of "${name}" is too short (under 4 characters a line) to be redacted from unit logs\n`);
      }
      return 0;
    }
    case "list": {
      need(0);
      const { store, deployment } = await open(values);
      const all = store.list().map((s) => ({ ...s, usedBy: usersOf(deployment, s.name) }));
      if (values.json) {
        process.stdout.write(`${JSON.stringify(all.map((s) => ({ name: s.name, bytes: s.bytes, modified: new Date(s.modified).toISOString(), usedBy: s.usedBy })), null, 2)}\n`);
        return 0;
      }
      if (!all.length) {
        process.stdout.write(`no secrets in ${store.dir}; add one with \`hsu secret set NAME < file\`\n`);
        return 0;
      }
      const now = Date.now();
      process.stdout.write(`${table(["NAME", "SIZE", "MODIFIED", "USED BY"], all.map((s) => [s.name, formatBytes(s.bytes), relativeTime(s.modified, now), s.usedBy.join(", ") || "-"]), { right: [1] })}\n`);
      return 0;
    }
    case "rm": {
      need(1);
      checkSecretName(name!);
      const { store, deployment } = await open(values);
      if (!store.remove(name!)) throw new HsuError("not_found", `no secret "${name}" (no ${store.fileOf(name!)}); \`hsu secret list\` shows them`);
      process.stdout.write(`secret "${name}" removed\n`);
      const users = usersOf(deployment, name!);
      if (users.length) process.stderr.write(`warning: ${users.join(", ")} still name it in hsu.yaml and will not start until it is set again\n`);
      return 0;
    }
    case "recipient": {
      need(0);
      const { store } = await open(values);
      process.stdout.write(`${await store.recipient()}\n`);
      return 0;
    }
    default:
      throw usageError("secret", action ? `unknown action "${action}"` : "name an action", SECRET_ARGS);
  }
}
