import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

/** One broken hsu.yaml: its bytes, the fragment its error must contain, and the line it must name. */
export interface BrokenCase {
  readonly name: string;
  readonly bytes: Uint8Array;
  readonly expect: string;
  readonly line: number;
}

const dir = join(import.meta.dirname, "broken");

/** The committed corpus: each file says what it expects in its first line, `# expect: <fragment> @<line>`. */
export function committedCases(): BrokenCase[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith(".yaml"))
    .sort()
    .map((name) => {
      const bytes = readFileSync(join(dir, name));
      const m = /^# expect: (.*?) ?@(\d+)$/m.exec(bytes.toString("utf8"));
      if (!m) throw new Error(`${name}: the first line must be "# expect: <fragment> @<line>"`);
      return { name, bytes, expect: m[1]!, line: Number(m[2]) };
    });
}

const enc = (s: string) => new Uint8Array(Buffer.from(s, "utf8"));

/**
 * Files that cannot be committed as readable text (NUL bytes, invalid UTF-8,
 * a BOM, CRLF line ends) or would be too big: made here, byte for byte.
 */
export function generatedCases(): BrokenCase[] {
  const unknownKeys = (bytes: number) => {
    const parts = ["units:\n  api:\n    command: sleep\n"];
    let n = 0;
    for (let size = parts[0]!.length; size < bytes; n++) {
      const line = `    unknown_${n}: ${n}\n`;
      parts.push(line);
      size += line.length;
    }
    return parts.join("");
  };
  return [
    { name: "nul-byte (generated)", bytes: enc("units:\n  api:\n    command: sl\0eep\n"), expect: "(file): contains a NUL byte", line: 3 },
    { name: "not-utf8 (generated)", bytes: new Uint8Array([...enc("units:\n  api:\n    command: caf"), 0xe9, ...enc("\n")]), expect: "(file): is not UTF-8 text (byte 0xe9", line: 3 },
    { name: "bom (generated)", bytes: enc("\uFEFFunits:\n  api:\n    comand: sleep\n"), expect: 'units.api.comand: unknown field "comand"', line: 3 },
    { name: "crlf (generated)", bytes: enc("units:\r\n  api:\r\n    command: sleep\r\n    restart: { delay: soon }\r\n"), expect: "units.api.restart.delay: expected a duration", line: 4 },
    { name: "huge-file (generated)", bytes: enc(unknownKeys(20 * 1024 * 1024)), expect: "(file): is 20.0 MiB; hsu.yaml may be at most 2 MiB", line: 1 },
    { name: "deep-block-nesting (generated)", bytes: enc("units:\n" + Array.from({ length: 300 }, (_, i) => `${" ".repeat(i + 2)}k:`).join("\n") + "\n"), expect: "(yaml): nested more than 64 levels deep", line: 64 },
    { name: "deep-dash-nesting (generated)", bytes: enc("units:\n  api:\n    args: " + "- ".repeat(5000) + "x\n"), expect: "(yaml): nested more than 64 levels deep", line: 3 },
    { name: "deep-flow-nesting (generated)", bytes: enc("units: " + "{a: ".repeat(20000) + "1" + "}".repeat(20000) + "\n"), expect: "(yaml): nested more than 64 levels deep", line: 1 },
  ];
}
