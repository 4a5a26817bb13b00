// Reads a daemon's whole-life .cpuprofile (run.ts --profile) by time: busy ms per second of the
// profile, or self time per function within a window, so the idle window can be read alone.
//
//   node bench/master/profile-window.ts <file.cpuprofile>                 # busy ms per second
//   node bench/master/profile-window.ts <file.cpuprofile> <fromS> <toS>   # top functions in [from, to)
import { readFileSync } from "node:fs";

interface Profile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; parent?: number; children?: number[] }[];
  samples: number[];
  timeDeltas: number[];
}
const [file, fromArg, toArg] = process.argv.slice(2);
if (!file) throw new Error("usage: profile-window.ts <file.cpuprofile> [fromS toS]");
const p = JSON.parse(readFileSync(file, "utf8")) as Profile;
const byId = new Map(p.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const idleIds = new Set(p.nodes.filter((n) => n.callFrame.functionName === "(idle)").map((n) => n.id));
const name = (id: number) => {
  const f = byId.get(id)!.callFrame;
  const where = f.url.replace(/^.*\/packages\//, "").replace(/^.*node_modules\//, "");
  return `${f.functionName || "(anonymous)"} ${where}${f.url ? `:${f.lineNumber + 1}` : ""}`;
};
let t = 0;
if (fromArg === undefined) {
  const perSecond: number[] = [];
  p.samples.forEach((id, i) => {
    t += p.timeDeltas[i] ?? 0;
    if (!idleIds.has(id)) perSecond[Math.floor(t / 1e6)] = (perSecond[Math.floor(t / 1e6)] ?? 0) + (p.timeDeltas[i] ?? 0) / 1000;
  });
  for (let s = 0; s < perSecond.length; s++) process.stdout.write(`${s}s ${(perSecond[s] ?? 0).toFixed(1)} ms busy\n`);
} else {
  const from = Number(fromArg) * 1e6;
  const to = Number(toArg) * 1e6;
  const self = new Map<number, number>();
  const inclusive = new Map<string, number>();
  let busy = 0;
  p.samples.forEach((id, i) => {
    t += p.timeDeltas[i] ?? 0;
    if (t < from || t >= to || idleIds.has(id)) return;
    const d = (p.timeDeltas[i] ?? 0) / 1000;
    busy += d;
    self.set(id, (self.get(id) ?? 0) + d);
    // Inclusive time per function name along the stack (each name once per sample).
    const seen = new Set<string>();
    for (let n: number | undefined = id; n !== undefined; n = parent.get(n)) {
      const k = name(n);
      if (!seen.has(k)) inclusive.set(k, (inclusive.get(k) ?? 0) + d), seen.add(k);
    }
  });
  const secs = (to - from) / 1e6;
  process.stdout.write(`window ${fromArg}-${toArg} s: ${busy.toFixed(0)} ms busy = ${((busy / 1000 / secs) * 100).toFixed(2)} % of a core\n\nself:\n`);
  const bySelf = new Map<string, number>();
  for (const [id, ms] of self) bySelf.set(name(id), (bySelf.get(name(id)) ?? 0) + ms);
  for (const [k, ms] of [...bySelf].sort((a, b) => b[1] - a[1]).slice(0, 15)) process.stdout.write(`${((ms / busy) * 100).toFixed(1).padStart(5)}%  ${k}\n`);
  process.stdout.write("\ninclusive:\n");
  for (const [k, ms] of [...inclusive].sort((a, b) => b[1] - a[1]).slice(0, 25)) process.stdout.write(`${((ms / busy) * 100).toFixed(1).padStart(5)}%  ${k}\n`);
}
