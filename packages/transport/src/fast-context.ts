import type { DescMethod, DescService } from "@bufbuild/protobuf";
import { createContextValues, type ContextValues, type HandlerContext } from "@connectrpc/connect";
import type { IncomingHttpHeaders } from "node:http2";
import { fromIncoming } from "./grpc-wire.ts";

/**
 * A HandlerContext for one call on the unary fast path. Everything a call
 * may never look at (the abort signal, the header objects, the context
 * values, the url) is built on first use: most unary handlers touch none of
 * them, and connect's createHandlerContext builds all of them every time
 * (an AbortController alone is a tenth of a call's CPU there).
 */
export class FastContext implements HandlerContext {
  readonly method: DescMethod;
  readonly service: DescService;
  readonly requestMethod = "POST";
  readonly protocolName = "grpc";
  /** Set once the call failed or finished on the wire (deadline, cancel, shutdown). */
  abortReason: unknown = undefined;
  private readonly rawHeaders: IncomingHttpHeaders;
  private readonly deadlineAt: number | undefined;
  private controller: AbortController | undefined;
  private reqHeader: Headers | undefined;
  private resHeader: Headers | undefined;
  private resTrailer: Headers | undefined;
  private ctxValues: ContextValues | undefined;
  /** Called when the signal is first created, so shutdown can reach it. */
  private readonly onSignal: (ctx: FastContext) => void;

  constructor(
    method: DescMethod,
    rawHeaders: IncomingHttpHeaders,
    timeoutMs: number | undefined,
    onSignal: (ctx: FastContext) => void,
  ) {
    this.method = method;
    this.service = method.parent;
    this.rawHeaders = rawHeaders;
    this.deadlineAt = timeoutMs === undefined ? undefined : Date.now() + timeoutMs;
    this.onSignal = onSignal;
  }

  get signal(): AbortSignal {
    if (this.controller === undefined) {
      this.controller = new AbortController();
      if (this.abortReason !== undefined) this.controller.abort(this.abortReason);
      else this.onSignal(this);
    }
    return this.controller.signal;
  }

  /** Aborts the call's signal (created now only if it was ever asked for). */
  abort(reason: unknown): void {
    if (this.abortReason !== undefined) return;
    this.abortReason = reason;
    this.controller?.abort(reason);
  }

  /** True when the handler has asked for the signal. */
  get hasSignal(): boolean {
    return this.controller !== undefined;
  }

  readonly timeoutMs = (): number | undefined => (this.deadlineAt === undefined ? undefined : this.deadlineAt - Date.now());

  /**
   * One request header as received, without building the Headers object
   * (whose first use in a process loads Node's fetch implementation).
   */
  rawHeader(name: string): string | undefined {
    const v = this.rawHeaders[name];
    return Array.isArray(v) ? v.join(", ") : v;
  }

  get requestHeader(): Headers {
    return (this.reqHeader ??= fromIncoming(this.rawHeaders));
  }

  get responseHeader(): Headers {
    return (this.resHeader ??= new Headers());
  }

  get responseTrailer(): Headers {
    return (this.resTrailer ??= new Headers());
  }

  /** The response headers if anything set one, without creating them. */
  get responseHeaderIfAny(): Headers | undefined {
    return this.resHeader;
  }

  /** The response trailers if anything set one, without creating them. */
  get responseTrailerIfAny(): Headers | undefined {
    return this.resTrailer;
  }

  get values(): ContextValues {
    return (this.ctxValues ??= createContextValues());
  }

  get url(): string {
    const h = this.rawHeaders;
    return `${h[":scheme"] ?? "http"}://${h[":authority"] ?? h.host ?? "localhost"}${h[":path"]}`;
  }
}

