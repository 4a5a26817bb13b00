// The one import of the extractor for the artifact code.
export { archiveFormatOf, extractArchive, type ArchiveFormat } from "./extract-shim.ts";
