/** The REST protocol of the gateway: google.api.http routes, transcoding, errors and the OpenAPI document. */
export { GrpcCode, httpStatusFromCode, isRestError, RestError, type StatusJson } from "./errors.ts";
export { parseTemplate, TemplateError, type PathTemplate } from "./http-rule.ts";
export { openApiDocument, type OpenApiOptions } from "./openapi.ts";
export { readBody, restProtocol, writeError, type RestProtocolOptions } from "./protocol.ts";
export { buildRoutes, createRouter, RouteError, type BodyRule, type Route, type RouteMatch, type RouteTable, type SkippedMethod } from "./routes.ts";
export { buildRequest, encodeRequest, responseJson, type HttpInput } from "./transcode.ts";
