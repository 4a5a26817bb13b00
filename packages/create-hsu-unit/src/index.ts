// For programs and tests that generate units without the CLI.
export { createUnit, regenUnit, checkUnitName } from "./generator.ts";
export type { CreateUnitOptions, RegenUnitOptions, GenerateResult } from "./generator.ts";
export type { TemplateContext, ServiceContext, MethodContext, UnitOptions } from "./context.ts";
export type { TemplateManifest, Command } from "./manifest.ts";
export { loadManifest } from "./manifest.ts";
export { GeneratorError } from "./errors.ts";
export type { GeneratorErrorCode } from "./errors.ts";
export { main } from "./main.ts";
export { findAssetDirs, languages, type Language } from "./assets.ts";
