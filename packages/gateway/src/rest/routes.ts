import { getOption, hasOption, type DescField, type DescMethod } from "@bufbuild/protobuf";
import { http } from "../gen/google/api/annotations_pb.ts";
import type { HttpRule } from "../gen/google/api/http_pb.ts";
import type { RoutedService } from "../protocol.ts";
import { GrpcCode, RestError } from "./errors.ts";
import { findField, isLeaf, resolveFieldPath } from "./fields.ts";
import {
  compareSpecificity,
  matchTemplate,
  parseTemplate,
  splitRequestPath,
  templateShape,
  TemplateError,
  type PathParams,
  type PathTemplate,
} from "./http-rule.ts";

/** Where the HTTP body goes in the request message. */
export type BodyRule =
  | { readonly kind: "none" }
  | { readonly kind: "all" }
  | { readonly kind: "field"; readonly field: DescField };

/** One HTTP binding of one method (a method has one per google.api.http rule and additional binding). */
export interface Route {
  /** Upper-case HTTP method, or "*" for a custom rule that takes any. */
  readonly verb: string;
  /** The template with the route prefix in front. */
  readonly template: PathTemplate;
  readonly method: DescMethod;
  readonly unit: string;
  readonly auth: "required" | "none";
  /** Path variables: field path ("a.b") -> the chain of fields it sets. */
  readonly pathFields: ReadonlyMap<string, readonly DescField[]>;
  readonly body: BodyRule;
  /** The response field written as the body, or undefined for the whole response. */
  readonly responseBody: DescField | undefined;
  /** Server streaming (NDJSON or SSE). */
  readonly streaming: boolean;
}

/** The annotations of some routed services are wrong: every problem, one per line. */
export class RouteError extends Error {
  override readonly name = "RouteError";
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super(`the google.api.http annotations cannot be routed:\n  ${problems.join("\n  ")}`);
    this.problems = problems;
  }
}

/** Methods with an annotation that REST cannot serve (client or bidi streaming), with why. */
export interface SkippedMethod {
  readonly method: DescMethod;
  readonly reason: string;
}

/** The routes of every annotated method of `services`, most specific first. */
export interface RouteTable {
  readonly routes: readonly Route[];
  readonly skipped: readonly SkippedMethod[];
}

/**
 * Reads `google.api.http` on every method of the services and builds their
 * routes. Throws a {@link RouteError} naming every bad template, unknown
 * field and conflict (two methods on the same verb and path shape).
 */
export function buildRoutes(services: readonly RoutedService[]): RouteTable {
  const routes: Route[] = [];
  const skipped: SkippedMethod[] = [];
  const problems: string[] = [];
  for (const svc of services) {
    for (const method of svc.service.methods) {
      if (!hasOption(method, http)) continue;
      if (method.methodKind === "client_streaming" || method.methodKind === "bidi_streaming") {
        skipped.push({ method, reason: `${method.methodKind.replace("_", " ")} is not served by REST; call it with the Connect protocol or gRPC-Web` });
        continue;
      }
      const rule = getOption(method, http);
      const bindings: { rule: HttpRule; where: string }[] = [{ rule, where: method.toString().replace(/^rpc /, "") }];
      rule.additionalBindings.forEach((b, i) => {
        bindings.push({ rule: b, where: `${bindings[0]!.where} additional_bindings[${i}]` });
        if (b.additionalBindings.length > 0) problems.push(`${bindings[0]!.where} additional_bindings[${i}]: additional bindings cannot have their own additional_bindings`);
      });
      for (const { rule: r, where } of bindings) {
        try {
          routes.push(routeOf(svc, method, r, where));
        } catch (e) {
          if (e instanceof TemplateError || e instanceof RouteError) problems.push(e instanceof RouteError ? e.problems.join("; ") : e.message);
          else throw e;
        }
      }
    }
  }
  problems.push(...conflicts(routes));
  if (problems.length > 0) throw new RouteError(problems);
  routes.sort((a, b) => compareSpecificity(a.template, b.template));
  return { routes, skipped };
}

