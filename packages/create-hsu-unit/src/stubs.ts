import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { ServiceContext, TemplateContext } from "./context.ts";
import { GeneratorError } from "./errors.ts";
import type { TemplateManifest } from "./manifest.ts";
import type { RenderFn } from "./render.ts";

/** Inputs of `insertMissingStubs`. */
export interface InsertStubsInput {
  dir: string;
  manifest: TemplateManifest;
  render: RenderFn;
  context: TemplateContext;
  service: ServiceContext;
  methodStub: string;
}

/**
 * For each RPC of `service` that its implementation file does not have yet
 * (the manifest's `methodPresent` regex finds nothing), renders
 * method-stub.hbs and inserts it just before the `stubMarker` line.
 * Everything else in the file stays byte for byte. Returns the methods added.
 */
export function insertMissingStubs(input: InsertStubsInput): string[] {
  const { dir, manifest, render, context, service } = input;
  const rel = render(manifest.implFile, { ...context, service });
  const file = join(dir, rel);
  const original = readFileSync(file, "utf8");
  const missing = service.methods.filter((method) => {
    const pattern = render(manifest.methodPresent, { ...context, service, method });
    return !new RegExp(pattern, "m").test(original);
  });
  if (missing.length === 0) return [];
  const lines = original.split("\n");
  const markerIndex = lines.findIndex((line) => line.includes(manifest.stubMarker));
  if (markerIndex < 0) {
    throw new GeneratorError(
      "bad_template",
      `${rel}: the marker line "${manifest.stubMarker}" is gone, so stubs for ${missing.map((m) => m.name).join(", ")} cannot be added. Put the marker back inside the ${service.name} implementation and run regen again.`,
    );
  }
  const stubs = missing.map((method) => render(input.methodStub, { ...context, service, method }).replace(/\n$/, ""));
  lines.splice(markerIndex, 0, ...stubs);
  if (context.language === "go") addGoImports(lines, service, stubs.join("\n"), rel);
  writeFileSync(file, lines.join("\n"));
  return missing.map((m) => m.name);
}

/**
 * A new Go stub may use a package the file does not import yet (a request
 * of type google.protobuf.Empty): adds the service's import for each alias
 * the stubs use, just before the file's own `pb` import.
 */
function addGoImports(lines: string[], service: ServiceContext, stubs: string, rel: string): void {
  const needed = service.go.imports.filter(
    (imp) => new RegExp(`\\b${imp.alias}\\.`).test(stubs) && !lines.some((line) => line.includes(`"${imp.path}"`)),
  );
  if (needed.length === 0) return;
  const pbIndex = lines.findIndex((line) => /^\s*pb\s+"/.test(line));
  if (pbIndex < 0) {
    throw new GeneratorError(
      "bad_template",
      `${rel}: the import \`pb "${service.go.importPath}"\` is gone, so the imports the new stubs need (${needed.map((i) => i.path).join(", ")}) cannot be added. Add them by hand and build again.`,
    );
  }
  lines.splice(pbIndex, 0, ...needed.map((imp) => `\t${imp.alias} "${imp.path}"`));
}
