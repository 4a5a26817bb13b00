// Checks of an unpacked package (the `package/` folder of a tarball) that
// publint and attw leave out: every export target in every condition (custom
// ones such as @hsu/source too) and every bin is shipped, and no shipped file
// points at a source map (the builds emit none, see packages/*/tsconfig.build.json).
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative, resolve } from "node:path";

/** Every file under `dir`, relative to it. */
export function shippedFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: "utf8" }).filter((f) => statSync(join(dir, f)).isFile());
}

/** Every path an exports map names, in every condition. */
function exportTargets(value: unknown): string[] {
  if (typeof value === "string") return [value];
  if (value === null || typeof value !== "object") return [];
  return Object.values(value).flatMap(exportTargets);
}

/** Export and bin targets of the package that name no shipped file (a `*` target needs one match). */
export function unshippedTargets(dir: string): string[] {
  const shipped = shippedFiles(dir);
  const manifest = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as { exports?: unknown; bin?: string | Record<string, string> };
  const bins = typeof manifest.bin === "string" ? [manifest.bin] : Object.values(manifest.bin ?? {});
  return [...exportTargets(manifest.exports), ...bins].filter((target) => {
    const rel = relative(dir, resolve(dir, target));
    if (!target.includes("*")) return !shipped.includes(rel);
    const [head, tail] = rel.split("*") as [string, string];
    return !shipped.some((f) => f.startsWith(head) && f.endsWith(tail));
  });
}

/** Shipped .map files and files that carry a sourceMappingURL. */
export function sourceMapFiles(dir: string): string[] {
  return shippedFiles(dir).filter((f) => f.endsWith(".map") || (/\.(c|m)?(js|ts)$/.test(f) && readFileSync(join(dir, f), "utf8").includes("sourceMappingURL=")));
}
