export { loadDeployment, parseDeployment, SpecError } from "./load.ts";
export { deploymentJsonSchema } from "./schema.ts";
export { parseDuration, parseSize, type SpecIssue } from "./fields.ts";
export type { Dependency, Deployment, UnitConfig } from "./defaults.ts";
