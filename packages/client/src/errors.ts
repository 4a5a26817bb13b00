import { ConnectError } from "@connectrpc/connect";
import { useConnectError } from "./hsu-error.ts";

// HsuError lives in hsu-error.ts, which does not load connect; this module
// adds what answering a gRPC call needs (`toConnectError`).
useConnectError(ConnectError);

export { HsuError, type HsuErrorCode, type HsuErrorWhere } from "./hsu-error.ts";
