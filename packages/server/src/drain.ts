import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";

/**
 * Counts calls in flight and refuses new ones once draining starts. Calls
 * to the `exempt` services (health, reflection) are neither counted nor
 * refused: a Watch stream must see NOT_SERVING while the unit drains.
 */
export class DrainGate {
  private inflight = 0;
  private draining = false;
  private idleWaiters: Array<() => void> = [];

  private readonly exempt: ReadonlySet<string>;

  constructor(exempt: ReadonlySet<string>) {
    this.exempt = exempt;
  }

  get inFlight(): number {
    return this.inflight;
  }

  /** Stops admitting calls; resolves when none is in flight. */
  drain(): Promise<void> {
    this.draining = true;
    if (this.inflight === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private done(): void {
    this.inflight--;
    if (this.inflight === 0 && this.draining) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      waiters.forEach((w) => w());
    }
  }

  /** The interceptor that does the counting and refusing. */
  interceptor(): Interceptor {
    return (next) => async (req) => {
      if (this.exempt.has(req.service.typeName)) return next(req);
      if (this.draining) throw new ConnectError("the unit is shutting down", Code.Unavailable);
      this.inflight++;
      let res;
      try {
        res = await next(req);
      } catch (e) {
        this.done();
        throw e;
      }
      if (!res.stream) {
        this.done();
        return res;
      }
      const gate = this;
      const source = res.message;
      return {
        ...res,
        message: (async function* () {
          try {
            yield* source;
          } finally {
            gate.done();
          }
        })(),
      };
    };
  }
}
