import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { basename, dirname, join, relative, resolve } from "node:path";
import { googleApiProtoFiles } from "./assets.ts";
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
  const result = runBufBuild(input, cwd);
  if ("detail" in result) {
    throw new GeneratorError("bad_proto", `${input} does not compile:\n${result.detail}\nFix the proto and run again.`);
  }
  return result.files;
}

/**
 * Compiles the user's .proto `file` like compileProto (see withUserProto for
 * the google/api files create-hsu-unit ships).
 */
export function compileUserProto(file: string, cwd: string, protoDir: string): FileDescriptorJson[] {
  return withUserProto(file, cwd, protoDir, (compiled) => compiled.files);
}

/** Where a user's proto compiled: the buf input and directory to run buf with, and the files. */
export interface CompiledUserProto {
  input: string;
  cwd: string;
  files: FileDescriptorJson[];
}

/**
 * Compiles the user's .proto `file` and hands `use` what compiled, for further
 * buf runs on the same input (generation). When the file does not compile as
 * given and imports one of the google/api protos create-hsu-unit ships (from
 * `protoDir`) that is not beside it, it compiles again in a buf workspace of
 * two modules, the file's own directory (buf's module root for a lone file)
 * and the shipped copies, so the import works without a googleapis checkout;
 * that workspace lives until `use` returns. Errors name the user's paths.
 */
export function withUserProto<T>(file: string, cwd: string, protoDir: string, use: (compiled: CompiledUserProto) => T): T {
  const first = runBufBuild(file, cwd);
  if (!("detail" in first)) return use({ input: file, cwd, files: first.files });
  const abs = resolve(cwd, file);
  const text = readFileSync(abs, "utf8");
  const wanted = googleApiProtoFiles.filter((f) => text.includes(`"${f}"`) && !existsSync(join(dirname(abs), f)));
  if (wanted.length === 0) {
    throw new GeneratorError("bad_proto", `${file} does not compile:\n${first.detail}\nFix the proto and run again.`);
  }
  const workspace = mkdtempSync(join(tmpdir(), "hsu-proto-"));
  try {
    for (const f of googleApiProtoFiles) {
      mkdirSync(dirname(join(workspace, "provided", f)), { recursive: true });
      copyFileSync(join(protoDir, f), join(workspace, "provided", f));
    }
    symlinkSync(dirname(abs), join(workspace, "user"), "dir");
    writeFileSync(join(workspace, "buf.yaml"), "version: v2\nmodules:\n  - path: user\n  - path: provided\n");
    const input = `user/${basename(abs)}`;
    const second = runBufBuild(input, workspace);
    if (!("detail" in second)) return use({ input, cwd: workspace, files: second.files });
    const shown = relative(cwd, dirname(abs));
    const detail = second.detail.replace(/^user\//gm, shown === "" ? "" : `${shown}/`);
    throw new GeneratorError("bad_proto", `${file} does not compile:\n${detail}\nFix the proto and run again.`);
  } finally {
    rmSync(workspace, { recursive: true, force: true });
  }
}

/** Runs `buf build`: the compiled files, or buf's error lines. */
function runBufBuild(input: string, cwd: string): { files: FileDescriptorJson[] } | { detail: string } {
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
  if (result.status !== 0) return { detail: (result.stderr || result.stdout).trim() };
  const set = JSON.parse(result.stdout) as { file?: FileDescriptorJson[] };
  return { files: set.file ?? [] };
}
