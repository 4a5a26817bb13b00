import { HsuError } from "@hsu/client/hsu-error";
import { existsSync } from "node:fs";
import { resolve } from "node:path";

/** The spec file's path, or an error that says where hsu looked and how to point it elsewhere. */
export function requireSpecFile(file: string): string {
  if (existsSync(file)) return file;
  const where = file === "hsu.yaml" ? `no hsu.yaml in ${process.cwd()}` : `no spec file at ${resolve(file)}`;
  throw new HsuError("not_found", `${where}; run hsu in your project's directory or name the file with -f path/to/hsu.yaml`);
}
