export { createDurableOs, type DurableOs, type DurableOsOptions, type RecoveryReport } from "./durable-os.ts";
export { OWNER_ENV, ownedProcesses, readProcessRecords } from "./owned.ts";
export { createFileTail, type FileTail, type FileTailOptions } from "./file-tail.ts";
export { ProcessBook, type ProcessRecord } from "./process-book.ts";
