// For users: run a master from a deployment spec, or drive one over its control API.
export { loadDeployment, parseDeployment, deploymentJsonSchema, SpecError, type Deployment, type UnitConfig, type SpecIssue } from "./config/index.ts";
export { createMaster, type Master, type MasterOptions, type UnitStatusView, type ApplyPlan } from "./daemon/master.ts";
export { runMaster, masterAnswers, type RunningMaster } from "./daemon/run.ts";
export { controlClient, controlSocketFor } from "./cli/client.ts";
export { psTable } from "./cli/status.ts";
// For other libraries: the pieces.
export { controlService, toStatus } from "./control/service.ts";
export { listenControl, type ControlListenOptions, type ControlListeners } from "./control/listen.ts";
export { createUnitProxy, type ProxyTarget, type ResolveTarget } from "./control/unit-proxy.ts";
export { unitTransport } from "./cli/unit-transport.ts";
export { parsePublicKey, verifyFile, verifyBytes, signFile, signBytes, generateKeyPair, parseSecretKey, type PublicKey, type SecretKey, type Verified } from "./artifacts/minisign.ts";
