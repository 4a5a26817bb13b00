/** One piece of a parsed template: literal text, or a value to look up. */
export type TemplatePart =
  | { kind: "text"; text: string }
  | { kind: "ref"; scope: "vars" | "env" | "units"; path: string[]; line: number }
  | { kind: "secret"; name: string; line: number };

/** A template problem at a 1-based line of its source. */
export interface TemplateIssue {
  line: number;
  message: string;
}

/** The largest template (inline or file) the master renders. */
export const MAX_TEMPLATE_BYTES = 1024 * 1024;

const NAME = /^[A-Za-z_][A-Za-z0-9_-]*$/;
const UNIT_FIELDS = ["id", "address", "port", "kind"] as const;

/**
 * Parses the logic-less template syntax: `{{ vars.NAME }}`, `{{ env.NAME }}`,
 * `{{ units.ID.FIELD }}` (FIELD: id, address, port, kind), `{{ secret "NAME" }}`
 * and `{{ "text" }}` (a literal, the way to write `{{`). No includes, loops,
 * conditions or escaping: what a value holds is written as is, and a value is
 * never parsed again, so nothing recurses. Every issue is found in one pass.
 */
export function parseTemplate(source: string): { parts: TemplatePart[]; issues: TemplateIssue[] } {
  const parts: TemplatePart[] = [];
  const issues: TemplateIssue[] = [];
  let line = 1;
  let at = 0;
  const lineAt = (from: number, to: number) => {
    for (let k = from; k < to; k++) if (source.charCodeAt(k) === 10) line++;
  };
  for (;;) {
    const open = source.indexOf("{{", at);
    if (open < 0) {
      if (at < source.length) parts.push({ kind: "text", text: source.slice(at) });
      break;
    }
    if (open > at) parts.push({ kind: "text", text: source.slice(at, open) });
    lineAt(at, open);
    const close = source.indexOf("}}", open + 2);
    if (close < 0) {
      issues.push({ line, message: 'a "{{" is never closed by "}}" (write {{ "{{" }} for a literal "{{")' });
      break;
    }
    const inner = source.slice(open + 2, close);
    const tagLine = line;
    lineAt(open, close);
    at = close + 2;
    const expr = inner.trim();
    const literal = /^"([^"\n]*)"$/.exec(expr);
    const secret = /^secret\s+"([^"\n]*)"$/.exec(expr);
    if (literal) {
      parts.push({ kind: "text", text: literal[1]! });
      continue;
    }
    if (secret) {
      if (!NAME.test(secret[1]!)) issues.push({ line: tagLine, message: `"${secret[1]}" is not a secret name (letters, digits, "_" and "-")` });
      else parts.push({ kind: "secret", name: secret[1]!, line: tagLine });
      continue;
    }
    const path = expr.split(".");
    const [scope, ...rest] = path;
    const bad = (m: string) => issues.push({ line: tagLine, message: `{{ ${clip(expr)} }}: ${m}` });
    if (scope !== "vars" && scope !== "env" && scope !== "units") {
      bad('not a value: use vars.NAME, env.NAME, units.ID.FIELD, secret "NAME" or "literal text"');
      continue;
    }
    if (rest.some((p) => !NAME.test(p)) || (scope !== "units" && rest.length !== 1)) {
      bad(`write ${scope}.NAME with one name of letters, digits, "_" and "-"`);
      continue;
    }
    if (scope === "units" && (rest.length !== 2 || !(UNIT_FIELDS as readonly string[]).includes(rest[1]!))) {
      bad(`write units.ID.FIELD, FIELD one of ${UNIT_FIELDS.join(", ")}`);
      continue;
    }
    parts.push({ kind: "ref", scope, path: rest, line: tagLine });
  }
  return { parts, issues };
}

/** Where a template's values come from; each returns undefined for a name it does not know, or a reason. */
export interface TemplateValues {
  vars(name: string): string | undefined;
  env(name: string): string | undefined;
  /** A unit's field, or an error text saying why it is not known. */
  unit(id: string, field: string): { value: string } | { error: string };
  secret(name: string): Promise<string>;
}

/**
 * Renders parsed parts; every unknown name is an issue at its line, and the
 * output is only returned when there is none.
 */
export async function renderTemplate(parts: readonly TemplatePart[], values: TemplateValues): Promise<{ text: string; issues: TemplateIssue[] }> {
  const out: string[] = [];
  const issues: TemplateIssue[] = [];
  for (const p of parts) {
    if (p.kind === "text") out.push(p.text);
    else if (p.kind === "secret") {
      try {
        out.push(await values.secret(p.name));
      } catch (e) {
        issues.push({ line: p.line, message: `{{ secret "${p.name}" }}: ${(e as Error).message}` });
      }
    } else if (p.scope === "units") {
      const r = values.unit(p.path[0]!, p.path[1]!);
      if ("error" in r) issues.push({ line: p.line, message: `{{ units.${p.path.join(".")} }}: ${r.error}` });
      else out.push(r.value);
    } else {
      const v = p.scope === "vars" ? values.vars(p.path[0]!) : values.env(p.path[0]!);
      if (v === undefined) {
        const fix = p.scope === "vars" ? "define it under `vars:` (top level or the unit's)" : "set it in the environment the master starts in (`hsu up`)";
        issues.push({ line: p.line, message: `{{ ${p.scope}.${p.path[0]} }}: unknown ${p.scope === "vars" ? "variable" : "environment variable"} "${p.path[0]}"; ${fix}` });
      } else out.push(v);
    }
  }
  return { text: issues.length ? "" : out.join(""), issues };
}

/** Whether the template reads a secret (its file then never goes to persistent disk). */
export const usesSecret = (parts: readonly TemplatePart[]): boolean => parts.some((p) => p.kind === "secret");

const clip = (s: string) => (s.length > 40 ? `${s.slice(0, 40)}...` : s);
