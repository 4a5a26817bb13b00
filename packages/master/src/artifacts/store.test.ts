import { existsSync, mkdirSync, mkdtempSync, readlinkSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parseDeployment } from "../config/index.ts";
import { collectGarbage, commitTree, currentSha, ensureStore, hasTree, readHistory, recordInstall, removeTree, stagingDir, storePaths, switchCurrent } from "./store.ts";

const tmp = mkdtempSync(join(tmpdir(), "hsu-store-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const shaOf = (c: string) => c.repeat(64);

async function staged(p: ReturnType<typeof storePaths>, sha: string): Promise<void> {
  const dir = stagingDir(p);
  mkdirSync(join(dir, "bin"), { recursive: true });
  writeFileSync(join(dir, "bin", "app"), "#!/bin/sh\n", { mode: 0o755 });
  await commitTree(p, dir, sha);
}

describe("the artifact store", () => {
  it("commits trees read-only, switches current by rename, keeps the last N in history and collects the rest", async () => {
    const p = storePaths(join(tmp, "state"));
    await ensureStore(p);
    for (const c of ["a", "b", "c"]) {
      await staged(p, shaOf(c));
      await recordInstall(p, "app", { sha256: shaOf(c), url: `https://x/${c}.tgz`, installedAt: "t" }, 2);
      await switchCurrent(p, "app", shaOf(c));
    }
    expect(statSync(join(p.trees, shaOf("c"), "bin", "app")).mode & 0o222).toBe(0);
    expect(readlinkSync(join(p.units, "app", "current"))).toBe(`../../trees/${shaOf("c")}`);
    expect(await currentSha(p, "app")).toBe(shaOf("c"));
    expect((await readHistory(p, "app")).map((e) => e.sha256)).toEqual([shaOf("b"), shaOf("c")]);
    expect(await collectGarbage(p)).toEqual([shaOf("a")]);
    expect(await hasTree(p, shaOf("a"))).toBe(false);
    expect(await hasTree(p, shaOf("b"))).toBe(true);
  });

  it("a second commit of the same tree keeps the first and drops the staging copy", async () => {
    const p = storePaths(join(tmp, "state2"));
    await ensureStore(p);
    await staged(p, shaOf("d"));
    await staged(p, shaOf("d"));
    expect(await hasTree(p, shaOf("d"))).toBe(true);
    expect(existsSync(p.staging) && (await import("node:fs")).readdirSync(p.staging)).toEqual([]);
    await removeTree(join(p.trees, shaOf("d")));
    expect(await hasTree(p, shaOf("d"))).toBe(false);
  });
});

describe("source: in hsu.yaml", () => {
  it("puts a source unit's relative command and cwd inside its current tree; a bare command stays on PATH", () => {
    const d = parseDeployment(
      `master:\n  state_dir: ${join(tmp, "s")}\nunits:\n  a:\n    command: bin/app\n    source: { url: "file:a.tgz", sha256: "${shaOf("e")}" }\n  b:\n    command: node\n    cwd: www\n    source: { url: "https://h/b.zip", sha256: "${shaOf("f").toUpperCase()}", max_size: 1MiB, keep: 5 }\n`,
      "hsu.yaml",
      tmp,
      { environment: false },
    );
    const cur = (id: string) => join(tmp, "s", "artifacts", "units", id, "current");
    expect(d.units.a!.command).toBe(join(cur("a"), "bin/app"));
    expect(d.units.a!.cwd).toBe(cur("a"));
    expect(d.units.a!.source).toMatchObject({ url: `file://${join(tmp, "a.tgz")}`, format: "tgz", signatureUrl: undefined, keep: 3 });
    expect(d.units.b!.command).toBe("node");
    expect(d.units.b!.cwd).toBe(join(cur("b"), "www"));
    expect(d.units.b!.source).toMatchObject({ format: "zip", sha256: shaOf("f"), maxBytes: 1 << 20, keep: 5 });
  });

  it("with trusted keys the signature defaults to url.minisig", () => {
    const key = "RWQf6LRCGA9i53mlYecO4IzT51TGPpvWucNSCh1CBM0QTaLn73Y7GFO3";
    const d = parseDeployment(`master:\n  state_dir: ${join(tmp, "s")}\n  trusted_keys: ["${key}"]\nunits:\n  a:\n    command: bin/app\n    source: { url: "https://h/a.tar.gz" }\n`, "hsu.yaml", tmp, { environment: false });
    expect(d.units.a!.source!.signatureUrl).toBe("https://h/a.tar.gz.minisig");
    expect(d.master.trustedKeys).toEqual([{ text: key }]);
  });
});
