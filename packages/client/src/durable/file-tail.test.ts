import { spawn } from "node:child_process";
import { appendFileSync, existsSync, mkdtempSync, openSync, closeSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import type { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { createFakeClock, type FakeClock } from "../clock.ts";
import { createFileTail, watchWithFs, type WatchFile } from "./file-tail.ts";

async function collect(stream: AsyncIterable<Buffer>): Promise<string> {
  let out = "";
  for await (const chunk of stream) out += chunk.toString();
  return out;
}

describe("createFileTail", () => {
  it("follows a file a real process appends to, until the process is gone, losing nothing", async () => {
    const file = join(mkdtempSync(join(tmpdir(), "hsu-tail-")), "out");
    const fd = openSync(file, "w");
    const child = spawn("sh", ["-c", "i=0; while [ $i -lt 2000 ]; do echo line $i; i=$((i+1)); done"], { stdio: ["ignore", fd, "ignore"] });
    closeSync(fd);
    const exited = new Promise((r) => child.once("exit", r));
    const text = await collect(createFileTail(file, { until: exited, pollMs: 5 }));
    const lines = text.trimEnd().split("\n");
    expect(lines).toHaveLength(2000);
    expect(lines.every((l, i) => l === `line ${i}`)).toBe(true);
  });

  it("starts at an offset (where a previous master stopped reading)", async () => {
    const file = join(mkdtempSync(join(tmpdir(), "hsu-tail-")), "out");
    writeFileSync(file, "old 1\nold 2\nnew 1\n");
    const tail = createFileTail(file, { from: "old 1\nold 2\n".length, until: Promise.resolve() });
    expect(await collect(tail)).toBe("new 1\n");
    expect(tail.offset).toBe(18);
  });

  it("waits for a file that does not exist yet", async () => {
    const file = join(mkdtempSync(join(tmpdir(), "hsu-tail-")), "late");
    let done!: () => void;
    const until = new Promise<void>((r) => (done = r));
    const reading = collect(createFileTail(file, { until, pollMs: 5 }));
    writeFileSync(file, "hello\n");
    setTimeout(done, 50);
    expect(await reading).toBe("hello\n");
  });

  it("with a watch on the file, reads an append without any timer firing", async () => {
    const file = join(mkdtempSync(join(tmpdir(), "hsu-tail-")), "out");
    writeFileSync(file, "");
    const clock = createFakeClock();
    let done!: () => void;
    const tail = createFileTail(file, { clock, until: new Promise<void>((r) => (done = r)) });
    const got = new Promise<string>((r) => tail.once("data", (c: Buffer) => r(c.toString())));
    await settle();
    appendFileSync(file, "woken\n");
    expect(await got).toBe("woken\n");
    done();
    tail.resume();
    await new Promise((r) => tail.once("close", r));
  });
});

/** Lets what the stream does after a read (its events, the next read) happen. */
const settle = () => new Promise((r) => setImmediate(r));

/** A file, a fake clock and a tail of the file whose output is collected. */
function fakeClockTail(watch: WatchFile) {
  const file = join(mkdtempSync(join(tmpdir(), "hsu-tail-")), "out");
  writeFileSync(file, "");
  const clock = createFakeClock();
  let done!: () => void;
  const until = new Promise<void>((r) => (done = r));
  const tail = createFileTail(file, { clock, until, watch });
  let text = "";
  tail.on("data", (c: Buffer) => (text += c.toString()));
  const ended = new Promise((r) => tail.once("end", r));
  return { file, clock, tail, done, ended, text: () => text };
}

const whenClosed = (s: Readable) => (s.closed ? Promise.resolve() : new Promise((r) => s.once("close", r)));

/** Moves the clock `ms` forward in steps of at most 1 s, letting every look of the poll happen. */
async function idleFor(clock: FakeClock, ms: number): Promise<void> {
  await settle();
  const end = clock.now() + ms;
  while (clock.now() < end) {
    clock.advance(Math.min(1000, end - clock.now()));
    await settle();
  }
}

/** A watch that never reports a change: a filesystem whose writes inotify misses. */
const silent: WatchFile = () => ({ close() {} });

describe("createFileTail without a working watch", () => {
  it("the safety poll backs off to 30 s while the watch missed nothing, to 2 s once it did, and data resets it", async () => {
    const t = fakeClockTail(silent);
    await idleFor(t.clock, 100_000);
    // Backed off to 30 s, on whole multiples of it: the next look is at 120 s.
    appendFileSync(t.file, "late\n");
    t.clock.advance(19_999);
    await settle();
    expect(t.text()).toBe("");
    t.clock.advance(1);
    await settle();
    expect(t.text()).toBe("late\n");
    // Data reset the backoff: the next look is 50 ms later.
    appendFileSync(t.file, "soon\n");
    t.clock.advance(50);
    await settle();
    expect(t.text()).toBe("late\nsoon\n");
    // The poll found what the watch did not announce: from now on the poll backs off to 2 s only.
    await idleFor(t.clock, 60_000);
    appendFileSync(t.file, "again\n");
    t.clock.advance(2000 - (t.clock.now() % 2000) - 1);
    await settle();
    expect(t.text()).toBe("late\nsoon\n");
    t.clock.advance(1);
    await settle();
    expect(t.text()).toBe("late\nsoon\nagain\n");
    t.done();
    await t.ended;
  });

  it("backed off, idle tails look at the same moments, whenever they started", async () => {
    const a = fakeClockTail(silent);
    await idleFor(a.clock, 100_000);
    // A second tail on the same clock, started off the 30 s grid.
    const file = join(mkdtempSync(join(tmpdir(), "hsu-tail-")), "out");
    writeFileSync(file, "");
    let done!: () => void;
    const b = createFileTail(file, { clock: a.clock, until: new Promise<void>((r) => (done = r)), watch: silent });
    let text = "";
    b.on("data", (c: Buffer) => (text += c.toString()));
    await idleFor(a.clock, 100_333);
    // Now at 200.333 s: both look next at 210 s.
    appendFileSync(a.file, "a\n");
    appendFileSync(file, "b\n");
    a.clock.advance(210_000 - a.clock.now() - 1);
    await settle();
    expect([a.text(), text]).toEqual(["", ""]);
    a.clock.advance(1);
    await settle();
    expect([a.text(), text]).toEqual(["a\n", "b\n"]);
    a.done();
    done();
    await a.ended;
  });

  it("reads to the end at once when the process is gone, not at the next poll", async () => {
    const t = fakeClockTail(silent);
    await settle();
    t.clock.advance(50 + 100 + 200);
    await settle();
    appendFileSync(t.file, "last words\n");
    t.done();
    await t.ended;
    expect(t.text()).toBe("last words\n");
  });

  it("polls every 50 ms, never backing off, when the file cannot be watched (ENOSPC)", async () => {
    const noWatches: WatchFile = () => {
      throw Object.assign(new Error("inotify watch limit reached"), { code: "ENOSPC" });
    };
    const t = fakeClockTail(noWatches);
    await settle();
    for (let i = 0; i < 20; i++) {
      t.clock.advance(50);
      await settle();
    }
    appendFileSync(t.file, "polled\n");
    t.clock.advance(50);
    await settle();
    expect(t.text()).toBe("polled\n");
    t.done();
    await t.ended;
  });

  it("a watch that breaks falls back to the 50 ms poll", async () => {
    let fail!: (e: Error) => void;
    const breaking: WatchFile = (_p, _c, onError) => ((fail = onError), { close() {} });
    const t = fakeClockTail(breaking);
    await settle();
    t.clock.advance(50 + 100 + 200 + 400);
    await settle();
    fail(new Error("watch dropped"));
    // The look already scheduled still comes (at 1550 ms); after it, every 50 ms.
    t.clock.advance(800);
    await settle();
    appendFileSync(t.file, "after\n");
    t.clock.advance(50);
    await settle();
    expect(t.text()).toBe("after\n");
    t.done();
    await t.ended;
  });

  it("closes its watch when destroyed, and when it ends", async () => {
    const closed: string[] = [];
    const counting: WatchFile = (p) => ({ close: () => closed.push(p) });
    const a = fakeClockTail(counting);
    await settle();
    a.tail.destroy();
    await whenClosed(a.tail);
    const b = fakeClockTail(counting);
    await settle();
    b.done();
    await b.ended;
    await whenClosed(b.tail);
    expect(closed).toEqual([a.file, b.file]);
  });

  it("keeps order and loses nothing across many appends found by the poll", async () => {
    const t = fakeClockTail(silent);
    await settle();
    const want: string[] = [];
    for (let i = 0; i < 200; i++) {
      const line = `line ${i} ${"x".repeat(i * 37)}\n`;
      want.push(line);
      appendFileSync(t.file, line);
      if (i % 7 === 0) {
        t.clock.advance(2000);
        await settle();
      }
    }
    t.done();
    await t.ended;
    expect(t.text()).toBe(want.join(""));
  });
});

/** A fake clock that also remembers the delay of every timer set on it. */
function recordingClock(): FakeClock & { delays: number[] } {
  const clock = createFakeClock();
  const delays: number[] = [];
  return { ...clock, delays, setTimer: (ms, fn) => (delays.push(ms), clock.setTimer(ms, fn)) };
}

/** Waits (real time, bounded) until `ok()` holds. */
async function until(ok: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200 && !ok(); i++) await new Promise((r) => setTimeout(r, 10));
  if (!ok()) throw new Error(`timed out waiting for ${what}`);
}

describe("createFileTail, the watch's probe", () => {
  it("where an append is seen to reach the watch, a new tail's poll starts on the shared 30 s grid, not at 50 ms", async () => {
    const dir = mkdtempSync(join(tmpdir(), "hsu-tail-"));
    const clock = recordingClock();
    const tail = (name: string) => {
      writeFileSync(join(dir, name), "");
      let done!: () => void;
      const t = createFileTail(join(dir, name), { clock, until: new Promise<void>((r) => (done = r)), watch: watchWithFs });
      let text = "";
      t.on("data", (c: Buffer) => (text += c.toString()));
      return { t, done, text: () => text, ended: new Promise((r) => t.once("end", r)) };
    };
    const first = tail("first");
    // The probe started (its 2 s deadline is set), and its file goes once its append was seen.
    await until(() => clock.delays.includes(2000), "the probe's start");
    await until(() => !existsSync(join(dir, ".hsu-watch-probe")), "the probe");
    clock.advance(10_000);
    const restarted = tail("restarted");
    await settle();
    // Its first look is at the next whole 30 s (20 s from now), never sooner.
    expect(clock.delays.at(-1)).toBe(20_000);
    // And it still reads an append at once, through the watch.
    appendFileSync(join(dir, "restarted"), "hello\n");
    await until(() => restarted.text() === "hello\n", "the append");
    first.done();
    restarted.done();
    await Promise.all([first.ended, restarted.ended]);
  });

  it("a watch that misses writes (the probe's too) keeps the 50 ms first look", async () => {
    const t = fakeClockTail(silent);
    await settle();
    t.clock.advance(5000); // the probe gave up
    await settle();
    const file = join(dirname(t.file), "second");
    writeFileSync(file, "");
    const clock = recordingClock();
    let done!: () => void;
    const second = createFileTail(file, { clock, until: new Promise<void>((r) => (done = r)), watch: silent });
    second.resume();
    await settle();
    expect(clock.delays).toContain(50);
    t.done();
    done();
    await t.ended;
  });

  it("once output flowed, data resets the poll to 50 ms even where the probe's append was seen (a streaming unit is not left to the watch alone)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "hsu-tail-"));
    const probe = join(dir, "first");
    writeFileSync(probe, "");
    const clock = recordingClock();
    // Reports the probe's append only: the unit's writes reach the tail by the poll alone.
    const probeOnly: WatchFile = (path, onChange, onError) => (path.endsWith(".hsu-watch-probe") ? watchWithFs(path, onChange, onError) : { close() {} });
    let doneFirst!: () => void;
    createFileTail(probe, { clock, until: new Promise<void>((r) => (doneFirst = r)), watch: probeOnly }).resume();
    await until(() => clock.delays.includes(2000), "the probe's start");
    await until(() => !existsSync(join(dir, ".hsu-watch-probe")), "the probe");
    // A unit that already wrote when its tail starts: the first read finds output (no poll involved).
    const file = join(dir, "out");
    writeFileSync(file, "zero\n");
    let done!: () => void;
    const t = createFileTail(file, { clock, until: new Promise<void>((r) => (done = r)), watch: probeOnly });
    let text = "";
    t.on("data", (c: Buffer) => (text += c.toString()));
    await settle();
    await settle();
    expect(text).toBe("zero\n");
    // Data flowed: the next look is 50 ms later, not at the 30 s grid.
    appendFileSync(file, "one\n");
    clock.advance(50);
    await settle();
    expect(text).toBe("zero\none\n");
    done();
    doneFirst();
    await new Promise((r) => t.once("end", r));
  });

  it("a poll that finds bytes the watch did not announce withdraws the probe's word for the tails started after", async () => {
    const dir = mkdtempSync(join(tmpdir(), "hsu-tail-"));
    // Reports only the probe's append: the units' writes are missed.
    const probeOnly: WatchFile = (path, onChange, onError) => (path.endsWith(".hsu-watch-probe") ? watchWithFs(path, onChange, onError) : { close() {} });
    const clock = recordingClock();
    const start = (name: string) => {
      writeFileSync(join(dir, name), "");
      let done!: () => void;
      const t = createFileTail(join(dir, name), { clock, until: new Promise<void>((r) => (done = r)), watch: probeOnly });
      let text = "";
      t.on("data", (c: Buffer) => (text += c.toString()));
      return { done, text: () => text, ended: new Promise((r) => t.once("end", r)) };
    };
    const a = start("a");
    await until(() => clock.delays.includes(2000), "the probe's start");
    await until(() => !existsSync(join(dir, ".hsu-watch-probe")), "the probe");
    appendFileSync(join(dir, "a"), "missed\n");
    // Nothing announced it: the poll finds it at the 30 s grid at the latest.
    clock.advance(30_000);
    await settle();
    expect(a.text()).toBe("missed\n");
    clock.delays.length = 0;
    const b = start("b");
    await settle();
    expect(clock.delays).toContain(50);
    a.done();
    b.done();
    await Promise.all([a.ended, b.ended]);
  });
});
