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
  writeFileSync(file, lines.join("\n"));
  return missing.map((m) => m.name);
}
