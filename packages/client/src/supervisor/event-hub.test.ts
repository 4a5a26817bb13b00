import { describe, expect, it } from "vitest";
import { createEventHub } from "./event-hub.ts";

describe("createEventHub", () => {
  it("delivers every event to several concurrent iterators and listeners", async () => {
    const hub = createEventHub<number>();
    const heard: number[] = [];
    hub.subscribe((n) => heard.push(n));
    const a = hub.iterate();
    const b = hub.iterate();
    const firstOfA = a.next();
    hub.emit(1);
    hub.emit(2);
    expect(await firstOfA).toEqual({ value: 1, done: false });
    expect(await a.next()).toEqual({ value: 2, done: false });
    expect(await b.next()).toEqual({ value: 1, done: false });
    expect(await b.next()).toEqual({ value: 2, done: false });
    expect(heard).toEqual([1, 2]);
  });

  it("unsubscribes an iterator that stops iterating", async () => {
    const hub = createEventHub<number>();
    const consumer = (async () => {
      for await (const n of hub.iterate()) if (n === 2) break;
    })();
    expect(hub.subscriberCount).toBe(1);
    hub.emit(1);
    hub.emit(2);
    await consumer;
    expect(hub.subscriberCount).toBe(0);
    hub.emit(3); // nobody queues it
  });

  it("ends a waiting iterator on abort and on close", async () => {
    const hub = createEventHub<number>();
    const ac = new AbortController();
    const it1 = hub.iterate(ac.signal);
    const pending = it1.next();
    ac.abort();
    expect(await pending).toEqual({ value: undefined, done: true });
    const it2 = hub.iterate();
    const pending2 = it2.next();
    hub.close();
    expect(await pending2).toEqual({ value: undefined, done: true });
    expect(hub.subscriberCount).toBe(0);
    expect(await hub.iterate().next()).toEqual({ value: undefined, done: true });
  });

  it("keeps delivering when a listener throws, and reports the error", () => {
    const errors: unknown[] = [];
    const hub = createEventHub<number>((e) => errors.push(e));
    const heard: number[] = [];
    hub.subscribe(() => {
      throw new Error("boom");
    });
    hub.subscribe((n) => heard.push(n));
    hub.emit(1);
    expect(heard).toEqual([1]);
    expect((errors[0] as Error).message).toBe("boom");
  });
});
