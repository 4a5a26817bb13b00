// Colour on a terminal: the one place that decides whether to colour and how. Kept apart from the
// table and state formatting so that `hsu --help` and a usage error load nothing else.

/** Whether to colour output: a terminal, and NO_COLOR unset (FORCE_COLOR wins). */
export function useColor(stream: NodeJS.WriteStream = process.stdout): boolean {
  if (process.env.FORCE_COLOR && process.env.FORCE_COLOR !== "0") return true;
  return !!stream.isTTY && !process.env.NO_COLOR;
}

const codes = {
  red: 31,
  green: 32,
  yellow: 33,
  blue: 34,
  magenta: 35,
  cyan: 36,
  gray: 90,
  brightGreen: 92,
  brightYellow: 93,
  brightBlue: 94,
  brightMagenta: 95,
  brightCyan: 96,
  bold: 1,
  dim: 2,
} as const;
/** A colour name for {@link paint}. */
export type Color = keyof typeof codes;

/** Wraps text in an ANSI colour when `on`. */
export function paint(text: string, color: Color, on: boolean): string {
  return on ? `\x1b[${codes[color]}m${text}\x1b[0m` : text;
}