function routeOf(svc: RoutedService, method: DescMethod, rule: HttpRule, where: string): Route {
  const fail = (why: string): never => {
    throw new RouteError([`${where}: ${why}`]);
  };
  const p = rule.pattern;
  if (p.case === undefined) fail("the rule has no pattern (get, put, post, delete, patch or custom)");
  const verb = p.case === "custom" ? p.value.kind.toUpperCase() : p.case!.toUpperCase();
  const path = p.case === "custom" ? p.value.path : (p.value as string);
  if (verb === "") fail("the custom rule has no kind (the HTTP method)");
  if (svc.prefix !== "" && (!svc.prefix.startsWith("/") || svc.prefix.endsWith("/"))) {
    fail(`the route prefix "${svc.prefix}" must start with "/" and not end with "/"`);
  }
  const template = parseTemplate(svc.prefix + path, where);
  const input = method.input;
  const pathFields = new Map<string, readonly DescField[]>();
  for (const v of template.variables) {
    const name = v.fieldPath.join(".");
    const chain = resolveFieldPath(input, v.fieldPath);
    if (typeof chain === "string") fail(`path template "${path}": ${chain}`);
    const leaf = (chain as DescField[])[(chain as DescField[]).length - 1]!;
    if (leaf.fieldKind === "list" || leaf.fieldKind === "map" || !isLeaf(leaf)) {
      fail(`path template "${path}": the field "${name}" is ${leaf.fieldKind === "list" ? "repeated" : leaf.fieldKind === "map" ? "a map" : "a message"}; a path variable must bind a single scalar, enum or well-known scalar type`);
    }
    pathFields.set(name, chain as DescField[]);
  }
  let body: BodyRule = { kind: "none" };
  if (rule.body === "*") body = { kind: "all" };
  else if (rule.body !== "") {
    const f = findField(input, rule.body);
    if (f === undefined) fail(`body "${rule.body}" is not a field of ${input.typeName}`);
    body = { kind: "field", field: f! };
  }
  let responseBody: DescField | undefined;
  if (rule.responseBody !== "") {
    responseBody = findField(method.output, rule.responseBody);
    if (responseBody === undefined) fail(`response_body "${rule.responseBody}" is not a field of ${method.output.typeName}`);
  }
  return {
    verb,
    template,
    method,
    unit: svc.unit,
    auth: svc.auth,
    pathFields,
    body,
    responseBody,
    streaming: method.methodKind === "server_streaming",
  };
}

function conflicts(routes: readonly Route[]): string[] {
  const seen = new Map<string, Route>();
  const out: string[] = [];
  for (const r of routes) {
    const key = `${r.verb} ${templateShape(r.template)}`;
    const other = seen.get(key);
    if (other === undefined) seen.set(key, r);
    else {
      out.push(
        `${r.verb} "${r.template.source}" of ${r.method.parent.typeName}.${r.method.name} (unit ${r.unit}) conflicts with ` +
          `${other.verb} "${other.template.source}" of ${other.method.parent.typeName}.${other.method.name} (unit ${other.unit}): ` +
          `both match the same paths; change one template or route prefix`,
      );
    }
  }
  return out;
}

/** A matched route and its path variables. */
export interface RouteMatch {
  readonly route: Route;
  readonly params: PathParams;
}

/**
 * Finds the route of a request. Returns undefined when no route has the path
 * (404: the caller may leave it to another protocol); throws a RestError for a
 * path some route has but not with this method (405 with Allow) and for a
 * hostile path (400, 414).
 */
export function createRouter(routes: readonly Route[]): (verb: string, path: string) => RouteMatch | undefined {
  const sorted = [...routes].sort((a, b) => compareSpecificity(a.template, b.template));
  // Indexed by the first literal segment: a path is tried only against the routes that start with its first
  // segment and those that start with a variable or wildcard, in the same (specificity) order as the full list.
  const head = (r: Route): string | undefined => {
    const first = r.template.segments[0];
    // "/books:verb" puts the verb on the first segment of the request: such a route stays in every list.
    if (first?.kind !== "literal" || (r.template.verb !== undefined && r.template.segments.length === 1)) return undefined;
    return first.value;
  };
  const open = sorted.filter((r) => head(r) === undefined);
  const byHead = new Map<string, Route[]>();
  for (const r of sorted) {
    const h = head(r);
    if (h !== undefined && !byHead.has(h)) byHead.set(h, sorted.filter((x) => head(x) === h || head(x) === undefined));
  }
  return (verb, path) => {
    const split = splitRequestPath(path);
    const candidates = byHead.get(split.segments[0]!) ?? open;
    let allow: Set<string> | undefined;
    for (const route of candidates) {
      const params = matchTemplate(route.template, split);
      if (params === undefined) continue;
      if (route.verb === verb || route.verb === "*") return { route, params };
      (allow ??= new Set<string>()).add(route.verb);
    }
    if (allow === undefined) return undefined;
    const list = [...allow].sort().join(", ");
    throw RestError.http(405, GrpcCode.UNIMPLEMENTED, `${verb} is not allowed on ${path}; allowed: ${list}`, { allow: list });
  };
}
