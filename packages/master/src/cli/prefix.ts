import type { Deployment } from "../config/index.ts";
import { paint, type Color } from "./format.ts";

// Red is kept for errors; ten colours tell ten units apart before any repeats.
const unitColors: Color[] = ["cyan", "magenta", "blue", "yellow", "green", "brightCyan", "brightMagenta", "brightBlue", "brightYellow", "brightGreen"];

/** Formats the `unit |` column of log output. */
export interface Prefixer {
  /** `web       | ` for stdout, `web       ! ` for stderr, in the unit's colour. */
  format(unit: string, stderr?: boolean): string;
  /** The current column width. */
  width(): number;
}

/**
 * A log prefix that stays aligned: the width is fixed up front from every unit
 * the output will show, and only grows if an unexpected one appears. Each unit
 * keeps one colour; stderr lines use `!` instead of `|`, so they stand out
 * even without colour.
 */
export function createPrefixer(knownUnits: string[], color: boolean): Prefixer {
  const assigned = new Map<string, Color>();
  let width = Math.max(0, ...knownUnits.map((u) => u.length));
  for (const u of knownUnits) if (u !== "hsu") assigned.set(u, unitColors[assigned.size % unitColors.length]!);
  return {
    format(unit, stderr = false) {
      if (!assigned.has(unit)) assigned.set(unit, unitColors[assigned.size % unitColors.length]!);
      width = Math.max(width, unit.length);
      // The unit keeps its colour on both streams; the stderr mark is red so it shows beside any of them.
      return `${paint(unit.padEnd(width), assigned.get(unit)!, color)} ${stderr ? paint("!", "red", color) : paint("|", assigned.get(unit)!, color)}`;
    },
    width: () => width,
  };
}

/** Every unit id a deployment shows in logs, pool replicas included, in spec order. */
export function expectedUnitIds(deployment: Deployment): string[] {
  return Object.values(deployment.units).flatMap((u) => (u.replicas !== undefined ? Array.from({ length: u.replicas }, (_, i) => `${u.id}-${i}`) : [u.id]));
}
