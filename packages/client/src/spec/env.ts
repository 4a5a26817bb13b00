import type { IssueList } from "./issues.ts";

/**
 * Environment variables the kernel can pass: a name is non-empty, has no "="
 * and no NUL; a value has no NUL. spawn() would throw on any of these.
 */
export function checkEnv(env: Readonly<Record<string, unknown>>, issues: IssueList, field = "env"): void {
  for (const [k, v] of Object.entries(env)) {
    if (k === "") issues.add(field, "an environment variable name must not be empty");
    else if (k.includes("=")) issues.add(`${field}.${k}`, `the name "${k}" contains "=": a name cannot hold "=" (write ${k.split("=")[0]}: ${JSON.stringify(k.slice(k.indexOf("=") + 1))})`);
    else if (k.includes("\0")) issues.add(`${field}.${k.replace(/\0/g, "\\0")}`, "the name contains a NUL byte");
    if (typeof v !== "string") issues.add(`${field}.${k}`, `must be a string, got ${typeof v}`);
    else if (v.includes("\0")) issues.add(`${field}.${k}`, "the value contains a NUL byte");
  }
}

/** Whether a string can go into argv, a path or the environment. */
export function hasNul(s: string): boolean {
  return s.includes("\0");
}
