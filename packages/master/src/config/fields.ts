import { isMap, isScalar, isSeq, type LineCounter, type Node } from "yaml";

/** One problem found in a spec: where (dotted path and line) and what. */
export interface SpecIssue {
  readonly path: string;
  readonly line: number;
  readonly column: number;
  readonly message: string;
}

/** A JSON Schema fragment. */
export type JsonSchema = Record<string, unknown>;

/** Collects issues while a spec is read; knows how to turn a node into a line. */
export class ReadContext {
  readonly issues: SpecIssue[] = [];
  private readonly lines: LineCounter;

  constructor(lines: LineCounter) {
    this.lines = lines;
  }

  /** The key node of each mapping entry read so far, by dotted path. */
  readonly keys = new Map<string, Node>();

  /**
   * Records an issue. A problem with a whole mapping or list is placed on
   * the line of the key that owns it (where a reader looks), not on its
   * first entry.
   */
  issue(path: string, node: Node | null | undefined, message: string): undefined {
    let at = node;
    if (!node || isMap(node) || isSeq(node)) {
      at = this.keys.get(path) ?? this.keys.get(path.slice(0, Math.max(0, path.lastIndexOf(".")))) ?? node;
    }
    const offset = at?.range?.[0] ?? 0;
    const pos = this.lines.linePos(offset);
    this.issues.push({ path, line: pos.line, column: pos.col, message });
    return undefined;
  }
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
  return {
    read(node, ctx, path) {
      const v = scalar(node);
      if (typeof v !== "string" && typeof v !== "number") return ctx.issue(path, node, `expected a string, got ${show(node)}`);
      const s = String(v);
      if (opts.pattern && !opts.pattern.test(s)) return ctx.issue(path, node, `expected ${opts.hint ?? `a string matching ${opts.pattern}`}, got ${JSON.stringify(s)}`);
      return s;
    },
    schema: () => ({ type: "string", ...(opts.pattern ? { pattern: opts.pattern.source } : {}), ...(opts.description ? { description: opts.description } : {}) }),
  };
}

/** A number within bounds (integers only when `integer`). */
export function num(opts: { min?: number; max?: number; integer?: boolean; description?: string } = {}): Field<number> {
  return {
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
  };
}

/** true or false. */
export function bool(description?: string): Field<boolean> {
  return {
    read(node, ctx, path) {
      const v = scalar(node);
      if (typeof v !== "boolean") return ctx.issue(path, node, `expected true or false, got ${show(node)}`);
      return v;
    },
    schema: () => ({ type: "boolean", ...(description ? { description } : {}) }),
  };
}

/** One of a fixed set of strings. */
export function oneOf<const T extends string>(values: readonly T[], description?: string): Field<T> {
  return {
    read(node, ctx, path) {
      const v = scalar(node);
      if (typeof v !== "string" || !values.includes(v as T)) {
        return ctx.issue(path, node, `expected one of ${values.map((x) => `"${x}"`).join(", ")}, got ${show(node)}`);
      }
      return v as T;
    },
    schema: () => ({ enum: [...values], ...(description ? { description } : {}) }),
  };
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

/** A duration like "30s", "1m30s" or "250ms", read as milliseconds. */
export function duration(description?: string): Field<number> {
  return {
    read(node, ctx, path) {
      const v = scalar(node);
      const ms = typeof v === "string" ? parseDuration(v) : undefined;
      if (ms === undefined) return ctx.issue(path, node, `expected a duration like "10s", got ${show(node)}`);
      return ms;
    },
    schema: () => ({ type: "string", pattern: DURATION.source, examples: ["500ms", "10s", "1m30s"], ...(description ? { description } : {}) }),
  };
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
export function size(description?: string): Field<number> {
  return {
    read(node, ctx, path) {
      const bytes = parseSize(scalar(node));
      if (bytes === undefined) return ctx.issue(path, node, `expected a size like "512MiB", got ${show(node)}`);
      return bytes;
    },
    schema: () => ({
      anyOf: [{ type: "integer", minimum: 0 }, { type: "string", pattern: SIZE.source }],
      examples: ["64MiB", "1GiB"],
      ...(description ? { description } : {}),
    }),
  };
}

/** A list of one kind of item. A single item is not accepted as a list. */
export function list<T>(item: Field<T>, description?: string): Field<T[]> {
  return {
    read(node, ctx, path) {
      if (!isSeq(node)) return ctx.issue(path, node, `expected a list, got ${show(node)}`);
      const out: T[] = [];
      node.items.forEach((child, i) => {
        const v = item.read(child as Node, ctx, `${path}[${i}]`);
        if (v !== undefined) out.push(v);
      });
      return out;
    },
    schema: () => ({ type: "array", items: item.schema(), ...(description ? { description } : {}) }),
  };
}

/** A mapping from names (matching `key`) to one kind of value. */
export function record<T>(value: Field<T>, key?: { pattern: RegExp; hint: string }, description?: string): Field<Record<string, T>> {
  return {
    read(node, ctx, path) {
      if (!isMap(node)) return ctx.issue(path, node, `expected a mapping, got ${show(node)}`);
      const out: Record<string, T> = {};
      for (const pair of node.items) {
        const k = String(scalar(pair.key as Node));
        const childPath = path ? `${path}.${k}` : k;
        ctx.keys.set(childPath, pair.key as Node);
        if (key && !key.pattern.test(k)) {
          ctx.issue(childPath, pair.key as Node, `the name "${k}" is not valid: expected ${key.hint}`);
          continue;
        }
        const v = value.read(pair.value as Node, ctx, childPath);
        if (v !== undefined) out[k] = v;
      }
      return out;
    },
    schema: () => ({
      type: "object",
      additionalProperties: value.schema(),
      ...(key ? { propertyNames: { pattern: key.pattern.source } } : {}),
      ...(description ? { description } : {}),
    }),
  };
}

type Props = Record<string, Field<unknown>>;
type Out<P extends Props> = { [K in keyof P]?: P[K] extends Field<infer T> ? T : never };

/** A mapping with known keys; unknown keys and missing required keys are issues. */
export function obj<P extends Props>(props: P, opts: { required?: (keyof P & string)[]; description?: string } = {}): Field<Out<P>> {
  return {
    read(node, ctx, path) {
      if (!isMap(node)) return ctx.issue(path, node, `expected a mapping, got ${show(node)}`);
      const out: Record<string, unknown> = {};
      const seen = new Set<string>();
      for (const pair of node.items) {
        const k = String(scalar(pair.key as Node));
        const childPath = path ? `${path}.${k}` : k;
        ctx.keys.set(childPath, pair.key as Node);
        seen.add(k);
        const field = props[k];
        if (!field) {
          ctx.issue(childPath, pair.key as Node, `unknown field "${k}"; expected one of: ${Object.keys(props).join(", ")}`);
          continue;
        }
        const v = field.read(pair.value as Node, ctx, childPath);
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
      ...(opts.required?.length ? { required: opts.required } : {}),
      ...(opts.description ? { description: opts.description } : {}),
    }),
  };
}

/** Either of two shapes, told apart by the node: a scalar/list reads with `a`, a mapping with `b`. */
export function either<A, B>(a: Field<A>, b: Field<B>, isB: (node: Node | null | undefined) => boolean): Field<A | B> {
  return {
    read: (node, ctx, path) => (isB(node) ? b.read(node, ctx, path) : a.read(node, ctx, path)),
    schema: () => ({ anyOf: [a.schema(), b.schema()] }),
  };
}

export { isMap, isScalar, isSeq };
