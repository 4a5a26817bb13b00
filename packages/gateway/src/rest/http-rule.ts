import { RestError } from "./errors.ts";

/**
 * google.api.http path templates: parsing and matching.
 *
 *     Template = "/" Segments [ Verb ] ;
 *     Segments = Segment { "/" Segment } ;
 *     Segment  = "*" | "**" | LITERAL | Variable ;
 *     Variable = "{" FieldPath [ "=" Segments ] "}" ;
 *     FieldPath = IDENT { "." IDENT } ;
 *     Verb     = ":" LITERAL ;
 */

/** One segment of a parsed template: a literal, `*` (one segment) or `**` (the rest, zero or more). */
export type TemplateSegment =
  | { readonly kind: "literal"; readonly value: string }
  | { readonly kind: "wildcard" }
  | { readonly kind: "deep" };

/** A `{field.path=...}` variable: the template segments [start, end) it captures. */
export interface TemplateVariable {
  readonly fieldPath: readonly string[];
  readonly start: number;
  readonly end: number;
  /** Captures more than one segment (or `**`): the value keeps `/` between segments. */
  readonly multi: boolean;
}

/** A parsed path template. */
export interface PathTemplate {
  readonly source: string;
  readonly segments: readonly TemplateSegment[];
  readonly variables: readonly TemplateVariable[];
  readonly verb: string | undefined;
}

