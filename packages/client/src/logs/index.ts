// Log capture for supervised units: the supervisor attaches each child's
// stdout/stderr to a LogSink; users read tails, files and live subscriptions.
export { createLogCollector } from "./collector.ts";
export { createRedactor, MIN_REDACTED_LENGTH, REDACTED, redactablePieces, type Redactor } from "./redactor.ts";
export { formatLogRecord, parseLogRecord } from "./format.ts";
export { createLineSplitter, type LineSplitter, type LineHandler } from "./line-splitter.ts";
export type {
  AttachOptions,
  LogCollector,
  LogCollectorOptions,
  LogCollectorStats,
  LogLine,
  LogSink,
  LogStream,
  LogSubscribeFilter,
} from "./types.ts";
