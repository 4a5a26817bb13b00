import { create, toBinary, type DescFile, type Registry, createRegistry } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import * as v1alpha from "@hsu/proto/gen/grpc/reflection/v1alpha/reflection_pb.js";
import * as v1 from "@hsu/proto/gen/grpc/reflection/v1/reflection_pb.js";
import { ServerReflection, type ServerReflectionRequest, type ServerReflectionResponse } from "@hsu/proto/gen/grpc/reflection/v1/reflection_pb.js";

// gRPC status codes used in ErrorResponse.
const NOT_FOUND = 5;
const UNIMPLEMENTED = 12;

/**
 * Answers grpc.reflection requests from the descriptors of the files that
 * define the served services (and, transitively, everything they import).
 */
export class ReflectionIndex {
  private readonly registry: Registry;
  private readonly files = new Map<string, DescFile>();

  private readonly serviceNames: () => readonly string[];

  constructor(files: readonly DescFile[], serviceNames: () => readonly string[]) {
    this.serviceNames = serviceNames;
    const all = new Map<string, DescFile>();
    const visit = (f: DescFile) => {
      if (all.has(f.name)) return;
      all.set(f.name, f);
      f.dependencies.forEach(visit);
    };
    files.forEach(visit);
    this.files = all;
    this.registry = createRegistry(...all.values());
  }

  /** The file, then every file it imports (transitively), serialized. */
  private fileWithDeps(file: DescFile): Uint8Array[] {
    const out: Uint8Array[] = [];
    const seen = new Set<string>();
    const visit = (f: DescFile) => {
      if (seen.has(f.name)) return;
      seen.add(f.name);
      out.push(toBinary(FileDescriptorProtoSchema, f.proto));
      f.dependencies.forEach(visit);
    };
    visit(file);
    return out;
  }

  private fileOfSymbol(symbol: string): DescFile | undefined {
    const direct = this.registry.get(symbol);
    if (direct) return direct.file;
    // A method ("pkg.Service.Method") or a field/enum value: look up the parent.
    const dot = symbol.lastIndexOf(".");
    if (dot < 0) return undefined;
    const parent = this.registry.get(symbol.slice(0, dot));
    return parent?.file;
  }

  /** Answers one request as a v1 response. */
  answer(req: ServerReflectionRequest): ServerReflectionResponse["messageResponse"] {
    const r = req.messageRequest;
    const error = (code: number, message: string) =>
      ({ case: "errorResponse", value: { $typeName: "grpc.reflection.v1.ErrorResponse", errorCode: code, errorMessage: message } }) as const;
    const files = (file: DescFile | undefined, what: string) =>
      file
        ? ({ case: "fileDescriptorResponse", value: { $typeName: "grpc.reflection.v1.FileDescriptorResponse", fileDescriptorProto: this.fileWithDeps(file) } } as const)
        : error(NOT_FOUND, `${what} not found`);
    switch (r.case) {
      case "listServices":
        return {
          case: "listServicesResponse",
          value: {
            $typeName: "grpc.reflection.v1.ListServiceResponse",
            service: this.serviceNames().map((name) => ({ $typeName: "grpc.reflection.v1.ServiceResponse", name })),
          },
        };
      case "fileByFilename":
        return files(this.files.get(r.value), `file "${r.value}"`);
      case "fileContainingSymbol":
        return files(this.fileOfSymbol(r.value), `symbol "${r.value}"`);
      case "fileContainingExtension": {
        const msg = this.registry.getMessage(r.value.containingType);
        const ext = msg ? this.registry.getExtensionFor(msg, r.value.extensionNumber) : undefined;
        return files(ext?.file, `extension ${r.value.containingType}(${r.value.extensionNumber})`);
      }
      case "allExtensionNumbersOfType": {
        const msg = this.registry.getMessage(r.value);
        if (!msg) return error(NOT_FOUND, `message "${r.value}" not found`);
        const numbers: number[] = [];
        for (const t of this.registry) if (t.kind === "extension" && t.extendee.typeName === msg.typeName) numbers.push(t.number);
        return {
          case: "allExtensionNumbersResponse",
          value: { $typeName: "grpc.reflection.v1.ExtensionNumberResponse", baseTypeName: msg.typeName, extensionNumber: numbers },
        };
      }
      default:
        return error(UNIMPLEMENTED, "empty or unknown reflection request");
    }
  }

  /** grpc.reflection.v1.ServerReflection over this index. */
  v1(): ServiceImpl<typeof ServerReflection> {
    const index = this;
    return {
      async *serverReflectionInfo(requests) {
        for await (const req of requests) {
          yield create(v1.ServerReflectionResponseSchema, {
            validHost: req.host,
            originalRequest: req,
            messageResponse: index.answer(req),
          });
        }
      },
    };
  }

  /** grpc.reflection.v1alpha.ServerReflection: same messages, other package. */
  v1alpha(): ServiceImpl<typeof v1alpha.ServerReflection> {
    const index = this;
    return {
      async *serverReflectionInfo(requests) {
        for await (const req of requests) {
          // The v1alpha messages are field-for-field the v1 ones.
          const asV1 = toV1(req);
          const answer = index.answer(asV1);
          yield create(v1alpha.ServerReflectionResponseSchema, {
            validHost: req.host,
            originalRequest: req,
            messageResponse: retag(answer, "grpc.reflection.v1alpha") as v1alpha.ServerReflectionResponse["messageResponse"],
          });
        }
      },
    };
  }
}

function toV1(req: v1alpha.ServerReflectionRequest): ServerReflectionRequest {
  return retag(req, "grpc.reflection.v1") as unknown as ServerReflectionRequest;
}

/** Rewrites `$typeName`s from one reflection package to the other, deeply. */
function retag(value: unknown, pkg: string): unknown {
  if (value instanceof Uint8Array || value === null || typeof value !== "object") return value;
  if (Array.isArray(value)) return value.map((v) => retag(v, pkg));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    out[k] = k === "$typeName" && typeof v === "string" ? v.replace(/^grpc\.reflection\.v1(alpha)?\./, `${pkg}.`) : retag(v, pkg);
  }
  return out;
}
