export { loadDeployment, MAX_SPEC_BYTES, MAX_SPEC_DEPTH, parseDeployment, SpecError, type ParseOptions } from "./load.ts";
export { deploymentJsonSchema } from "./schema.ts";
export { parseDuration, parseSize, type SpecIssue } from "./fields.ts";
export type { Dependency, Deployment, UnitConfig } from "./defaults.ts";
export { CONTROL_SOCKET_ENV, GATEWAY_CONFIG_ENV, publicServices, type GatewaySpec } from "./gateway.ts";
