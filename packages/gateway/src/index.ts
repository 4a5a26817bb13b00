/** @hsu/gateway: the HSU gateway unit (see README.md). */

// For users: the gateway as a library (the hsu-gateway bin is main.ts).
export { gatewayDefaults, GatewayConfigError, loadGatewayConfig, validateGatewayConfig } from "./config.ts";
export type { GatewayConfig, GatewayCors, GatewayLimits, GatewayRoute, GatewayTls } from "./config.ts";
export { createGatewayServer, type GatewayServer, type GatewayServerOptions } from "./server.ts";
export { createUpstream, type ClosableUpstream, type UpstreamOptions } from "./upstream.ts";
export { DescriptorError, loadDescriptorSet, loadRoutes, routedByDefault, type LoadedRoutes } from "./descriptors.ts";
export { connectProtocol } from "./connect.ts";
export { grpcWebProtocol } from "./grpc-web.ts";

// For protocols (REST and others): the contract and the shared pieces.
export type * from "./protocol.ts";
export { codeName, GatewayError, httpStatusOf } from "./status.ts";
export { createJsonStreamWriter, streamFormatOf, writeNdjson, writeSse, type JsonStreamWriter, type StreamFormat } from "./stream-writers.ts";
export { readBody } from "./body.ts";
export { decodeRequest, encodeJson } from "./connect.ts";
