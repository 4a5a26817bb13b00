import { createInterface } from "node:readline";
import type { Readable } from "node:stream";
import { fileURLToPath } from "node:url";
import type { LogSink } from "../ports.ts";
import type { ManagedUnit } from "../managed-unit.ts";
import type { UnitEvent } from "../unit-events.ts";

/** Absolute path of a helper program in ../test-fixtures. */
export function fixture(name: string): string {
  return fileURLToPath(new URL(`../test-fixtures/${name}`, import.meta.url));
}

/** A captured line, in arrival order across units and streams. */
export interface CapturedLine {
  unit: string;
  stream: "stdout" | "stderr";
  text: string;
}

/** A trivial LogSink for tests: keeps every line and lets a test wait for one. */
export interface LineSink extends LogSink {
  readonly lines: CapturedLine[];
  textOf(unit: string): string[];
  waitForLine(unit: string, match: (text: string) => boolean): Promise<string>;
}

/** Creates the in-memory line sink. */
export function createLineSink(): LineSink {
  const lines: CapturedLine[] = [];
  const waiters = new Set<() => void>();
  return {
    lines,
    textOf: (unit) => lines.filter((l) => l.unit === unit).map((l) => l.text),
    attach(unit, stream, source: Readable) {
      const rl = createInterface({ input: source, crlfDelay: Infinity });
      rl.on("line", (text) => {
        lines.push({ unit, stream, text });
        for (const w of [...waiters]) w();
      });
      return new Promise((resolve) => rl.once("close", resolve));
    },
    waitForLine(unit, match) {
      return new Promise((resolve) => {
        const check = (): boolean => {
          const hit = lines.find((l) => l.unit === unit && match(l.text));
          if (hit) {
            waiters.delete(check);
            resolve(hit.text);
          }
          return Boolean(hit);
        };
        if (!check()) waiters.add(check);
      });
    },
  };
}

/** Records every event of a unit for later assertions. */
export function recordEvents(unit: ManagedUnit): UnitEvent[] {
  const seen: UnitEvent[] = [];
  unit.onEvent((e) => seen.push(e));
  return seen;
}
