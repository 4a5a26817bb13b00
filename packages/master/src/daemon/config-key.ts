import { HsuError } from "@hsu/client";
import { deploymentJsonSchema } from "../config/index.ts";
import { yamlPath } from "../config/runtime-checks.ts";

let unitKeys: Set<string> | undefined;
/** The keys a unit may have in hsu.yaml, from the one schema. */
function hsuYamlUnitKeys(): Set<string> {
  const units = deploymentJsonSchema().properties as { units: { additionalProperties: { properties: Record<string, unknown> } } };
  return (unitKeys ??= new Set(Object.keys(units.units.additionalProperties.properties)));
}

/**
 * The hsu.yaml spelling of a library field path: `canTerminate` ->
 * `can_terminate`, `gracefulTimeoutMs` -> `graceful_timeout`,
 * `health_check.initialDelayMs` -> `health_check.initial_delay`.
 */
export function yamlKey(field: string): string {
  return yamlPath("", field);
}

const prefixOf = (e: HsuError): string => {
  const parts: string[] = [];
  if (e.where.file) parts.push(e.where.line ? `${e.where.file}:${e.where.line}` : e.where.file);
  if (e.where.unit) parts.push(`unit "${e.where.unit}"`);
  if (e.where.field) parts.push(e.where.field);
  return parts.length ? `${parts.join(": ")}: ` : "";
};

/**
 * A library error as a user of hsu.yaml must read it: the library names its
 * own fields (`canTerminate`, `pidFile`), hsu.yaml has `can_terminate`,
 * `pid_file`. An error about a unit whose field is a hsu.yaml unit key is
 * re-issued with the key's path (`units.<id>.<key>`) and the key spelled the
 * hsu.yaml way in its text; a field hsu.yaml does not have (an internal one)
 * is left out. Anything else passes unchanged.
 */
export function inHsuYaml(e: unknown): unknown {
  if (!HsuError.is(e) || !e.where.unit || !e.where.field || !/[A-Z]/.test(e.where.field)) return e;
  const field = e.where.field;
  const key = yamlKey(field);
  const body = e.message.startsWith(prefixOf(e)) ? e.message.slice(prefixOf(e).length) : e.message;
  const known = hsuYamlUnitKeys().has(key.split(".")[0]!);
  const leaf = field.split(".").pop()!;
  const text = known ? body.replace(new RegExp(`\\b${field.replace(/\./g, "\\.")}\\b`, "g"), key).replace(new RegExp(`\\b${leaf}\\b`, "g"), yamlKey(leaf)) : body;
  const { field: _drop, ...where } = e.where;
  return new HsuError(e.code, text, known ? { ...where, field: `units.${e.where.unit}.${key}` } : where, { cause: e });
}
