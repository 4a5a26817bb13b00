// TEMPORARY: stands in for extract.ts until it lands; not to be committed as the final state.
import { execFile } from "node:child_process";
import { mkdir, rm } from "node:fs/promises";
import { promisify } from "node:util";

export type ArchiveFormat = "tar.gz" | "tgz" | "tar" | "zip";
export interface ExtractLimits { maxBytes: number; maxEntries: number; maxRatio?: number }
export interface ExtractResult { files: number; dirs: number; symlinks: number; bytes: number }
export function archiveFormatOf(nameOrUrl: string): ArchiveFormat | undefined {
  const p = nameOrUrl.replace(/[?#].*$/, "").toLowerCase();
  return p.endsWith(".tar.gz") ? "tar.gz" : p.endsWith(".tgz") ? "tgz" : p.endsWith(".tar") ? "tar" : p.endsWith(".zip") ? "zip" : undefined;
}
export async function extractArchive(archivePath: string, destDir: string, format: ArchiveFormat, _limits: ExtractLimits, _signal?: AbortSignal): Promise<ExtractResult> {
  await mkdir(destDir);
  try {
    await promisify(execFile)("tar", [format === "tar" ? "-xf" : "-xzf", archivePath, "-C", destDir]);
  } catch (e) {
    await rm(destDir, { recursive: true, force: true });
    throw e;
  }
  return { files: 0, dirs: 0, symlinks: 0, bytes: 0 };
}
