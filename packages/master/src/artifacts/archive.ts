// The one import of the extractor for the artifact code (installer, config checks).
export { archiveFormatOf, extractArchive, type ArchiveFormat } from "./extract.ts";
