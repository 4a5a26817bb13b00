/** Receives each line (or piece of an over-long line) the splitter finds. */
export type LineHandler = (text: string, partial: boolean) => void;

/** Incremental `\n` splitter over raw byte chunks; see {@link createLineSplitter}. */
export interface LineSplitter {
  /** Feeds the next chunk; complete lines are handed to the handler at once. */
  push(chunk: Buffer): void;
  /** Emits what is left (a last line without newline); call once when the source ends. */
  end(): void;
  /**
   * Source bytes handed to the handler so far: up to and including the `\n`
   * of the last whole line, plus the bytes of over-long-line pieces already
   * emitted. Bytes of a line still being collected are not counted.
   */
  readonly emitted: number;
}

const LF = 0x0a;
const CR = 0x0d;

/**
 * Cuts at or below `limit` so the piece does not end inside a UTF-8
 * sequence; falls back to `limit` for bytes that are not UTF-8 at all.
 */
export function utf8Cut(buf: Buffer, limit: number): number {
  let cut = limit;
  // Back off while the first byte of the next piece is a continuation byte (10xxxxxx).
  while (cut > 0 && limit - cut < 4 && ((buf[cut] ?? 0) & 0xc0) === 0x80) cut--;
  return cut === 0 || limit - cut >= 4 ? limit : cut;
}

/**
 * Splits a byte stream into lines on `\n`, dropping one trailing `\r` (CRLF
 * output), working on bytes so multi-byte characters split across chunks
 * decode whole. A line over `maxLineBytes` is emitted in pieces marked
 * `partial` (the last piece is not), cut on UTF-8 character boundaries, so
 * nothing is dropped and memory stays bounded by `maxLineBytes`.
 */
export function createLineSplitter(maxLineBytes: number, onLine: LineHandler): LineSplitter {
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let emitted = 0;

  const takePending = (tail: Buffer): Buffer => {
    if (pending.length === 0) return tail;
    const joined = Buffer.concat([...pending, tail], pendingBytes + tail.length);
    pending = [];
    pendingBytes = 0;
    return joined;
  };

  const emitLine = (raw: Buffer, newline: boolean): void => {
    emitted += raw.length + (newline ? 1 : 0);
    let line = raw.length > 0 && raw[raw.length - 1] === CR ? raw.subarray(0, raw.length - 1) : raw;
    while (line.length > maxLineBytes) {
      const cut = utf8Cut(line, maxLineBytes);
      onLine(line.toString("utf8", 0, cut), true);
      line = line.subarray(cut);
    }
    onLine(line.toString("utf8"), false);
  };

  const keep = (rest: Buffer): void => {
    if (rest.length === 0) return;
    pending.push(rest);
    pendingBytes += rest.length;
    if (pendingBytes <= maxLineBytes) return;
    let joined = takePending(Buffer.alloc(0));
    while (joined.length > maxLineBytes) {
      const cut = utf8Cut(joined, maxLineBytes);
      emitted += cut;
      onLine(joined.toString("utf8", 0, cut), true);
      joined = joined.subarray(cut);
    }
    if (joined.length > 0) {
      pending = [joined];
      pendingBytes = joined.length;
    }
  };

  return {
    push(chunk) {
      let start = 0;
      for (;;) {
        const nl = chunk.indexOf(LF, start);
        if (nl === -1) {
          keep(chunk.subarray(start));
          return;
        }
        emitLine(takePending(chunk.subarray(start, nl)), true);
        start = nl + 1;
      }
    },
    end() {
      if (pendingBytes > 0) emitLine(takePending(Buffer.alloc(0)), false);
    },
    get emitted() {
      return emitted;
    },
  };
}
