/** The outcome of one probe: whether it passed, and a short human explanation. */
export interface ProbeResult {
  ok: boolean;
  detail: string;
}

/**
 * One kind of check, ready to run repeatedly against one target. Probes
 * report failures as `{ ok: false }` and never throw for them; `signal`
 * aborts a probe in flight (timeout or monitor stop).
 */
export interface Probe {
  run(signal: AbortSignal): Promise<ProbeResult>;
  /** Releases what the probe keeps between runs (a gRPC connection). */
  close(): void;
}

/** Why a probe was aborted, for its `detail`. */
export function abortReason(signal: AbortSignal): string {
  const r: unknown = signal.reason;
  if (r instanceof Error) return r.message;
  return r === undefined ? "aborted" : String(r);
}

/** An error's message plus its `code` (ECONNREFUSED, ...) when it has one. */
export function errorText(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = (err as { cause?: unknown }).cause;
  const code = (err as { code?: unknown }).code ?? (cause instanceof Error ? (cause as { code?: unknown }).code : undefined);
  const msg = cause instanceof Error && err.message === "fetch failed" ? cause.message : err.message;
  return typeof code === "string" && !msg.includes(code) ? `${code}: ${msg}` : msg;
}
