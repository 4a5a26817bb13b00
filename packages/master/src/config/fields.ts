import { closest } from "@hsu/client";
import { isAlias, isMap, isScalar, isSeq, visit, type Document, type LineCounter, type Node, type Scalar, type YAMLMap } from "yaml";

/** One problem found in a spec: where (dotted path and line) and what. */
export interface SpecIssue {
  readonly path: string;
  readonly line: number;
  readonly column: number;
  readonly message: string;
}

/** A JSON Schema fragment. */
export type JsonSchema = Record<string, unknown>;

/** The most aliases one spec may expand: anchors are for reuse, not for "billion laughs" bombs. */
export const MAX_ALIAS_EXPANSIONS = 1000;

/** Collects issues while a spec is read; knows how to turn a node or a path into a line. */
export class ReadContext {
  readonly issues: SpecIssue[] = [];
  private readonly lines: LineCounter;
  private readonly doc: Document | undefined;
  private aliases = 0;

  constructor(lines: LineCounter, doc?: Document) {
    this.lines = lines;
    this.doc = doc;
  }

  /** The key node of each mapping entry read so far, by dotted path. */
  readonly keys = new Map<string, Node>();
  /** The value node (as written: an alias stays the alias) of each entry read so far, by dotted path. */
  readonly values = new Map<string, Node>();

  private anchors: Map<string, { at: number; node: Node }[]> | undefined;

  /** The node of the last anchor `name` before `offset`, from one walk of the document (not one per alias). */
  private anchor(name: string, offset: number): Node | undefined {
    if (!this.anchors) {
      this.anchors = new Map();
      if (this.doc) {
        visit(this.doc, (_, n) => {
          if ((isScalar(n) || isMap(n) || isSeq(n)) && n.anchor) {
            const list = this.anchors!.get(n.anchor) ?? [];
            list.push({ at: n.range?.[0] ?? 0, node: n as Node });
            this.anchors!.set(n.anchor, list);
          }
        });
      }
    }
    const found = (this.anchors.get(name) ?? []).filter((a) => a.at < offset);
    return found.at(-1)?.node;
  }

  /** The node an alias stands for (anchors resolved), within the expansion budget. */
  deref(node: Node | null | undefined, path: string): Node | null | undefined {
    if (!isAlias(node)) return node;
    if (++this.aliases > MAX_ALIAS_EXPANSIONS) {
      if (this.aliases === MAX_ALIAS_EXPANSIONS + 1) {
        this.issue(path, node, `more than ${MAX_ALIAS_EXPANSIONS} alias expansions: the file expands too much`, true);
        this.aliases++;
      }
      return undefined;
    }
    const target = this.anchor(node.source, node.range?.[0] ?? 0);
    if (!target) return this.issue(path, node, `the alias *${node.source} has no anchor &${node.source} before it`);
    return target as Node;
  }

  /**
   * Records an issue. A problem with a whole mapping or list is placed on
   * the line of the key that owns it (where a reader looks), not on its
   * first entry.
   */
  issue(path: string, node: Node | null | undefined, message: string, exact = false): undefined {
    // Past the alias budget, what the unexpanded aliases would say is noise: the budget issue says it all.
    if (this.aliases > MAX_ALIAS_EXPANSIONS + 1) return undefined;
    let at = node;
    if (!exact && (!node || isMap(node) || isSeq(node))) {
      at = this.keys.get(path) ?? this.keys.get(path.slice(0, Math.max(0, path.lastIndexOf(".")))) ?? node;
    }
    const offset = at?.range?.[0] ?? 0;
    const pos = this.lines.linePos(offset);
    this.issues.push({ path, line: pos.line, column: pos.col, message });
    return undefined;
  }

  /**
   * Records an issue found after reading (by a library check): placed on the
   * value written at `path`, or on the nearest enclosing key that was written.
   */
  issueAt(path: string, message: string): void {
    const value = this.values.get(path);
    if (value && !isMap(value) && !isSeq(value)) return void this.issue(path, value, message);
    for (let p = path; p; p = p.includes(".") ? p.slice(0, p.lastIndexOf(".")) : "") {
      const key = this.keys.get(p) ?? this.keys.get(p.replace(/\[\d+\]$/, ""));
      if (key) return void this.issue(path, key, message);
    }
    this.issue(path, undefined, message);
  }
}

/** One mapping entry as read: its key as a string, and where key and value are. */
interface Entry {
  readonly key: string;
  readonly keyNode: Node;
  readonly value: Node | null | undefined;
}

