import { HsuError } from "../errors.ts";
import { isValidUnitId } from "./spec.ts";
import type { Supervisor } from "./supervisor.ts";
import type { UnitSnapshot } from "./unit-events.ts";

/** Options of {@link createPool}. */
export interface PoolOptions {
  /** The supervisor the replicas live in. */
  supervisor: Supervisor;
  /** The pool name; replicas are `<name>-<index>`. */
  name: string;
  /** The spec every replica is made from (without `id`; `env` gets HSU_INDEX and HSU_POOL added). */
  template: Record<string, unknown>;
  /** Replicas to start with (default 0: call `scale`). */
  replicas?: number;
}

/** N replicas of one spec, scaled at run time. */
export interface Pool {
  readonly name: string;
  /** The number of replicas the pool currently holds. */
  readonly size: number;
  /** Replica unit ids, by index. */
  ids(): string[];
  /**
   * Grows to `n` (adding `<name>-<size>` .. `<name>-<n-1>`, started when the template's
   * autoStart allows) or shrinks to `n`, stopping highest indices first, one after the other, gracefully.
   */
  scale(n: number): Promise<UnitSnapshot[]>;
  /** Scales to zero. */
  close(): Promise<void>;
}

/** Creates a worker pool and scales it to `replicas`. */
export async function createPool(options: PoolOptions): Promise<Pool> {
  const { supervisor, name } = options;
  if (!isValidUnitId(`${name}-0`)) {
    throw new HsuError("invalid_config", `pool name "${name}" does not give valid unit ids ("${name}-0")`, { unit: name, field: "name" });
  }
  if (options.template.id !== undefined) {
    throw new HsuError("invalid_config", "a pool template must not set id: replicas are named <pool>-<index>", { unit: name, field: "id" });
  }
  let size = 0;
  // Scale calls run one at a time so the replica count never goes through odd states.
  let queue: Promise<unknown> = Promise.resolve();
  const replicaSpec = (index: number): Record<string, unknown> => {
    const env = (options.template.env ?? {}) as Record<string, string>;
    return { ...options.template, id: `${name}-${index}`, env: { ...env, HSU_INDEX: String(index), HSU_POOL: name } };
  };
  const pool: Pool = {
    name,
    get size() {
      return size;
    },
    ids: () => Array.from({ length: size }, (_, i) => `${name}-${i}`),
    scale(n) {
      if (!Number.isInteger(n) || n < 0) {
        return Promise.reject(new HsuError("invalid_argument", `replica count must be a whole number >= 0 (got ${n})`, { unit: name }));
      }
      const next = queue.then(async () => {
        while (size < n) {
          await supervisor.add(replicaSpec(size));
          size++;
        }
        while (size > n) {
          await supervisor.remove(`${name}-${size - 1}`);
          size--;
        }
        return pool.ids().map((id) => supervisor.get(id));
      });
      queue = next.catch(() => undefined);
      return next;
    },
    async close() {
      await pool.scale(0);
    },
  };
  if (options.replicas) await pool.scale(options.replicas);
  return pool;
}
