// `hsu audit [verify]`: reads the master's audit log (<state_dir>/audit.log) directly, so a
// check does not depend on the master it checks. See docs/auth.md.
import { HsuError } from "@hsu/client/hsu-error";
import { readFileSync } from "node:fs";
import { verifyAudit, type AuditEntry } from "../auth/audit.ts";
import { usageError } from "./usage-error.ts";
import { requireSpecFile } from "./spec-file.ts";

type Values = Record<string, string | boolean | undefined>;

/** The audit log of the master hsu.yaml describes (HSU_AUDIT_FILE names another). */
export async function auditFileFor(values: Values): Promise<string> {
  if (process.env.HSU_AUDIT_FILE) return process.env.HSU_AUDIT_FILE;
  const file = requireSpecFile(String(values.file));
  const { loadDeployment } = await import("../config/index.ts");
  // Only where the state dir is matters: a unit's missing executable must not keep the log from being read.
  const d = await loadDeployment(file, { environment: false });
  return d.master.auth.auditFile;
}

function read(file: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") throw new HsuError("not_found", `no audit log at ${file} yet (the master writes one on its first mutating or refused call)`);
    throw new HsuError("unavailable", `cannot read the audit log ${file}: ${(e as Error).message}`);
  }
}

/** One entry as a line of text: when, who, what, from where, result. */
export function auditLine(e: AuditEntry): string {
  const what = `${e.method.replace(/^hsu\.master\.v1\.ControlService\//, "")}${e.units.length ? ` ${e.units.join(",")}` : ""}`;
  const who = `${e.who.kind}:${e.who.subject}`;
  const result = e.result === "ok" ? "ok" : `${e.result} ${e.code}${e.reason ? `: ${e.reason}` : ""}`;
  return `${new Date(e.time).toISOString()}  ${who}  ${what}  from ${e.from}${e.via ? ` via ${e.via}` : ""}  ${result}`;
}

/** `hsu audit [verify]`. */
export async function runAudit(values: Values, args: string[]): Promise<number> {
  const [action, ...extra] = args;
  if (extra.length || (action !== undefined && action !== "verify")) throw usageError("audit", `unexpected argument "${extra[0] ?? action}"`, "[verify]");
  const file = await auditFileFor(values);
  const text = read(file);
  if (action === "verify") {
    const v = verifyAudit(text);
    if (values.json) process.stdout.write(`${JSON.stringify({ file, ...v })}\n`);
    else if (v.ok) process.stdout.write(`${file}: ${v.entries} entries, the hash chain is intact\n`);
    else process.stderr.write(`hsu audit verify: ${file}:${v.line}: ${v.reason} (the ${v.entries} entries before it are intact)\n`);
    return v.ok ? 0 : 1;
  }
  let n: number | undefined;
  if (values.tail !== undefined) {
    if (!/^\d+$/.test(String(values.tail))) throw usageError("audit", `-n takes a number of entries, got "${values.tail}"`, "[verify]");
    n = Number(values.tail);
  }
  const lines = text.split("\n").filter((l) => l !== "");
  const shown = n === undefined ? lines : n === 0 ? [] : lines.slice(-n);
  for (const l of shown) {
    let e: AuditEntry | undefined;
    try {
      e = JSON.parse(l) as AuditEntry;
    } catch {
      e = undefined;
    }
    if (values.json) process.stdout.write(`${e ? JSON.stringify(e) : JSON.stringify({ unreadable: l })}\n`);
    else process.stdout.write(`${e ? auditLine(e) : `(not an entry: ${l.slice(0, 80)})`}\n`);
  }
  return 0;
}
