/** What a redacted value is replaced with in captured output. */
export const REDACTED = "[redacted]";

/**
 * Pieces of a value shorter than this (after trimming) are not redacted: a
 * two-letter "secret" would blank out every occurrence of those letters in
 * every log, and is no secret anyway. `hsu secret set` warns about them.
 */
export const MIN_REDACTED_LENGTH = 4;

/**
 * Hides known secret values in captured output. A value is matched line by
 * line (output is split into lines before it is redacted, so a multi-line
 * value such as a PEM key is hidden one line at a time); each line of it of
 * at least {@link MIN_REDACTED_LENGTH} characters is replaced by `[redacted]`
 * wherever it appears. Longer values win over shorter ones they contain.
 */
export interface Redactor {
  /** Adds a value to hide (UTF-8 bytes or text); adding one twice changes nothing. */
  add(value: string | Uint8Array): void;
  /** `text` with every known value replaced by `[redacted]`. */
  redact(text: string): string;
  /**
   * Redacts one piece of a line cut because it was over-long: `carry` is
   * what the previous piece held back. Returns the text to write now and
   * what to hold back for the next piece (so a value cut in two by the cut
   * is still found whole); with `last`, nothing is held back.
   */
  redactPiece(carry: string, piece: string, last: boolean): { text: string; carry: string };
  /** How many distinct patterns are known (for tests and stats). */
  readonly size: number;
}

/** The line pieces of a value that are redacted. */
export function redactablePieces(value: string): string[] {
  return value
    .split("\n")
    .map((l) => (l.endsWith("\r") ? l.slice(0, -1) : l))
    .filter((l) => l.trim().length >= MIN_REDACTED_LENGTH);
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/** Creates a redactor that knows no value yet (and so returns every text as it is, at no cost). */
export function createRedactor(): Redactor {
  const patterns = new Set<string>();
  let re: RegExp | undefined;
  let longest = 0;
  const rebuild = () => {
    const sorted = [...patterns].sort((a, b) => b.length - a.length);
    longest = sorted[0]?.length ?? 0;
    re = sorted.length ? new RegExp(sorted.map(escape).join("|"), "g") : undefined;
  };
  const redact = (text: string): string => (re ? text.replace(re, REDACTED) : text);
  return {
    add(value) {
      const text = typeof value === "string" ? value : Buffer.from(value).toString("utf8");
      let added = false;
      for (const p of redactablePieces(text)) {
        if (patterns.has(p)) continue;
        patterns.add(p);
        added = true;
      }
      if (added) rebuild();
    },
    redact,
    redactPiece(carry, piece, last) {
      const all = carry + piece;
      if (!re) return { text: all, carry: "" };
      if (last) return { text: redact(all), carry: "" };
      // A match that starts before `cut` lies wholly inside `all` (no pattern is longer than `longest`).
      let cut = Math.max(0, all.length - (longest - 1));
      let out = "";
      let at = 0;
      for (const m of all.matchAll(re)) {
        if (m.index >= cut) break;
        out += all.slice(at, m.index) + REDACTED;
        at = m.index + m[0].length;
      }
      cut = Math.max(cut, at);
      return { text: out + all.slice(at, cut), carry: all.slice(cut) };
    },
    get size() {
      return patterns.size;
    },
  };
}