function describeKey(node: Node | null | undefined): string {
  if (isScalar(node)) return node.value === null ? "null (~ or an empty key)" : `${typeof node.value} ${JSON.stringify(node.value)}`;
  if (isMap(node)) return "a mapping";
  if (isSeq(node)) return "a list";
  return "nothing";
}

/**
 * The entries of a mapping: every key a plain string, no key twice, merge
 * keys (`<<: *base`) expanded under the keys written beside them.
 */
function entries(node: YAMLMap, ctx: ReadContext, path: string, depth = 0): Entry[] {
  const own: Entry[] = [];
  const merged: Entry[] = [];
  const seen = new Set<string>();
  for (const pair of node.items) {
    const keyNode = pair.key as Node;
    const key = ctx.deref(keyNode, path);
    if (isScalar(key) && key.value === "<<" && (key as Scalar).type === "PLAIN") {
      const sources = ctx.deref(pair.value as Node, path);
      const list = isSeq(sources) ? sources.items.map((n) => ctx.deref(n as Node, path)) : [sources];
      for (const src of list) {
        if (isMap(src) && depth < 8) merged.push(...entries(src, ctx, path, depth + 1));
        else ctx.issue(path, keyNode, "a merge key (<<) takes an alias of a mapping, or a list of them");
      }
      continue;
    }
    const childPath = (k: string) => (path ? `${path}.${k}` : k);
    if (!isScalar(key) || typeof key.value !== "string") {
      const shown = isScalar(key) && key.value !== null && typeof key.value !== "object" ? ` (write it in quotes: "${String(key.value)}")` : "";
      ctx.issue(childPath(isScalar(key) ? String(key.value) : "?"), keyNode, `a key must be a plain string, got ${describeKey(key)}${shown}`, true);
      continue;
    }
    const k = key.value;
    if (seen.has(k)) {
      ctx.issue(childPath(k), keyNode, `the key "${k}" appears twice in this mapping`);
      continue;
    }
    seen.add(k);
    own.push({ key: k, keyNode, value: pair.value as Node | null | undefined });
  }
  for (const m of merged) if (!seen.has(m.key)) (seen.add(m.key), own.push(m));
  return own;
}

/**
 * A field of the spec, described once: it reads a YAML node (collecting every
 * issue with its path and line) and describes itself as JSON Schema, so the
 * validator and the published schema can never disagree.
 */
export interface Field<T> {
  read(node: Node | null | undefined, ctx: ReadContext, path: string): T | undefined;
  schema(): JsonSchema;
}

/** Makes a field see through aliases: every read starts from the node an alias stands for. */
function field<T>(f: Field<T>): Field<T> {
  return { read: (node, ctx, path) => f.read(ctx.deref(node, path), ctx, path), schema: f.schema };
}

function show(node: Node | null | undefined): string {
  if (isScalar(node)) return JSON.stringify(node.value);
  if (isMap(node)) return "a mapping";
  if (isSeq(node)) return "a list";
  return "nothing";
}

function scalar(node: Node | null | undefined): unknown {
  return isScalar(node) ? node.value : undefined;
}

/** A string, optionally matching a pattern. */
export function str(opts: { pattern?: RegExp; hint?: string; description?: string } = {}): Field<string> {
  return field({
    read(node, ctx, path) {
      const v = scalar(node);
      if (typeof v !== "string" && typeof v !== "number") return ctx.issue(path, node, `expected a string, got ${show(node)}`);
      const s = String(v);
      if (s.includes("\0")) return ctx.issue(path, node, "contains a NUL byte");
      if (opts.pattern && !opts.pattern.test(s)) return ctx.issue(path, node, `expected ${opts.hint ?? `a string matching ${opts.pattern}`}, got ${JSON.stringify(s)}`);
      return s;
    },
    schema: () => ({ type: "string", ...(opts.pattern ? { pattern: opts.pattern.source } : {}), ...(opts.description ? { description: opts.description } : {}) }),
  });
}

/** A number within bounds (integers only when `integer`). */
export function num(opts: { min?: number; max?: number; integer?: boolean; description?: string } = {}): Field<number> {
  return field({
    read(node, ctx, path) {
      const v = scalar(node);
      const what = opts.integer ? "a whole number" : "a number";
      if (typeof v !== "number" || !Number.isFinite(v)) return ctx.issue(path, node, `expected ${what}, got ${show(node)}`);
      if (opts.integer && !Number.isInteger(v)) return ctx.issue(path, node, `expected ${what}, got ${v}`);
      if (opts.min !== undefined && v < opts.min) return ctx.issue(path, node, `must be at least ${opts.min}, got ${v}`);
      if (opts.max !== undefined && v > opts.max) return ctx.issue(path, node, `must be at most ${opts.max}, got ${v}`);
      return v;
    },
    schema: () => ({
      type: opts.integer ? "integer" : "number",
      ...(opts.min !== undefined ? { minimum: opts.min } : {}),
      ...(opts.max !== undefined ? { maximum: opts.max } : {}),
      ...(opts.description ? { description: opts.description } : {}),
    }),
  });
}

