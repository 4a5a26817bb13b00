export { createDurableOs, OWNER_ENV, type DurableOs, type DurableOsOptions, type RecoveryReport } from "./durable-os.ts";
export { createFileTail, type FileTail, type FileTailOptions } from "./file-tail.ts";
export { ProcessBook, type ProcessRecord } from "./process-book.ts";
