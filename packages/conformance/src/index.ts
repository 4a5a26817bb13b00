// The cross-language conformance suite: used by the *.slow.test.ts files here.
export { describeConformance } from "./describe-conformance.ts";
export { prepareUnit, templateOf, type ConformanceLanguage, type PreparedUnit, type Manifest } from "./prepare.ts";
export { knownGaps, gapReason, type KnownGap } from "./known-gaps.ts";
export { buildSdkTarballs } from "./sdk.ts";
export { ensureGrpcurl, listServices, grpcurlVersion } from "./grpcurl.ts";
export { sendRawGrpc, type RawStatus } from "./raw-grpc.ts";
export { seedCargoTarget } from "./cargo-cache.ts";
