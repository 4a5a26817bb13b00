import { specDefaults } from "../spec/defaults.ts";

/** Timing and thresholds shared by every health check type. */
export interface HealthCheckTiming {
  /** Time between the end of one probe and the start of the next (default 10000). */
  intervalMs: number;
  /** A probe that has not answered by then fails (default 2000). */
  timeoutMs: number;
  /** Wait before the first probe, for slow starters (default 0). */
  initialDelayMs: number;
  /** Consecutive successes before the status turns healthy (default 1). */
  successThreshold: number;
  /** Consecutive failures before the status turns unhealthy (default 3). */
  failureThreshold: number;
}

/** The pid is alive and not a zombie. */
export interface ProcessCheck {
  type: "process";
}

/** An HTTP request answers with an expected status (and body text). */
export interface HttpCheck {
  type: "http";
  url: string;
  /** Default "GET". */
  method?: string;
  headers?: Record<string, string>;
  /** One status or an inclusive [min, max] range; default [200, 399]. */
  expectStatus?: number | [number, number];
  /** Text the response body must contain. */
  bodyContains?: string;
}

/** A TCP connection (host/port, or a Unix socket path) is accepted. */
export type TcpCheck = { type: "tcp"; host?: string; port: number; path?: undefined } | { type: "tcp"; path: string; host?: undefined; port?: undefined };

/** A command exits with code 0 within the timeout. */
export interface ExecCheck {
  type: "exec";
  command: string;
  args?: string[];
  /** Added to (and overriding) the master's environment. */
  env?: Record<string, string>;
  cwd?: string;
}

/** A grpc.health.v1 Check call answers SERVING. */
export interface GrpcCheck {
  type: "grpc";
  /** `unix:/path`, `unix:///path`, `host:port` or `tcp://host:port`. */
  address: string;
  /** The service to ask about; "" (default) is the server's overall status. */
  service?: string;
}

/** A validated health check: one probe type plus its timing (all defaults applied). */
export type HealthCheckSpec = HealthCheckTiming & (ProcessCheck | HttpCheck | TcpCheck | ExecCheck | GrpcCheck);

/** The defaults {@link validateHealthCheckSpec} applies to absent timing fields. */
export const healthCheckDefaults: Readonly<HealthCheckTiming> = specDefaults.health;
