import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import {
  Health,
  HealthCheckResponse_ServingStatus as Status,
  HealthCheckResponseSchema,
  type HealthCheckRequest,
  type HealthCheckResponse,
} from "@hsu/proto/gen/grpc/health/v1/health_pb.js";

/** A serving status as grpc.health.v1 defines it. */
export type ServingStatus = Status;
export { Status as ServingStatusValues };

/**
 * The unit's health table: one status per service name ("" is the whole
 * unit), with Watch subscribers told of every change.
 */
export class HealthRegistry {
  private readonly statuses = new Map<string, Status>();
  private readonly watchers = new Set<() => void>();
  private closed = false;

  /** Sets one service's status and wakes its watchers. */
  set(service: string, status: Status): void {
    if (this.statuses.get(service) === status) return;
    this.statuses.set(service, status);
    this.wake();
  }

  /** Sets every known service (and the whole unit) to one status. */
  setAll(status: Status): void {
    for (const name of this.statuses.keys()) this.statuses.set(name, status);
    this.wake();
  }

  /** The status of one service, or undefined when it is not known. */
  get(service: string): Status | undefined {
    return this.statuses.get(service);
  }

  /** Ends every Watch stream (the unit is about to exit). */
  close(): void {
    this.closed = true;
    this.wake();
  }

  private wake(): void {
    for (const w of [...this.watchers]) w();
  }

  private changed(signal: AbortSignal): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = () => {
        this.watchers.delete(done);
        signal.removeEventListener("abort", done);
        resolve();
      };
      this.watchers.add(done);
      signal.addEventListener("abort", done, { once: true });
    });
  }

  /** The grpc.health.v1.Health implementation over this table. */
  service(): ServiceImpl<typeof Health> {
    const reply = (status: Status): HealthCheckResponse => create(HealthCheckResponseSchema, { status });
    return {
      check: (req) => {
        const status = this.statuses.get(req.service);
        if (status === undefined) throw new ConnectError(`unknown service "${req.service}"`, Code.NotFound);
        return reply(status);
      },
      list: () => ({
        statuses: Object.fromEntries([...this.statuses].map(([name, status]) => [name, reply(status)])),
      }),
      watch: async function* (this: HealthRegistry, req: HealthCheckRequest, ctx: HandlerContext) {
        let last: Status | undefined;
        while (!ctx.signal.aborted) {
          const status = this.statuses.get(req.service) ?? Status.SERVICE_UNKNOWN;
          if (status !== last) {
            last = status;
            yield reply(status);
          }
          if (this.closed) return;
          await this.changed(ctx.signal);
        }
      }.bind(this),
    };
  }
}
