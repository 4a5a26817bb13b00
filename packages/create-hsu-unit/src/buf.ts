import { spawnSync } from "node:child_process";
import { createRequire } from "node:module";
import { GeneratorError } from "./errors.ts";

const require = createRequire(import.meta.url);

/** Absolute path of the buf binary shipped by the @bufbuild/buf npm package. */
export function bufBinary(): string {
  return require.resolve("@bufbuild/buf/bin/buf");
}

/** A message of a JSON FileDescriptorSet, with its nested types. */
export interface MessageDescriptorJson {
  name: string;
  nestedType?: MessageDescriptorJson[];
  enumType?: { name: string }[];
}

/** The parts of a JSON FileDescriptorSet create-hsu-unit reads. */
export interface FileDescriptorJson {
  name: string;
  package?: string;
  dependency?: string[];
  messageType?: MessageDescriptorJson[];
  enumType?: { name: string }[];
  service?: {
    name: string;
    method?: {
      name: string;
      inputType: string;
      outputType: string;
      clientStreaming?: boolean;
      serverStreaming?: boolean;
    }[];
  }[];
}

/**
 * Compiles `input` (a .proto file or a directory of them) with buf and
 * returns its files as JSON descriptors. A compile error becomes a
 * GeneratorError carrying buf's `file:line:col: message` lines, with paths as
 * the user gave them (buf runs in `cwd`).
 */
export function compileProto(input: string, cwd: string): FileDescriptorJson[] {
  const result = spawnSync(
    bufBinary(),
    ["build", input, "--exclude-source-info", "-o", "-#format=json"],
    { cwd, encoding: "utf8", maxBuffer: 64 * 1024 * 1024 },
  );
  if (result.error) {
    throw new GeneratorError("bad_proto", `could not run buf (${bufBinary()}): ${result.error.message}`, {
      cause: result.error,
    });
  }
  if (result.status !== 0) {
    const detail = (result.stderr || result.stdout).trim();
    throw new GeneratorError("bad_proto", `${input} does not compile:\n${detail}\nFix the proto and run again.`);
  }
  const set = JSON.parse(result.stdout) as { file?: FileDescriptorJson[] };
  return set.file ?? [];
}
