// The server side of the wire: the unary fast path and one handler that puts it in front of
// connect-node, loaded on demand. A subpath of its own, so a client's import of @hsu/transport
// does not load it.
export { createFastUnary, type FastUnaryOptions, type StreamFilter } from "./fast-unary.ts";
export { FastContext } from "./fast-context.ts";
export { createGrpcHandler, type GrpcHandler, type GrpcHandlerOptions, type GrpcRequestHandler } from "./grpc-handler.ts";
