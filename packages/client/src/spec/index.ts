// One typed spec per concern, one set of defaults, one check per concern.
// Each check returns every issue with its field; the master's hsu.yaml loader
// maps YAML nodes to these specs and adds line and column to the fields.
export { specDefaults, unitIdPattern } from "./defaults.ts";
export { IssueList, describeValue, type Checked, type SpecIssue } from "./issues.ts";
export { checkEnv } from "./env.ts";
export { checkDependencies, type DependencyNode } from "./dependencies.ts";
export { closest } from "./closest.ts";
export { checkManagedUnitSpec } from "../supervisor/spec.ts";
export { checkHealthCheckSpec } from "../health/validate.ts";
export { checkResourceLimits } from "../resources/limits.ts";
export { checkUnmanagedSpec } from "../unmanaged/spec.ts";
export { checkCronSchedule } from "../orchestration/scheduler.ts";
