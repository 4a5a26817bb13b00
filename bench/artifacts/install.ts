// Install time of a 50 MB artifact: hsu (download + sha256 + minisign verify + safe extract + switch)
// against the floor of shell tools on the same file from the same local HTTP server, interleaved
// in one run, median of N rounds. Run: node --conditions=@hsu/source bench/artifacts/install.ts [--mb=50] [--rounds=5] [--tmp=/dev/shm]
import { execFileSync, spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseDeployment } from "../../packages/master/src/config/index.ts";
import { installUnit } from "../../packages/master/src/artifacts/install.ts";
import { generateKeyPair, signFile } from "../../packages/master/src/artifacts/minisign.ts";

const arg = (name: string, d: number) => Number(process.argv.find((a) => a.startsWith(`--${name}=`))?.split("=")[1] ?? d);
const MB = arg("mb", 50);
const ROUNDS = arg("rounds", 5);
// --tmp=/dev/shm takes the disk's writeback out of the figures (both sides write the same files).
const TMP = process.argv.find((a) => a.startsWith("--tmp="))?.slice(6) ?? tmpdir();
const work = mkdtempSync(join(TMP, "hsu-bench-art-"));
const sh = (cmd: string) => execFileSync("bash", ["-eo", "pipefail", "-c", cmd], { cwd: work, encoding: "utf8" });

// The artifact: MB files of 1 MiB random bytes (incompressible, so the archive is MB big) and a program.
mkdirSync(join(work, "build", "bin"), { recursive: true });
writeFileSync(join(work, "build", "bin", "app"), "#!/bin/sh\nexec sleep 1000\n", { mode: 0o755 });
for (let i = 0; i < MB; i++) writeFileSync(join(work, "build", `data-${i}.bin`), randomBytes(1 << 20));
sh("tar -czf app.tar.gz -C build .");
const sha = createHash("sha256").update(readFileSync(join(work, "app.tar.gz"))).digest("hex");
const { publicKeyText, secretKey } = await generateKeyPair();
writeFileSync(join(work, "app.tar.gz.minisig"), await signFile(join(work, "app.tar.gz"), secretKey));
writeFileSync(join(work, "key.pub"), publicKeyText);
const bytes = readFileSync(join(work, "app.tar.gz")).length;

// The server is its own process, so neither side shares its event loop or CPU slice with it.
const server = spawn(process.execPath, ["-e", `
const http = require("node:http"), fs = require("node:fs"), path = require("node:path");
http.createServer((req, res) => {
  const f = path.join(${JSON.stringify(work)}, path.basename(req.url));
  fs.stat(f, (e, st) => {
    if (e) return res.writeHead(404).end();
    res.writeHead(200, { "content-length": st.size, etag: '"' + st.mtimeMs + '"' });
    fs.createReadStream(f).pipe(res);
  });
}).listen(0, "127.0.0.1", function () { process.stdout.write(String(this.address().port) + "\\n"); });
`], { stdio: ["ignore", "pipe", "inherit"] });
const port = await new Promise<string>((r) => server.stdout!.once("data", (d: Buffer) => r(d.toString().trim())));
const url = `http://127.0.0.1:${port}/app.tar.gz`;

const spec = (verify: "sha256" | "both") =>
  `master:\n  state_dir: ${join(work, "state")}\n  trusted_keys: [{ file: ${join(work, "key.pub")} }]\nunits:\n  app:\n    command: bin/app\n    source: { url: "${url}"${verify === "both" ? `, sha256: "${sha}"` : `, sha256: "${sha}", signature: ""`} }\n`;

async function hsuRound(verify: "sha256" | "both"): Promise<number> {
  rmSync(join(work, "state"), { recursive: true, force: true });
  mkdirSync(join(work, "state"), { mode: 0o700 });
  let text = spec(verify);
  if (verify === "sha256") text = text.replace(/  trusted_keys: .*\n/, "").replace(`, signature: ""`, "");
  const d = parseDeployment(text, "hsu.yaml", work, { environment: false });
  const t0 = performance.now();
  const o = await installUnit(d, d.units.app!);
  const ms = performance.now() - t0;
  if (o.action !== "installed") throw new Error(`expected an install, got ${o.action}`);
  return ms;
}

// The command a user runs: the same install plus the CLI's own start (the built bundle when there is one).
const bundle = join(import.meta.dirname, "..", "..", "packages", "master", "dist", "bundle", "hsu.js");
const cliArgv = existsSync(bundle) ? [bundle] : ["--conditions=@hsu/source", join(import.meta.dirname, "..", "..", "packages", "master", "src", "cli", "bin.ts")];
const cliLabel = existsSync(bundle) ? "bundle" : "from source";
function cliRound(): number {
  rmSync(join(work, "state"), { recursive: true, force: true });
  mkdirSync(join(work, "state"), { mode: 0o700 });
  writeFileSync(join(work, "hsu.yaml"), spec("both"));
  const t0 = performance.now();
  execFileSync(process.execPath, [...cliArgv, "install", "-f", join(work, "hsu.yaml")], { stdio: "ignore" });
  return performance.now() - t0;
}

function shellRound(cmd: string): number {
  rmSync(join(work, "out"), { recursive: true, force: true });
  mkdirSync(join(work, "out"));
  const t0 = performance.now();
  sh(cmd);
  return performance.now() - t0;
}

const floors: Record<string, string> = {
  "curl \\| sha256sum \\| tar (a pipe: extracts before it knows)": `curl -sf ${url} | tee >(sha256sum > out.sum) | tar -xzf - -C out`,
  "curl -o; sha256sum -c; minisign -V; tar -xzf": `curl -sf ${url} -o out/a.tar.gz && echo "${sha}  out/a.tar.gz" | sha256sum -c --quiet && minisign -Vq -p key.pub -m out/a.tar.gz -x app.tar.gz.minisig && tar -xzf out/a.tar.gz -C out`,
};
const haveMinisign = (() => {
  try {
    sh("command -v minisign");
    return true;
  } catch {
    return false;
  }
})();
const cells: [string, () => Promise<number> | number][] = [
  ["hsu installUnit: sha256 pin", () => hsuRound("sha256")],
  ["hsu installUnit: sha256 + minisign", () => hsuRound("both")],
  [`\`hsu install\` CLI (${cliLabel}): sha256 + minisign`, cliRound],
  ...Object.entries(floors)
    .filter(([, c]) => haveMinisign || !c.includes("minisign"))
    .map(([name, cmd]) => [name, () => shellRound(cmd)] as [string, () => number]),
];
const times = new Map<string, number[]>(cells.map(([n]) => [n, []]));
try {
  for (let r = 0; r < ROUNDS + 1; r++) {
    for (const [name, run] of cells) {
      const ms = await run();
      if (r > 0) times.get(name)!.push(ms); // round 0 warms the page cache and the JIT
    }
  }
} finally {
  server.kill();
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
const floor = median(times.get(cells[3]![0])!);
console.log(`artifact: ${(bytes / 1e6).toFixed(1)} MB tar.gz (${MB} x 1 MiB random + bin/app), local HTTP, files in ${TMP}, ${ROUNDS} rounds, median`);
console.log(`| what | median | min | max | vs curl pipe |\n| --- | --- | --- | --- | --- |`);
for (const [name] of cells) {
  const xs = times.get(name)!;
  console.log(`| ${name} | ${median(xs).toFixed(0)} ms | ${Math.min(...xs).toFixed(0)} ms | ${Math.max(...xs).toFixed(0)} ms | ${(median(xs) / floor).toFixed(2)}x |`);
}
rmSync(work, { recursive: true, force: true });