/** true or false. */
export function bool(description?: string): Field<boolean> {
  return field({
    read(node, ctx, path) {
      const v = scalar(node);
      if (typeof v !== "boolean") return ctx.issue(path, node, `expected true or false, got ${show(node)}`);
      return v;
    },
    schema: () => ({ type: "boolean", ...(description ? { description } : {}) }),
  });
}

/** One of a fixed set of strings. */
export function oneOf<const T extends string>(values: readonly T[], description?: string): Field<T> {
  return field({
    read(node, ctx, path) {
      const v = scalar(node);
      if (typeof v !== "string" || !values.includes(v as T)) {
        return ctx.issue(path, node, `expected one of ${values.map((x) => `"${x}"`).join(", ")}, got ${show(node)}`);
      }
      return v as T;
    },
    schema: () => ({ enum: [...values], ...(description ? { description } : {}) }),
  });
}

const DURATION = /^(\d+(?:\.\d+)?(?:ms|s|m|h|d))+$/;
const DURATION_PART = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/g;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Parses "1m30s", "500ms", "2h"; undefined when not a duration. */
export function parseDuration(text: string): number | undefined {
  if (!DURATION.test(text)) return undefined;
  let ms = 0;
  for (const m of text.matchAll(DURATION_PART)) ms += Number(m[1]) * UNIT_MS[m[2]!]!;
  return Math.round(ms);
}

/** The longest duration a timer can wait (about 24.8 days); a longer one would fire at once. */
export const MAX_DURATION_MS = 2 ** 31 - 1;

/** A duration like "30s", "1m30s" or "250ms", read as milliseconds; `positive` rejects "0s". */
export function duration(description?: string, opts: { positive?: boolean } = {}): Field<number> {
  return field({
    read(node, ctx, path) {
      const v = scalar(node);
      const ms = typeof v === "string" ? parseDuration(v) : undefined;
      if (ms === undefined) return ctx.issue(path, node, `expected a duration like "10s", got ${show(node)}`);
      if (ms > MAX_DURATION_MS) return ctx.issue(path, node, `${v} is too long: at most 24d`);
      if (opts.positive && ms <= 0) return ctx.issue(path, node, `must be longer than 0, got ${JSON.stringify(v)}`);
      return ms;
    },
    schema: () => ({ type: "string", pattern: DURATION.source, examples: ["500ms", "10s", "1m30s"], ...(description ? { description } : {}) }),
  });
}

const SIZE = /^(\d+(?:\.\d+)?)\s*(B|KiB|MiB|GiB|TiB|KB|MB|GB|TB|K|M|G|T)?$/;
const SIZE_FACTOR: Record<string, number> = {
  B: 1, K: 1024, KiB: 1024, M: 1024 ** 2, MiB: 1024 ** 2, G: 1024 ** 3, GiB: 1024 ** 3, T: 1024 ** 4, TiB: 1024 ** 4,
  KB: 1000, MB: 1000 ** 2, GB: 1000 ** 3, TB: 1000 ** 4,
};

/** Parses "512MiB", "1G", "100MB" or a plain number of bytes. */
export function parseSize(value: unknown): number | undefined {
  if (typeof value === "number" && Number.isInteger(value) && value >= 0) return value;
  if (typeof value !== "string") return undefined;
  const m = SIZE.exec(value.trim());
  if (!m) return undefined;
  return Math.round(Number(m[1]) * SIZE_FACTOR[m[2] ?? "B"]!);
}

/** A size like "512MiB" or "1G" (powers of 1024; KB/MB/GB are powers of 1000), read as bytes. */
export function size(description?: string, opts: { min?: number } = {}): Field<number> {
  const min = opts.min ?? 0;
  return field({
    read(node, ctx, path) {
      const bytes = parseSize(scalar(node));
      if (bytes === undefined) return ctx.issue(path, node, `expected a size like "512MiB", got ${show(node)}`);
      if (bytes > Number.MAX_SAFE_INTEGER) return ctx.issue(path, node, `${show(node)} is too large`);
      if (bytes < min) return ctx.issue(path, node, `must be at least ${min} bytes, got ${show(node)}`);
      return bytes;
    },
    schema: () => ({
      anyOf: [{ type: "integer", minimum: min }, { type: "string", pattern: SIZE.source }],
      examples: ["64MiB", "1GiB"],
      ...(description ? { description } : {}),
    }),
  });
}

