import { describe, expect, it } from "vitest";
import { EventHub, type IntegratedEvent } from "./events.ts";

const event = (type: IntegratedEvent["type"], at: number): IntegratedEvent => ({ type, unit: "u", state: "stopped", at });

describe("integrated unit event hub", () => {
  it("buffers events for a reader that is behind, in order, and ends on close after draining", async () => {
    const hub = new EventHub();
    const it = hub.stream()[Symbol.asyncIterator]();
    hub.emit(event("starting", 1));
    hub.emit(event("ready", 2));
    hub.emit(event("idle_shutdown", 3));
    hub.close();
    const seen: number[] = [];
    for (let r = await it.next(); !r.done; r = await it.next()) seen.push(r.value.at);
    expect(seen).toEqual([1, 2, 3]);
  });

  it("ends an iterator when its signal aborts, and stops delivering to it", async () => {
    const hub = new EventHub();
    const abort = new AbortController();
    const seen: string[] = [];
    const reading = (async () => {
      for await (const e of hub.stream(abort.signal)) seen.push(e.type);
    })();
    hub.emit(event("starting", 1));
    await Promise.resolve();
    abort.abort();
    hub.emit(event("ready", 2));
    await reading;
    expect(seen).toEqual(["starting"]);
  });

  it("keeps delivering to other listeners when one throws, and reports the throw", () => {
    const reported: unknown[] = [];
    const hub = new EventHub((e) => reported.push(e));
    const got: string[] = [];
    hub.on(() => {
      throw new Error("listener bug");
    });
    hub.on((e) => got.push(e.type));
    hub.emit(event("ready", 1));
    expect(got).toEqual(["ready"]);
    expect(reported.map((e) => (e as Error).message)).toEqual(["listener bug"]);
  });

  it("unsubscribes a listener", () => {
    const hub = new EventHub();
    const got: string[] = [];
    const off = hub.on((e) => got.push(e.type));
    hub.emit(event("starting", 1));
    off();
    hub.emit(event("ready", 2));
    expect(got).toEqual(["starting"]);
  });
});
