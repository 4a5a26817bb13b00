// `hsu install` and `hsu up` of units from artifacts signed with the real minisign CLI, served by
// a local HTTP server, and every way an artifact or its delivery can go wrong: each one is refused
// with a clear message, no tree is added, `current` does not move, and the running version runs on.
import { execFileSync, spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, statSync, writeFileSync } from "node:fs";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { alive, createProjects, hsu, hsuArgv, until } from "../test-support/hsu-cli.ts";

const root = join(import.meta.dirname, "..", "..", "..", "..");
const projects = createProjects("hsu-install-");
const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");

/** Files the server serves, by path; and how it misbehaves, by path prefix. */
const files = new Map<string, Buffer>();
const seen: { path: string; range?: string }[] = [];
const cutOnce = new Set<string>();
const server = createServer((req, res) => void serve(req, res));
let base = "";

async function serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = req.url ?? "/";
  seen.push({ path, ...(req.headers.range ? { range: req.headers.range } : {}) });
  if (path.startsWith("/redirect/")) return void res.writeHead(302, { location: "file:///etc/hostname.tar.gz" }).end();
  const name = path.replace(/^\/(cut|stall|slow|nosig)\//, "/");
  const body = files.get(name);
  if (!body || (path.startsWith("/nosig/") && name.endsWith(".minisig"))) return void res.writeHead(404).end("not here");
  const etag = `"${sha(body).slice(0, 16)}"`;
  const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? "");
  const from = range && req.headers["if-range"] === etag ? Number(range[1]) : 0;
  const slice = body.subarray(from);
  res.writeHead(from ? 206 : 200, { etag, "content-length": slice.length, ...(from ? { "content-range": `bytes ${from}-${body.length - 1}/${body.length}` } : {}) });
  if (path.startsWith("/cut/") && !name.endsWith(".minisig") && !cutOnce.has(name)) {
    // The first answer ends half way, as a dropped connection does.
    cutOnce.add(name);
    res.write(slice.subarray(0, slice.length >> 1));
    await sleep(50);
    return void res.destroy();
  }
  if (path.startsWith("/stall/")) return void res.write(slice.subarray(0, 1000)); // and never more
  if (path.startsWith("/slow/")) {
    for (let at = 0; at < slice.length && !res.destroyed; at += 64 * 1024) {
      res.write(slice.subarray(at, at + 64 * 1024));
      await sleep(40);
    }
    return void res.end();
  }
  res.end(slice);
}

let tmp: string;
const artifact: Record<string, Buffer> = {};
const sh = (cmd: string, args: string[], cwd = tmp) => execFileSync(cmd, args, { cwd, encoding: "utf8" });

/** A .tar.gz whose bin/app prints its version and stays up; `pad` bytes of noise make it large. */
function build(version: string, pad = 0): Buffer {
  const dir = join(tmp, `build-${version}`);
  mkdirSync(join(dir, "bin"), { recursive: true });
  writeFileSync(join(dir, "bin", "app"), `#!/bin/sh\necho "app ${version} in $(pwd)"\nexec sleep 1000\n`, { mode: 0o755 });
  if (pad) writeFileSync(join(dir, "noise.bin"), randomBytes(pad));
  const out = join(tmp, `app-${version}.tar.gz`);
  sh("tar", ["-czf", out, "-C", dir, "."]);
  return readFileSync(out);
}

const publish = (name: string, body: Buffer) => files.set(`/${name}`, body);
const sign = (name: string, key = "trusted.key") => {
  sh("minisign", ["-S", "-W", "-s", key, "-m", name, "-x", `${name}.minisig`, "-t", `${name} release`]);
  return readFileSync(join(tmp, `${name}.minisig`));
};