/** A template that cannot be parsed; `where` names the method and the template. */
export class TemplateError extends Error {
  override readonly name = "TemplateError";
}

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;
// RFC 3986 pchar without ":" (it starts the verb), "{", "}" and "*" (template syntax).
const LITERAL = /^(?:[A-Za-z0-9\-._~!$&'()+,;=@]|%[0-9A-Fa-f]{2})+$/;

/**
 * Parses a path template. `where` names the method it belongs to, for the message
 * (`hsu.test.v1.Shelf.GetBook`).
 */
export function parseTemplate(source: string, where: string): PathTemplate {
  const fail = (why: string): never => {
    throw new TemplateError(`${where}: path template "${source}": ${why}`);
  };
  if (!source.startsWith("/")) fail('it must start with "/"');
  const { body, verb } = splitVerb(source, fail);
  if (verb !== undefined && !LITERAL.test(verb)) fail(`the verb ":${verb}" is not a literal`);
  const segments: TemplateSegment[] = [];
  const variables: TemplateVariable[] = [];
  const seen = new Set<string>();
  for (const part of splitTop(body.slice(1), fail)) {
    if (part.startsWith("{")) {
      if (!part.endsWith("}")) fail(`the variable "${part}" is not closed by "}"`);
      const inner = part.slice(1, -1);
      const eq = inner.indexOf("=");
      const path = eq < 0 ? inner : inner.slice(0, eq);
      const fieldPath = path.split(".");
      if (!fieldPath.every((p) => IDENT.test(p))) fail(`"${path}" is not a field path (identifiers joined by ".")`);
      if (seen.has(path)) fail(`the field "${path}" is bound twice`);
      seen.add(path);
      const sub = eq < 0 ? ["*"] : inner.slice(eq + 1).split("/");
      const start = segments.length;
      for (const s of sub) {
        if (s.includes("{") || s.includes("}")) fail(`the variable "${path}" contains another variable`);
        segments.push(plainSegment(s, fail));
      }
      const multi = sub.length > 1 || sub.includes("**");
      variables.push({ fieldPath, start, end: segments.length, multi });
    } else {
      if (part.includes("{") || part.includes("}")) fail(`"${part}": a variable must be a whole segment`);
      segments.push(plainSegment(part, fail));
    }
  }
  const deep = segments.findIndex((s) => s.kind === "deep");
  if (deep >= 0 && deep !== segments.length - 1) fail(`"**" must be the last segment`);
  return { source, segments, variables, verb };
}

function plainSegment(s: string, fail: (why: string) => never): TemplateSegment {
  if (s === "*") return { kind: "wildcard" };
  if (s === "**") return { kind: "deep" };
  if (s === "") fail("it has an empty segment");
  if (s === "." || s === "..") fail(`the segment "${s}" is not allowed`);
  if (!LITERAL.test(s)) fail(`the segment "${s}" is not a literal, "*", "**" or a variable`);
  return { kind: "literal", value: decodeLiteral(s) };
}

function decodeLiteral(s: string): string {
  return s.includes("%") ? decodeURIComponent(s) : s;
}

/** Splits off `:verb` (a colon after the last "/" outside any variable). */
function splitVerb(source: string, fail: (why: string) => never): { body: string; verb: string | undefined } {
  let depth = 0;
  let colon = -1;
  for (let i = 0; i < source.length; i++) {
    const c = source[i];
    if (c === "{") depth++;
    else if (c === "}") depth--;
    else if (c === "/" && depth === 0) colon = -1;
    else if (c === ":" && depth === 0 && colon < 0) colon = i;
    if (depth < 0 || depth > 1) fail(depth < 0 ? 'unbalanced "}"' : "a variable contains another variable");
  }
  if (depth !== 0) fail('unbalanced "{"');
  if (colon < 0) return { body: source, verb: undefined };
  return { body: source.slice(0, colon), verb: source.slice(colon + 1) };
}

/** Splits on "/" outside braces. */
function splitTop(s: string, fail: (why: string) => never): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = "";
  for (const c of s) {
    if (c === "{") depth++;
    if (c === "}") depth--;
    if (c === "/" && depth === 0) {
      out.push(cur);
      cur = "";
    } else cur += c;
  }
  out.push(cur);
  if (out.length === 1 && out[0] === "") fail("it has no segments");
  return out;
}

/** The longest request path (before the query) the gateway looks at. */
export const MAX_PATH_LENGTH = 8192;
/** The most segments a request path may have. */
export const MAX_SEGMENTS = 256;

/** A request path split into decoded segments, ready to match against many templates. */
export interface RequestPath {
  /** Decoded segments (`%2F` decoded to "/"). */
  readonly segments: readonly string[];
  /** Raw (still percent-encoded) segments, for multi-segment variables. */
  readonly raw: readonly string[];
}

/**
 * Splits and percent-decodes a request path (without its query). Refuses, with
 * a 400 RestError, what no template should ever see: malformed escapes, NUL,
 * empty, "." and ".." segments (traversal attempts), and over-long paths (414).
 */
export function splitRequestPath(path: string): RequestPath {
  if (path.length > MAX_PATH_LENGTH) throw RestError.http(414, 3, `the request path is longer than ${MAX_PATH_LENGTH} characters`);
  if (!path.startsWith("/")) throw RestError.http(400, 3, `the request path "${clip(path)}" does not start with "/"`);
  const raw = path.slice(1).split("/");
  if (raw.length > MAX_SEGMENTS) throw RestError.http(414, 3, `the request path has more than ${MAX_SEGMENTS} segments`);
  const segments = raw.map((s, i) => {
    let d: string;
    try {
      d = decodeURIComponent(s);
    } catch {
      throw RestError.http(400, 3, `the request path segment ${i + 1} "${clip(s)}" has a malformed percent-escape`);
    }
    if (d === "") throw RestError.http(400, 3, `the request path "${clip(path)}" has an empty segment`);
    if (d === "." || d === "..") throw RestError.http(400, 3, `the request path "${clip(path)}" has a "${d}" segment`);
    if (d.includes("\0")) throw RestError.http(400, 3, `the request path segment ${i + 1} contains a NUL character`);
    return d;
  });
  return { segments, raw };
}

function clip(s: string): string {
  return s.length > 120 ? `${s.slice(0, 120)}...` : s;
}

/** The values a template's variables captured, by field path ("a.b.c"). */
export type PathParams = ReadonlyMap<string, string>;

/** Matches a split request path against a template: the variables' values, or undefined. */
export function matchTemplate(t: PathTemplate, path: RequestPath): PathParams | undefined {
  let segs = path.segments;
  let raw = path.raw;
  if (t.verb !== undefined) {
    const last = segs[segs.length - 1];
    const lastRaw = raw[raw.length - 1] ?? "";
    const suffix = `:${t.verb}`;
    // The verb's colon must be a real one: "%3A" is data.
    if (last === undefined || !last.endsWith(suffix) || !lastRaw.endsWith(suffix)) return undefined;
    segs = [...segs.slice(0, -1), last.slice(0, -suffix.length)];
    raw = [...raw.slice(0, -1), lastRaw.slice(0, -suffix.length)];
    if (segs[segs.length - 1] === "") {
      // "/v1/books:verb" where the template's last segment is "**" matching nothing.
      segs = segs.slice(0, -1);
      raw = raw.slice(0, -1);
    }
  }
  const n = t.segments.length;
  const deep = n > 0 && t.segments[n - 1]!.kind === "deep";
  if (deep ? segs.length < n - 1 : segs.length !== n) return undefined;
  for (let i = 0; i < n; i++) {
    const ts = t.segments[i]!;
    if (ts.kind === "literal" && segs[i] !== ts.value) return undefined;
  }
  const params = new Map<string, string>();
  for (const v of t.variables) {
    const end = v.end === n && deep ? segs.length : v.end;
    const value = v.multi
      ? raw.slice(v.start, end).map(decodeKeepSlash).join("/")
      : segs[v.start]!;
    params.set(v.fieldPath.join("."), value);
  }
  return params;
}

/** Decodes a segment of a multi-segment variable but keeps an encoded "/" as "%2F" (reserved expansion). */
function decodeKeepSlash(s: string): string {
  return s
    .split(/%2F/i)
    .map((p) => decodeURIComponent(p))
    .join("%2F");
}

/**
 * The shape of a template, variables' names left out: two templates with the
 * same shape (and verb) match the same paths, so they conflict.
 */
export function templateShape(t: PathTemplate): string {
  const segs = t.segments.map((s) => (s.kind === "literal" ? `=${s.value}` : s.kind === "wildcard" ? "*" : "**"));
  return `/${segs.join("/")}${t.verb === undefined ? "" : `:${t.verb}`}`;
}

/**
 * Orders templates so the most specific wins: literals before `*` before `**`,
 * segment by segment; then more segments first; then a verb before none.
 */
export function compareSpecificity(a: PathTemplate, b: PathTemplate): number {
  const rank = (s: TemplateSegment | undefined): number =>
    s === undefined ? 3 : s.kind === "literal" ? 0 : s.kind === "wildcard" ? 1 : 2;
  const n = Math.max(a.segments.length, b.segments.length);
  for (let i = 0; i < n; i++) {
    const d = rank(a.segments[i]) - rank(b.segments[i]);
    if (d !== 0) return d;
  }
  return (a.verb === undefined ? 1 : 0) - (b.verb === undefined ? 1 : 0);
}
