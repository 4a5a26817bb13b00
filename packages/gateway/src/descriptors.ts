import { createFileRegistry, fromBinary, type DescService, type FileRegistry } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { readFileSync } from "node:fs";
import type { GatewayRoute } from "./config.ts";
import type { RoutedService } from "./protocol.ts";

/** A descriptor file that cannot be used, or a route naming a service it does not have. */
export class DescriptorError extends Error {
  override readonly name = "DescriptorError";
}

/** Services a route leaves out unless it names them: the HSU and reflection plumbing. (grpc.health.* stays routed.) */
const HIDDEN = ["hsu.core.", "hsu.master.", "grpc.reflection."];

/** True for a service routed by default (when a route names no `services`). */
export function routedByDefault(typeName: string): boolean {
  return !HIDDEN.some((p) => typeName.startsWith(p));
}

/** Reads one FileDescriptorSet file (binary, `buf build -o x.binpb`). */
export function loadDescriptorSet(file: string): FileRegistry {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new DescriptorError(
      `${file}: cannot read the descriptor set (${code ?? (e as Error).message})${code === "ENOENT" ? "; build it with `buf build <proto dir> -o " + file + "`" : ""}`,
    );
  }
  let registry: FileRegistry;
  try {
    const set = fromBinary(FileDescriptorSetSchema, bytes);
    if (set.file.length === 0) throw new Error("it holds no files");
    registry = createFileRegistry(set);
  } catch (e) {
    throw new DescriptorError(
      `${file}: not a FileDescriptorSet (${(e as Error).message}); give the binary output of \`buf build -o x.binpb\` (or \`protoc --include_imports --descriptor_set_out\`)`,
    );
  }
  return registry;
}

/** The registry of every route's descriptor sets, and the services each route exposes. */
export interface LoadedRoutes {
  readonly registry: FileRegistry;
  readonly services: readonly RoutedService[];
}

/**
 * Loads the descriptor sets of every route and picks its services: those it
 * names (each must be in its sets), or every service but the hidden ones.
 */
export function loadRoutes(routes: readonly GatewayRoute[]): LoadedRoutes {
  const cache = new Map<string, FileRegistry>();
  const services: RoutedService[] = [];
  const all: FileRegistry[] = [];
  routes.forEach((route, i) => {
    const regs = route.descriptors.map((f) => {
      let r = cache.get(f);
      if (!r) cache.set(f, (r = loadDescriptorSet(f)));
      all.push(r);
      return r;
    });
    const available = new Map<string, DescService>();
    for (const r of regs) for (const t of r) if (t.kind === "service") available.set(t.typeName, t);
    const picked: DescService[] = [];
    if (route.services) {
      for (const name of route.services) {
        const s = available.get(name);
        if (!s) {
          const have = [...available.keys()].sort().join(", ") || "none";
          throw new DescriptorError(`routes[${i}] (unit "${route.unit}"): no service "${name}" in ${route.descriptors.join(", ")}; the services there: ${have}`);
        }
        picked.push(s);
      }
    } else {
      picked.push(...[...available.values()].filter((s) => routedByDefault(s.typeName)));
      if (picked.length === 0) throw new DescriptorError(`routes[${i}] (unit "${route.unit}"): ${route.descriptors.join(", ")} holds no service to route`);
    }
    for (const service of picked) services.push({ unit: route.unit, service, prefix: route.prefix, auth: route.auth });
  });
  const seen = new Map<string, string>();
  for (const s of services) {
    const key = `${s.prefix}/${s.service.typeName}`;
    const other = seen.get(key);
    if (other !== undefined && other !== s.unit) {
      throw new DescriptorError(`${s.service.typeName} under the prefix ${JSON.stringify(s.prefix)} is routed to both "${other}" and "${s.unit}": give one of the routes a prefix`);
    }
    seen.set(key, s.unit);
  }
  return { registry: all.length === 1 ? all[0]! : createFileRegistry(...new Set(all)), services };
}