beforeAll(async () => {
  execFileSync("bash", [join(root, "scripts/tools/debian.sh"), "minisign"], { stdio: "inherit" });
  tmp = projects.make("");
  sh("minisign", ["-G", "-W", "-p", "trusted.pub", "-s", "trusted.key"]);
  sh("minisign", ["-G", "-W", "-p", "other.pub", "-s", "other.key"]);
  for (const [v, pad] of [["1", 0], ["2", 300_000], ["3", 3_000_000]] as const) {
    artifact[v] = build(v, pad);
    publish(`app-${v}.tar.gz`, artifact[v]);
    publish(`app-${v}.tar.gz.minisig`, sign(`app-${v}.tar.gz`));
  }
  // The same bytes under another name: a new URL, an existing tree.
  publish("app-3b.tar.gz", artifact["3"]!);
  publish("app-3b.tar.gz.minisig", files.get("/app-3.tar.gz.minisig")!);
  // One flipped byte, the signature of the real file beside it.
  const flipped = Buffer.from(artifact["2"]!);
  flipped[flipped.length >> 1] = flipped[flipped.length >> 1]! ^ 0x01;
  publish("flipped.tar.gz", flipped);
  publish("flipped.tar.gz.minisig", files.get("/app-2.tar.gz.minisig")!);
  // Signed by a key hsu.yaml does not trust.
  writeFileSync(join(tmp, "foreign.tar.gz"), artifact["2"]!);
  publish("foreign.tar.gz", artifact["2"]!);
  publish("foreign.tar.gz.minisig", sign("foreign.tar.gz", "other.key"));
  // Correctly signed, hostile inside: an entry that climbs out of the tree.
  sh("python3", ["-c", "import tarfile,io\nt=tarfile.open('escape.tar.gz','w:gz')\nfor n in ['bin/app','../escaped']:\n  i=tarfile.TarInfo(n); d=b'#!/bin/sh\\n'; i.size=len(d); i.mode=0o755; t.addfile(i, io.BytesIO(d))\nt.close()"]);
  publish("escape.tar.gz", readFileSync(join(tmp, "escape.tar.gz")));
  publish("escape.tar.gz.minisig", sign("escape.tar.gz"));
  // More signed, hostile insides: an absolute symlink, a device file, a zip bomb (50 MiB of zeros in ~50 KB).
  const py = [
    "import tarfile,io,zipfile",
    "def app(t):\n  i=tarfile.TarInfo('bin/app'); d=b'#!/bin/sh\\n'; i.size=len(d); i.mode=0o755; t.addfile(i, io.BytesIO(d))",
    "t=tarfile.open('abslink.tar.gz','w:gz'); app(t); l=tarfile.TarInfo('etc'); l.type=tarfile.SYMTYPE; l.linkname='/etc'; t.addfile(l); t.close()",
    "t=tarfile.open('device.tar.gz','w:gz'); app(t); c=tarfile.TarInfo('dev/null'); c.type=tarfile.CHRTYPE; c.devmajor=1; c.devminor=3; t.addfile(c); t.close()",
    "z=zipfile.ZipFile('bomb.zip','w',zipfile.ZIP_DEFLATED); z.writestr('bin/app','#!/bin/sh\\n'); z.writestr('zeros.bin', bytes(50*1024*1024)); z.close()",
  ].join("\n");
  sh("python3", ["-c", py]);
  for (const name of ["abslink.tar.gz", "device.tar.gz", "bomb.zip"]) {
    publish(name, readFileSync(join(tmp, name)));
    publish(`${name}.minisig`, sign(name));
  }
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  projects.removeAll();
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

describe("units installed from signed artifacts", () => {
  let dir: string;
  let pid: number;
  const store = () => join(dir, ".hsu", "artifacts");
  const trees = () => readdirSync(join(store(), "trees")).sort();
  const current = () => readlinkSync(join(store(), "units", "app", "current"));
  const spec = (source: string, master = "") =>
    `master:\n  trusted_keys: [{ file: ${join(tmp, "trusted.pub")} }]\n${master}units:\n  app:\n    command: bin/app\n    source: ${source}\n`;
  const psPid = async () => {
    const r = await hsu(dir, "ps", "--json");
    return (JSON.parse(r.stdout) as { id: string; pid: number }[]).find((u) => u.id === "app")!.pid;
  };

  it("hsu up installs the artifact signed with minisign (fetch, verify, extract) and runs it from its tree", async () => {
    dir = projects.make(spec(`{ url: "${base}/app-1.tar.gz", version: "1" }`));
    const validate = await hsu(dir, "validate");
    expect(validate.code, validate.stderr).toBe(0); // bin/app is checked once the tree is there
    const up = await hsu(dir, "up", "-d");
    expect(up.code, up.stderr).toBe(0);
    expect(up.stderr).toContain(`app: downloading ${base}/app-1.tar.gz`);
    expect(trees()).toEqual([sha(artifact["1"]!)]);
    expect(current()).toBe(`../../trees/${sha(artifact["1"]!)}`);
    pid = await psPid();
    expect(readlinkSync(`/proc/${pid}/cwd`)).toBe(join(store(), "trees", sha(artifact["1"]!)));
    await until("the unit says its version", async () => (await hsu(dir, "logs", "app")).stdout.includes("app 1 in"));
    // Read-only after extraction.
    expect(statSync(join(store(), "trees", sha(artifact["1"]!), "bin", "app")).mode & 0o222).toBe(0);
    const history = JSON.parse(readFileSync(join(store(), "units", "app", "history.json"), "utf8")) as { versions: { keyId: string; version: string }[] };
    expect(history.versions).toMatchObject([{ version: "1", keyId: expect.stringMatching(/^[0-9A-F]{1,16}$/) }]);
    const again = await hsu(dir, "install");
    expect(again.stdout).toContain("app 1: already installed");
  });

  /** Writes hsu.yaml with this source, runs hsu install, and checks nothing moved. */
  async function refused(source: string, message: RegExp, master = "") {
    writeFileSync(join(dir, "hsu.yaml"), spec(source, master));
    const before = { trees: trees(), current: current() };
    const started = Date.now();
    const r = await hsu(dir, "install");
    expect(r.code, r.stdout).toBe(1);
    expect(r.stderr).toMatch(/^hsu install: unit "app": /m);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).toContain("Nothing was installed; the unit keeps the version it had");
    expect({ trees: trees(), current: current() }).toEqual(before);
    expect(readdirSync(join(store(), "staging"))).toEqual([]);
    expect(alive(pid)).toBe(true);
    expect(await psPid()).toBe(pid);
    return { stderr: r.stderr, ms: Date.now() - started };
  }

  it("one flipped byte: the signature does not match", async () => {
    await refused(`{ url: "${base}/flipped.tar.gz" }`, /signature check failed: .*signature does not match the artifact \(tampered or truncated\?\)/);
    expect(readdirSync(join(store(), "downloads"))).toEqual([]); // a bad file is not kept for resuming
  });

  it("signed by a key that is not trusted", async () => {
    await refused(`{ url: "${base}/foreign.tar.gz" }`, /signed by key id [0-9A-F]{1,16}, which is not a trusted key \(the trusted key ids are [0-9A-F]{1,16}\)/);
  });

  it("no signature published", async () => {
    await refused(`{ url: "${base}/nosig/app-2.tar.gz" }`, /cannot get its signature .*app-2\.tar\.gz\.minisig .*the server answered 404/);
  });

  it("a sha256 pin that does not match", async () => {
    await refused(`{ url: "${base}/app-2.tar.gz", sha256: "${"0".repeat(64)}" }`, /sha256 mismatch: expected 0{64} \(source\.sha256\), got [0-9a-f]{64}/);
  });

  it("larger than max_size: stopped while downloading", async () => {
    await refused(`{ url: "${base}/app-2.tar.gz", max_size: 1000 }`, /the artifact is \d+ bytes, past source\.max_size \(1000 bytes\)/);
  });

  it("a server that stalls mid-download: the idle deadline ends the wait", async () => {
    const { ms } = await refused(`{ url: "${base}/stall/app-2.tar.gz", idle_timeout: 1s }`, /the server sent nothing for 1s; the download stalled/);
    expect(ms).toBeLessThan(20_000);
  });

  it("a redirect to a file: URL is refused", async () => {
    await refused(`{ url: "${base}/redirect/app-2.tar.gz" }`, /redirected to file: .*only http\(s\) redirects are followed/);
  });

  it("a signed archive with a ../ entry: extraction refuses it, the staging copy is gone", async () => {
    await refused(`{ url: "${base}/escape.tar.gz" }`, /cannot extract it: .*\.\.\/escaped/);
    expect(existsSync(join(store(), "..", "..", "escaped"))).toBe(false);
    expect(existsSync(join(store(), "escaped"))).toBe(false);
  });

  it("a signed archive with an absolute symlink, a device file, or a zip bomb: each refused, nothing installed, the unit runs on", async () => {
    await refused(`{ url: "${base}/abslink.tar.gz" }`, /entry "etc": symlink to "\/etc": the target is absolute; the archive is unsafe to extract/);
    await refused(`{ url: "${base}/device.tar.gz" }`, /entry "dev\/null": a character device; the archive is unsafe to extract/);
    await refused(`{ url: "${base}/bomb.zip" }`, /inflates to more than 200 times its size .*a decompression bomb/);
  });

  it("a download cut short fails, and the next run resumes it with a Range request and installs", async () => {
    const { stderr } = await refused(`{ url: "${base}/cut/app-2.tar.gz", version: "2" }`, /run it again to resume/);
    expect(stderr).not.toContain("Error:");
    seen.length = 0;
    const r = await hsu(dir, "install");
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/app 2 installed \(sha256 [0-9a-f]{12}, \d+ bytes, resumed at byte \d+, signed by [0-9A-F]{1,16}\)/);
    expect(seen.find((s) => s.path === "/cut/app-2.tar.gz")?.range).toMatch(/^bytes=\d+-$/);
    expect(trees()).toEqual([sha(artifact["1"]!), sha(artifact["2"]!)].sort());
    expect(current()).toBe(`../../trees/${sha(artifact["2"]!)}`);
    // The running version runs on (from the old tree) until it is restarted.
    expect(alive(pid)).toBe(true);
    expect(readlinkSync(`/proc/${pid}/cwd`)).toBe(join(store(), "trees", sha(artifact["1"]!)));
    const restart = await hsu(dir, "restart", "app");
    expect(restart.code, restart.stderr).toBe(0);
    pid = await psPid();
    expect(readlinkSync(`/proc/${pid}/cwd`)).toBe(join(store(), "trees", sha(artifact["2"]!)));
  });

  it("kill -9 of hsu install mid-download: the re-run resumes and completes; keep: 2 drops the oldest tree", async () => {
    writeFileSync(join(dir, "hsu.yaml"), spec(`{ url: "${base}/slow/app-3.tar.gz", version: "3", keep: 2 }`));
    const child = spawn(process.execPath, hsuArgv("install"), { cwd: dir, stdio: "ignore" });
    const downloads = join(store(), "downloads");
    const part = join(downloads, `${sha(Buffer.from(`${base}/slow/app-3.tar.gz`)).slice(0, 32)}.part`);
    const partBytes = () => (existsSync(part) ? statSync(part).size : 0);
    await until("part of the artifact is on disk", () => existsSync(downloads) && partBytes() > 256 * 1024, 30_000);
    child.kill("SIGKILL");
    await new Promise((r) => child.once("exit", r));
    const had = partBytes();
    expect(had).toBeLessThan(artifact["3"]!.length);
    expect(current()).toBe(`../../trees/${sha(artifact["2"]!)}`);
    seen.length = 0;
    const r = await hsu(dir, "install", "--json");
    expect(r.code, r.stderr).toBe(0);
    const [o] = JSON.parse(r.stdout) as { action: string; resumedFrom: number; sha256: string }[];
    expect(o).toMatchObject({ action: "installed", sha256: sha(artifact["3"]!) });
    expect(o!.resumedFrom).toBeGreaterThanOrEqual(had - 64 * 1024);
    expect(seen.filter((s) => s.path === "/slow/app-3.tar.gz").length).toBe(1);
    expect(current()).toBe(`../../trees/${sha(artifact["3"]!)}`);
    expect(trees()).toEqual([sha(artifact["2"]!), sha(artifact["3"]!)].sort());
    expect(existsSync(part) || existsSync(`${part}.meta`)).toBe(false);
  });

  it("a second install while one runs is refused at once, naming the first; the first completes (same bytes: no second tree)", async () => {
    writeFileSync(join(dir, "hsu.yaml"), spec(`{ url: "${base}/slow/app-3b.tar.gz", version: "3b", keep: 2 }`));
    const first = spawn(process.execPath, hsuArgv("install"), { cwd: dir, stdio: "ignore" });
    const done = new Promise<number | null>((r) => first.once("exit", r));
    const part = join(store(), "downloads", `${sha(Buffer.from(`${base}/slow/app-3b.tar.gz`)).slice(0, 32)}.part`);
    await until("the first install is downloading", () => existsSync(part) && statSync(part).size > 64 * 1024, 30_000);
    const second = await hsu(dir, "install");
    expect(second.code).toBe(1);
    expect(second.stderr).toContain(`another install (pid ${first.pid}) is writing the artifact store ${store()}; wait for it to finish`);
    expect(await done).toBe(0);
    expect(trees()).toEqual([sha(artifact["2"]!), sha(artifact["3"]!)].sort());
    expect(current()).toBe(`../../trees/${sha(artifact["3"]!)}`);
    const history = JSON.parse(readFileSync(join(store(), "units", "app", "history.json"), "utf8")) as { versions: { version: string }[] };
    expect(history.versions.map((v) => v.version)).toEqual(["2", "3b"]); // one tree, one entry: "3" became "3b"
  });

  it("hsu apply of a changed source: a bad one is refused before the master restarts anything; a good one installs, then restarts the unit on it", async () => {
    pid = await psPid();
    writeFileSync(join(dir, "hsu.yaml"), spec(`{ url: "${base}/flipped.tar.gz" }`));
    const bad = await hsu(dir, "apply");
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/hsu apply: unit "app": .*signature check failed/);
    expect(await psPid()).toBe(pid);
    // The master still runs the hsu.yaml of `hsu up` (app-1): `hsu install` alone does not tell it.
    writeFileSync(join(dir, "hsu.yaml"), spec(`{ url: "${base}/app-2.tar.gz", version: "2" }`));
    const good = await hsu(dir, "apply");
    expect(good.code, good.stderr).toBe(0);
    expect(good.stdout).toMatch(/restarted\s+app/);
    expect(current()).toBe(`../../trees/${sha(artifact["2"]!)}`);
    await until("the unit runs again", async () => (await psPid()) !== pid && (await psPid()) > 0);
    expect(readlinkSync(`/proc/${await psPid()}/cwd`)).toBe(join(store(), "trees", sha(artifact["2"]!)));
  });

  it("hsu down", async () => {
    const r = await hsu(dir, "down");
    expect(r.code, r.stderr).toBe(0);
  });
});

