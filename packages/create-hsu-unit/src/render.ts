import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative, sep } from "node:path";
import nodePlop from "node-plop";
import { GeneratorError } from "./errors.ts";

/** Renders a Handlebars template string with the plop helpers (case helpers). */
export type RenderFn = (template: string, data: object) => string;

/**
 * Creates a renderer backed by node-plop's Handlebars, so templates get
 * plop's case helpers, plus the given partials (e.g. `methodStub`, so
 * service.hbs can reuse method-stub.hbs). HTML escaping is off: the output
 * is code, not HTML.
 */
export async function createRenderer(partials: Record<string, string> = {}): Promise<RenderFn> {
  const plop = await nodePlop();
  for (const [name, text] of Object.entries(partials)) plop.setPartial(name, text);
  // renderString registers plop's helpers and partials on its Handlebars instance.
  plop.renderString("", {});
  const hb = (plop as unknown as { handlebars?: { compile: (t: string, o: object) => (d: object) => string } })
    .handlebars;
  return (template, data) => {
    try {
      if (hb) return hb.compile(template, { noEscape: true })(data);
      return plop.renderString(template, data);
    } catch (cause) {
      throw new GeneratorError("bad_template", `template error: ${(cause as Error).message}`, { cause });
    }
  };
}

/** One file to write: its path relative to the project, and its content. */
export interface RenderedFile {
  path: string;
  content: Buffer | string;
}

function listFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir).sort()) {
    const full = join(dir, entry);
    if (statSync(full).isDirectory()) out.push(...listFiles(full));
    else out.push(full);
  }
  return out;
}

/** Maps a template path to its output path: Handlebars in segments, `_dot_` prefix, `.hbs` suffix. */
export function outputPath(templatePath: string, render: RenderFn, data: object): string {
  return templatePath
    .split(sep)
    .map((segment) => {
      let out = render(segment, data);
      if (out.startsWith("_dot_")) out = "." + out.slice("_dot_".length);
      return out;
    })
    .join("/")
    .replace(/\.hbs$/, "");
}

/**
 * Renders every file under `dir` (a template's `project/` or `regen/`):
 * `.hbs` files through Handlebars, others copied byte for byte.
 */
export function renderTree(dir: string, render: RenderFn, data: object): RenderedFile[] {
  return listFiles(dir).map((full) => {
    const rel = relative(dir, full);
    const path = outputPath(rel, render, data);
    if (!rel.endsWith(".hbs")) return { path, content: readFileSync(full) };
    return { path, content: render(readFileSync(full, "utf8"), data) };
  });
}
