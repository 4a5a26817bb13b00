// Summarises a V8 heap snapshot: self size by node type, and the largest object kinds
// (constructor or string/code category) by self size. Used on the hsu daemon's snapshot.
import { readFileSync } from "node:fs";

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] }; node_count: number };
  nodes: number[];
  strings: string[];
}

export interface HeapSummary {
  totalBytes: number;
  nodes: number;
  byType: { type: string; bytes: number; count: number }[];
  top: { name: string; bytes: number; count: number }[];
}

export function summariseHeap(file: string, topN = 15): HeapSummary {
  const snap = JSON.parse(readFileSync(file, "utf8")) as Snapshot;
  const f = snap.snapshot.meta.node_fields;
  const width = f.length;
  const iType = f.indexOf("type");
  const iName = f.indexOf("name");
  const iSize = f.indexOf("self_size");
  const types = snap.snapshot.meta.node_types[0];
  const byType = new Map<string, { bytes: number; count: number }>();
  const byName = new Map<string, { bytes: number; count: number }>();
  let total = 0;
  for (let i = 0; i < snap.nodes.length; i += width) {
    const type = types[snap.nodes[i + iType]!]!;
    const size = snap.nodes[i + iSize]!;
    total += size;
    const t = byType.get(type) ?? { bytes: 0, count: 0 };
    t.bytes += size;
    t.count++;
    byType.set(type, t);
    // Strings and code are grouped by type; objects, closures and arrays by their name (constructor, function).
    const key = type === "object" || type === "closure" || type === "native" ? `${type}: ${snap.strings[snap.nodes[i + iName]!]!.slice(0, 60)}` : `(${type})`;
    const n = byName.get(key) ?? { bytes: 0, count: 0 };
    n.bytes += size;
    n.count++;
    byName.set(key, n);
  }
  const sorted = <T extends { bytes: number }>(m: Map<string, T>) => [...m].sort((a, b) => b[1].bytes - a[1].bytes);
  return {
    totalBytes: total,
    nodes: snap.nodes.length / width,
    byType: sorted(byType).map(([type, v]) => ({ type, ...v })),
    top: sorted(byName)
      .slice(0, topN)
      .map(([name, v]) => ({ name, ...v })),
  };
}