describe("kill -9 of hsu install at random points", () => {
  // A random spread of kill times over one whole install: each run starts from the same installed v1,
  // and after each kill the store must hold only whole trees and `current` one of them.
  const seed = Number(process.env.HSU_CRASH_SEED ?? Date.now() % 100_000);
  let rand = seed;
  const next = () => ((rand = (rand * 48271) % 2147483647) / 2147483647);

  it(`leaves the old tree or the new one, never a part of one, and the next run completes (seed ${seed}, HSU_CRASH_SEED replays)`, async () => {
    const proto = projects.make("");
    const many = join(tmp, "build-many");
    mkdirSync(join(many, "bin"), { recursive: true });
    writeFileSync(join(many, "bin", "app"), "#!/bin/sh\nexec sleep 1000\n", { mode: 0o755 });
    for (let i = 0; i < 1500; i++) writeFileSync(join(many, `f${i}.txt`), `file ${i}\n`.repeat(50));
    writeFileSync(join(many, "blob.bin"), randomBytes(4 << 20));
    sh("tar", ["-czf", join(proto, "many.tar.gz"), "-C", many, "."]);
    cpSync(join(tmp, "app-1.tar.gz"), join(proto, "app-1.tar.gz"));
    const entries = { [sha(artifact["1"]!)]: 1, [sha(readFileSync(join(proto, "many.tar.gz")))]: 1502 };
    const yaml = (file: string) => `units:\n  app:\n    command: bin/app\n    source: { url: "file:${file}", sha256: "${sha(readFileSync(join(proto, file)))}" }\n`;
    writeFileSync(join(proto, "hsu.yaml"), yaml("app-1.tar.gz"));
    expect((await hsu(proto, "install")).code).toBe(0);
    writeFileSync(join(proto, "hsu.yaml"), yaml("many.tar.gz"));
    const copy = () => {
      const d = projects.make("");
      sh("cp", ["-a", `${proto}/.`, d]);
      return d;
    };
    // One whole install, timed: the kills fall anywhere inside it.
    const t0 = Date.now();
    expect((await hsu(copy(), "install")).code).toBe(0);
    const whole = Date.now() - t0;
    const countFiles = (dir: string): number => readdirSync(dir, { withFileTypes: true }).reduce((n, e) => n + (e.isDirectory() ? countFiles(join(dir, e.name)) : 1), 0);
    const outcomes = { killed: 0, finished: 0 };
    for (let i = 0; i < 8; i++) {
      const d = copy();
      const store = join(d, ".hsu", "artifacts");
      const child = spawn(process.execPath, hsuArgv("install"), { cwd: d, stdio: "ignore" });
      const exited = new Promise<void>((r) => child.once("exit", () => r()));
      await sleep(Math.round(next() * whole));
      child.kill("SIGKILL");
      await exited;
      outcomes[child.signalCode === "SIGKILL" ? "killed" : "finished"]++;
      for (const t of readdirSync(join(store, "trees"))) expect(countFiles(join(store, "trees", t)), `tree ${t} after a kill`).toBe(entries[t]);
      const cur = readlinkSync(join(store, "units", "app", "current")).replace("../../trees/", "");
      expect(Object.keys(entries)).toContain(cur);
      expect(existsSync(join(store, "trees", cur))).toBe(true);
      JSON.parse(readFileSync(join(store, "units", "app", "history.json"), "utf8"));
      const again = await hsu(d, "install");
      expect(again.code, again.stderr).toBe(0);
      expect(readlinkSync(join(store, "units", "app", "current"))).toBe(`../../trees/${sha(readFileSync(join(proto, "many.tar.gz")))}`);
    }
    console.log(`kill -9 spread over a ${whole} ms install (seed ${seed}): ${outcomes.killed} killed mid-way, ${outcomes.finished} finished first`);
    expect(outcomes.killed).toBeGreaterThan(0);
  }, 180_000);
});

