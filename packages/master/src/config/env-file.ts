/** One variable read from an env file, with the line it starts on. */
export interface EnvEntry {
  key: string;
  value: string;
  line: number;
}

/** A line an env file cannot hold, with its 1-based line number. */
export interface EnvFileIssue {
  line: number;
  message: string;
}

const KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;
const ESCAPES: Record<string, string> = { n: "\n", r: "\r", t: "\t", '"': '"', "\\": "\\", $: "$", "`": "`" };

/**
 * Parses dotenv text (the subset docker compose and systemd's
 * EnvironmentFile both accept, documented in docs/config.md): a UTF-8 BOM at
 * the start is dropped, CRLF line ends are read as LF, blank lines and
 * `#` lines are skipped, `export KEY=value` is `KEY=value`; an unquoted value
 * is trimmed and ends at ` #`; a '...' value is literal; a "..." value knows
 * \n \r \t \" \\ \$ \` (any other backslash stays as written); a quoted value
 * may span lines. No `${VAR}` expansion. A key without `=`, a bad key name,
 * an unclosed quote, text after the closing quote or a NUL byte is an issue
 * at its line; nothing is returned for the file then.
 */
export function parseEnvFile(input: string): { entries: EnvEntry[]; issues: EnvFileIssue[] } {
  const text = (input.startsWith("\uFEFF") ? input.slice(1) : input).replace(/\r\n/g, "\n");
  const lines = text.split("\n");
  const entries: EnvEntry[] = [];
  const issues: EnvFileIssue[] = [];
  for (let i = 0; i < lines.length; i++) {
    const start = i + 1;
    const raw = lines[i]!;
    if (raw.includes("\0")) {
      issues.push({ line: start, message: "contains a NUL byte: an env file must be text" });
      continue;
    }
    if (raw.includes("\r")) {
      issues.push({ line: start, message: "contains a carriage return that does not end the line" });
      continue;
    }
    const body = raw.trim();
    if (body === "" || body.startsWith("#")) continue;
    const decl = body.startsWith("export ") ? body.slice(7).trimStart() : body;
    const eq = decl.indexOf("=");
    if (eq < 0) {
      issues.push({ line: start, message: `"${clip(decl)}" has no "=": write KEY=value` });
      continue;
    }
    const key = decl.slice(0, eq).trim();
    if (!KEY.test(key)) {
      issues.push({ line: start, message: `"${clip(key)}" is not a variable name (letters, digits and "_", not starting with a digit)` });
      continue;
    }
    let rest = decl.slice(eq + 1).trimStart();
    const quote = rest[0];
    if (quote !== '"' && quote !== "'") {
      const hash = rest.search(/\s#/);
      entries.push({ key, value: (hash >= 0 ? rest.slice(0, hash) : rest).trim(), line: start });
      continue;
    }
    // A quoted value: scan to the closing quote, across lines if need be.
    let value = "";
    let closed = false;
    let pos = 1;
    for (;;) {
      for (; pos < rest.length; pos++) {
        const c = rest[pos]!;
        if (c === quote) {
          closed = true;
          break;
        }
        if (quote === '"' && c === "\\" && pos + 1 < rest.length) {
          const n = rest[++pos]!;
          value += ESCAPES[n] ?? `\\${n}`;
        } else value += c;
      }
      if (closed || i + 1 >= lines.length) break;
      const more = lines[++i]!;
      if (more.includes("\0")) break;
      value += "\n";
      rest = more;
      pos = 0;
    }
    if (!closed) {
      issues.push({ line: start, message: `the ${quote === '"' ? "double" : "single"} quote opened here is never closed` });
      continue;
    }
    const after = rest.slice(pos + 1).trim();
    if (after !== "" && !after.startsWith("#")) {
      issues.push({ line: i + 1, message: `unexpected "${clip(after)}" after the closing quote` });
      continue;
    }
    entries.push({ key, value, line: start });
  }
  return issues.length ? { entries: [], issues } : { entries, issues };
}

const clip = (s: string) => (s.length > 40 ? `${s.slice(0, 40)}...` : s);
