// For users: write a master.
export { HsuError, type HsuErrorCode, type HsuErrorWhere } from "./errors.ts";
export * from "./core/index.ts";
export { formatAddress, parseAddress, type UnitAddress } from "@hsu/transport";