describe("a full disk", () => {
  let dir: string;
  let mounted = false;
  afterAll(async () => {
    if (!mounted) return;
    await hsu(dir, "down");
    execFileSync("umount", [join(dir, "state")]);
  });

  it("an artifact larger than the free space of the state dir's disk: refused, the part file dropped, the old version runs on", async (ctx) => {
    dir = projects.make("");
    mkdirSync(join(dir, "state"), { mode: 0o700 });
    try {
      execFileSync("mount", ["-t", "tmpfs", "-o", "size=1536k,mode=0700", "tmpfs", join(dir, "state")], { stdio: "ignore" });
      mounted = true;
    } catch {
      return ctx.skip(); // needs root (CI runs the suites as root)
    }
    cpSync(join(tmp, "app-1.tar.gz"), join(dir, "app-1.tar.gz"));
    cpSync(join(tmp, "app-3.tar.gz"), join(dir, "app-3.tar.gz"));
    const yaml = (v: string) => `master:\n  state_dir: state\nunits:\n  app:\n    command: bin/app\n    source: { url: "file:app-${v}.tar.gz", sha256: "${sha(artifact[v]!)}" }\n`;
    writeFileSync(join(dir, "hsu.yaml"), yaml("1"));
    const up = await hsu(dir, "up", "-d");
    expect(up.code, up.stderr).toBe(0);
    const pid = (JSON.parse((await hsu(dir, "ps", "--json")).stdout) as { pid: number }[])[0]!.pid;
    const store = join(dir, "state", "artifacts");
    writeFileSync(join(dir, "hsu.yaml"), yaml("3"));
    const r = await hsu(dir, "install");
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/unit "app": .*cannot download it: the disk holding .*downloads is full \(ENOSPC\); free some space .*Nothing was installed; the unit keeps the version it had/);
    expect(readdirSync(join(store, "trees"))).toEqual([sha(artifact["1"]!)]);
    expect(readlinkSync(join(store, "units", "app", "current"))).toBe(`../../trees/${sha(artifact["1"]!)}`);
    expect(readdirSync(join(store, "downloads"))).toEqual([]);
    expect(readdirSync(join(store, "staging"))).toEqual([]);
    expect(alive(pid)).toBe(true);
  });
});

