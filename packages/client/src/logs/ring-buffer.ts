/** Fixed-capacity FIFO that overwrites its oldest entry; backs the per-unit log tail. */
export interface RingBuffer<T> {
  push(item: T): void;
  /** The latest `n` items (all when omitted), oldest first. */
  last(n?: number): T[];
  readonly size: number;
}

/** Creates a ring buffer holding at most `capacity` items (0 keeps nothing). */
export function createRingBuffer<T>(capacity: number): RingBuffer<T> {
  const items: T[] = [];
  let head = 0; // index of the oldest item once the buffer is full
  return {
    push(item) {
      if (capacity === 0) return;
      if (items.length < capacity) items.push(item);
      else {
        items[head] = item;
        head = (head + 1) % capacity;
      }
    },
    last(n) {
      const count = Math.max(0, Math.min(n ?? items.length, items.length));
      const out: T[] = new Array(count);
      const start = items.length - count;
      for (let i = 0; i < count; i++) out[i] = items[(head + start + i) % items.length] as T;
      return out;
    },
    get size() {
      return items.length;
    },
  };
}
