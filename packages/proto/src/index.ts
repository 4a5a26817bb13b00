// Generated contracts, re-exported for users. Each generated file is also
// reachable on its own as "@hsu/proto/gen/<path>_pb.js".
export * from "./gen/hsu/core/v1/core_pb.js";
export * from "./gen/hsu/master/v1/registration_pb.js";
export * from "./gen/grpc/health/v1/health_pb.js";
export * from "./gen/grpc/reflection/v1/reflection_pb.js";
export * from "./gen/hsu/master/v1/control_pb.js";