/** A list of one kind of item. A single item is not accepted as a list. */
export function list<T>(item: Field<T>, description?: string): Field<T[]> {
  return field({
    read(node, ctx, path) {
      if (!isSeq(node)) return ctx.issue(path, node, `expected a list, got ${show(node)}`);
      const out: T[] = [];
      node.items.forEach((child, i) => {
        ctx.values.set(`${path}[${i}]`, child as Node);
        const v = item.read(child as Node, ctx, `${path}[${i}]`);
        if (v !== undefined) out.push(v);
      });
      return out;
    },
    schema: () => ({ type: "array", items: item.schema(), ...(description ? { description } : {}) }),
  });
}

/** A mapping from names (matching `key`) to one kind of value. */
export function record<T>(value: Field<T>, key?: { pattern: RegExp; hint: string }, description?: string): Field<Record<string, T>> {
  return field({
    read(node, ctx, path) {
      if (!isMap(node)) return ctx.issue(path, node, `expected a mapping, got ${show(node)}`);
      const out: Record<string, T> = {};
      for (const { key: k, keyNode, value: valueNode } of entries(node, ctx, path)) {
        const childPath = path ? `${path}.${k}` : k;
        ctx.keys.set(childPath, keyNode);
        if (valueNode) ctx.values.set(childPath, valueNode);
        if (key && !key.pattern.test(k)) {
          ctx.issue(childPath, keyNode, `the name ${JSON.stringify(k)} is not valid: expected ${key.hint}`);
          continue;
        }
        const v = value.read(valueNode, ctx, childPath);
        if (v !== undefined) Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
      }
      return out;
    },
    schema: () => ({
      type: "object",
      additionalProperties: value.schema(),
      ...(key ? { propertyNames: { pattern: key.pattern.source } } : {}),
      ...(description ? { description } : {}),
    }),
  });
}

type Props = Record<string, Field<unknown>>;
type Out<P extends Props> = { [K in keyof P]?: P[K] extends Field<infer T> ? T : never };

/** A mapping with known keys; unknown keys and missing required keys are issues. */
export function obj<P extends Props>(props: P, opts: { required?: (keyof P & string)[]; description?: string; extensions?: boolean } = {}): Field<Out<P>> {
  return field({
    read(node, ctx, path) {
      if (!isMap(node)) return ctx.issue(path, node, `expected a mapping, got ${show(node)}`);
      const out: Record<string, unknown> = {};
      const seen = new Set<string>();
      for (const { key: k, keyNode, value: valueNode } of entries(node, ctx, path)) {
        const childPath = path ? `${path}.${k}` : k;
        ctx.keys.set(childPath, keyNode);
        if (valueNode) ctx.values.set(childPath, valueNode);
        seen.add(k);
        // "x-" keys hold anchors to reuse elsewhere (as in docker compose); they are not part of the spec.
        if (opts.extensions && k.startsWith("x-")) continue;
        const f = Object.hasOwn(props, k) ? props[k] : undefined;
        if (!f) {
          const near = closest(k, Object.keys(props));
          ctx.issue(childPath, keyNode, `unknown field "${k}"${near ? ` - did you mean "${near}"?` : `; expected one of: ${Object.keys(props).join(", ")}`}`);
          continue;
        }
        const v = f.read(valueNode, ctx, childPath);
        if (v !== undefined) out[k] = v;
      }
      for (const r of opts.required ?? []) {
        if (!seen.has(r)) ctx.issue(path ? `${path}.${r}` : r, node, `"${r}" is required`);
      }
      return out as Out<P>;
    },
    schema: () => ({
      type: "object",
      additionalProperties: false,
      properties: Object.fromEntries(Object.entries(props).map(([k, f]) => [k, f.schema()])),
      ...(opts.extensions ? { patternProperties: { "^x-": { description: "Free for anchors (&name) to reuse with aliases (*name); not read." } } } : {}),
      ...(opts.required?.length ? { required: opts.required } : {}),
      ...(opts.description ? { description: opts.description } : {}),
    }),
  });
}

/** Either of two shapes, told apart by the node: a scalar/list reads with `a`, a mapping with `b`. */
export function either<A, B>(a: Field<A>, b: Field<B>, isB: (node: Node | null | undefined) => boolean): Field<A | B> {
  return field({
    read: (node, ctx, path) => (isB(node) ? b.read(node, ctx, path) : a.read(node, ctx, path)),
    schema: () => ({ anyOf: [a.schema(), b.schema()] }),
  });
}

export { isMap, isScalar, isSeq };
