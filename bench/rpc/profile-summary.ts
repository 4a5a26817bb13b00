// Summarises a V8 .cpuprofile: self time per function and per package, so a
// profile from `run.ts --profile` can be read without DevTools.
//
//   node bench/rpc/profile-summary.ts <file.cpuprofile> [topN]
import { readFileSync } from "node:fs";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const [file, topArg] = process.argv.slice(2);
if (!file) throw new Error("usage: profile-summary.ts <file.cpuprofile> [topN]");
const top = Number(topArg ?? 30);
const profile = JSON.parse(readFileSync(file, "utf8")) as Profile;
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const self = new Map<number, number>();
profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
// Percentages are of busy time: "(idle)" is reported on its own line.
const idleIds = new Set(profile.nodes.filter((n) => n.callFrame.functionName === "(idle)").map((n) => n.id));
const idle = [...self].filter(([id]) => idleIds.has(id)).reduce((a, [, us]) => a + us, 0);
for (const id of idleIds) self.delete(id);
const total = [...self.values()].reduce((a, b) => a + b, 0);
const parent = new Map<number, number>();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

const fnTime = new Map<string, number>();
const pkgTime = new Map<string, number>();
for (const [id, us] of self) {
  const { functionName, url, lineNumber } = byId.get(id)!.callFrame;
  const short = url.replace(/^.*node_modules\//, "").replace(/^file:\/\/.*\/work\/main\//, "");
  const fn = `${functionName || "(anonymous)"} ${short}:${lineNumber + 1}`;
  fnTime.set(fn, (fnTime.get(fn) ?? 0) + us);
  pkgTime.set(packageOf(url, functionName), (pkgTime.get(packageOf(url, functionName)) ?? 0) + us);
}

function packageOf(url: string, name: string): string {
  if (!url) return name.startsWith("(") ? name : "(native)";
  if (url.startsWith("node:")) return url.split("/")[0]!.replace(/^node:internal$/, "node:internal");
  const m = /node_modules\/(?:\.pnpm\/[^/]+\/node_modules\/)?((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (m) return m[1]!;
  return url.replace(/^file:\/\/.*\/work\/main\//, "").split("/").slice(0, 2).join("/");
}

const pct = (us: number) => `${((us / total) * 100).toFixed(1).padStart(5)}%`;
console.log(`busy ${(total / 1000).toFixed(0)} ms (idle ${(idle / 1000).toFixed(0)} ms); percentages are of busy time`);
console.log("\nby package:");
for (const [k, v] of [...pkgTime].sort((a, b) => b[1] - a[1]).slice(0, 15)) console.log(`${pct(v)}  ${k}`);
console.log(`\ntop ${top} functions (self):`);
for (const [k, v] of [...fnTime].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${pct(v)}  ${k}`);

// Who calls the hottest functions: the three heaviest caller chains of each of the top 5.
const callers = new Map<string, Map<string, number>>();
const label = (id: number) => {
  const { functionName, url, lineNumber } = byId.get(id)!.callFrame;
  return `${functionName || "(anonymous)"} ${url.replace(/^.*node_modules\//, "").replace(/^file:\/\/.*\/work\/main\//, "")}:${lineNumber + 1}`;
};
for (const [id, us] of self) {
  const chain: string[] = [];
  for (let p = parent.get(id); p !== undefined && chain.length < 4; p = parent.get(p)) chain.push(label(p).split(" ")[0]!);
  const m = callers.get(label(id)) ?? new Map<string, number>();
  m.set(chain.join(" < "), (m.get(chain.join(" < ")) ?? 0) + us);
  callers.set(label(id), m);
}
console.log("\ncallers of the top 5:");
for (const [k] of [...fnTime].sort((a, b) => b[1] - a[1]).slice(0, 5)) {
  console.log(`${k}`);
  for (const [chain, us] of [...(callers.get(k) ?? [])].sort((a, b) => b[1] - a[1]).slice(0, 3)) console.log(`   ${pct(us)}  < ${chain}`);
}