describe("hsu validate of source:", () => {
  it("refuses a source nothing would verify, a signature without keys, a name with no archive format (path:line)", async () => {
    const d = projects.make(
      [
        "units:",
        "  a:",
        "    command: bin/a",
        "    source: { url: https://example.com/a.tar.gz }",
        "  b:",
        "    command: bin/b",
        "    source: { url: https://example.com/b.tar.gz, signature: b.minisig }",
        "  c:",
        "    command: bin/c",
        `    source: { url: https://example.com/c.exe, sha256: "${"a".repeat(64)}" }`,
        "  d:",
        "    kind: unmanaged",
        "    pid: 1",
        `    source: { url: https://example.com/d.zip, sha256: "${"a".repeat(64)}" }`,
        "",
      ].join("\n"),
    );
    const r = await hsu(d, "validate");
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/hsu\.yaml:4:\d+: units\.a\.source: nothing would verify this artifact: pin its sha256/);
    expect(r.stderr).toMatch(/hsu\.yaml:7:\d+: units\.b\.source\.signature: a signature needs a key/);
    expect(r.stderr).toMatch(/hsu\.yaml:10:\d+: units\.c\.source\.url: .*must end in \.tar\.gz, \.tgz, \.tar or \.zip/);
    expect(r.stderr).toMatch(/hsu\.yaml:14:\d+: units\.d\.source: "source" does not apply to an unmanaged unit/);
  });

  it("refuses a trusted key that is not a minisign public key", async () => {
    const d = projects.make(`master:\n  trusted_keys: [ "RWQnotakey" ]\nunits:\n  a:\n    command: bin/a\n    source: { url: "file:a.tgz" }\n`);
    cpSync(join(tmp, "app-1.tar.gz"), join(d, "a.tgz"));
    const r = await hsu(d, "validate");
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/hsu\.yaml:2:\d+: master\.trusted_keys\[0\]: not a minisign public key/);
  });
});
