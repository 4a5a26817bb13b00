// Builds the test protos under testdata/ (with the vendored google/api protos)
// into a registry, once per test file that imports this.
import { createFileRegistry, fromBinary, type FileRegistry } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { execFileSync } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const here = fileURLToPath(new URL(".", import.meta.url));
const root = join(here, "..", "..", "..");

/** Builds testdata/<dirs> into one registry (buf build, no network). */
export function buildRegistry(...dirs: string[]): FileRegistry {
  const tmp = mkdtempSync(join(tmpdir(), "hsu-gw-rest-"));
  try {
    for (const d of dirs) cpSync(join(here, d), tmp, { recursive: true });
    cpSync(join(root, "proto", "google"), join(tmp, "google"), { recursive: true });
    const out = join(tmp, "set.binpb");
    execFileSync(join(root, "node_modules", ".bin", "buf"), ["build", tmp, "-o", out], { stdio: ["ignore", "ignore", "pipe"] });
    return createFileRegistry(fromBinary(FileDescriptorSetSchema, readFileSync(out)));
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
