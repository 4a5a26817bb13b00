import { describe, expect, it } from "vitest";
import { createLineSplitter, utf8Cut } from "./line-splitter.ts";

function split(chunks: (string | Buffer)[], max = 64 * 1024): [string, boolean][] {
  const out: [string, boolean][] = [];
  const s = createLineSplitter(max, (text, partial) => out.push([text, partial]));
  for (const c of chunks) s.push(typeof c === "string" ? Buffer.from(c) : c);
  s.end();
  return out;
}

describe("line splitter", () => {
  it("splits across chunks and emits the last line without newline at the end", () => {
    expect(split(["a\nb", "c\n", "d"])).toEqual([["a", false], ["bc", false], ["d", false]]);
  });

  it("strips one trailing CR, also when CR and LF arrive in different chunks", () => {
    expect(split(["a\r\nb\r", "\nc\r\r\n"])).toEqual([["a", false], ["b", false], ["c\r", false]]);
  });

  it("keeps empty lines", () => {
    expect(split(["\n\nx\n"])).toEqual([["", false], ["", false], ["x", false]]);
  });

  it("decodes multi-byte characters split across chunks whole", () => {
    const bytes = Buffer.from("é€😀\n");
    const chunks = [...bytes].map((b) => Buffer.from([b]));
    expect(split(chunks)).toEqual([["é€😀", false]]);
  });

  it("cuts long lines into partial pieces on character boundaries, in one chunk or many", () => {
    const line = "€".repeat(10); // 30 bytes
    for (const chunks of [[line + "\n"], [...Buffer.from(line + "\n")].map((b) => Buffer.from([b]))]) {
      const pieces = split(chunks, 8);
      expect(pieces.map((p) => p[0]).join("")).toBe(line);
      expect(pieces.every((p) => Buffer.byteLength(p[0]) <= 8 && !p[0].includes("\uFFFD"))).toBe(true);
      expect(pieces.map((p) => p[1])).toEqual([...pieces.slice(0, -1).map(() => true), false]);
    }
  });

  it("never backs off more than one character when cutting", () => {
    const buf = Buffer.from("ab😀");
    expect(utf8Cut(buf, 3)).toBe(2);
    expect(utf8Cut(Buffer.from([0x80, 0x80, 0x80, 0x80, 0x80, 0x80]), 5)).toBe(5);
  });
});
