/**
 * The REST protocol of the gateway: google.api.http routes, transcoding, errors and the OpenAPI document.
 *
 * Choices, against grpc-gateway's defaults:
 * - responses emit fields at their default values (grpc-gateway's EmitUnpopulated), lowerCamelCase names, enums by name;
 * - unknown fields in a body and unknown query parameters are refused with 400 naming them (grpc-gateway discards
 *   unknown body fields; Envoy refuses unknown query parameters), so a misspelt field never silently does nothing;
 * - a body sent to a rule without `body`, query parameters on a `body: "*"` rule, and a query parameter for a field
 *   the path or body sets are refused too (400);
 * - a multi-segment path variable keeps an encoded "/" as "%2F"; a single-segment one decodes it.
 */
export { GrpcCode, httpStatusFromCode, isRestError, RestError, statusDetails, type StatusJson } from "./errors.ts";
export { parseTemplate, TemplateError, type PathTemplate } from "./http-rule.ts";
export { openApiDocument, type OpenApiOptions } from "./openapi.ts";
export { readBody, restProtocol, writeError, type RestProtocolOptions } from "./protocol.ts";
export { buildRoutes, createRouter, RouteError, type BodyRule, type Route, type RouteMatch, type RouteTable, type SkippedMethod } from "./routes.ts";
export { buildRequest, encodeRequest, responseJson, type HttpInput } from "./transcode.ts";
