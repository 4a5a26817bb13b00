import { create } from "@bufbuild/protobuf";
import { timestampDate, timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import { HsuError } from "@hsu/client";
import { ControlService, UnitKind, UnitStatusSchema, type UnitStatus } from "@hsu/proto";
import { parseDeployment, SpecError } from "../config/index.ts";
import { inHsuYaml } from "../daemon/config-key.ts";
import type { Master, UnitStatusView } from "../daemon/master.ts";
import { wireState } from "../daemon/state.ts";
import type { GatewayGrants } from "./gateway-grants.ts";
import type { TokenStore } from "../auth/tokens.ts";
import { tokenService } from "./token-service.ts";

const kinds: Record<UnitStatusView["kind"], UnitKind> = {
  managed: UnitKind.MANAGED,
  unmanaged: UnitKind.UNMANAGED,
  integrated: UnitKind.INTEGRATED,
  pool_replica: UnitKind.POOL_REPLICA,
  scheduled: UnitKind.SCHEDULED,
};

/** A unit view as the wire message. */
export function toStatus(v: UnitStatusView): UnitStatus {
  return create(UnitStatusSchema, {
    id: v.id,
    kind: kinds[v.kind],
    state: v.state,
    unitState: wireState(v.state),
    pid: v.pid ?? 0,
    ...(v.startedAt !== undefined ? { startedAt: timestampFromMs(v.startedAt) } : {}),
    restarts: v.restarts,
    cpuPercent: v.cpuPercent ?? 0,
    rssBytes: BigInt(Math.round(v.rssBytes ?? 0)),
    usageSampled: v.cpuPercent !== undefined && v.rssBytes !== undefined,
    health: v.health,
    address: v.address,
    lastExit: v.lastExit,
    pool: v.pool,
    description: v.description,
    ...(v.nextRun !== undefined ? { nextRun: timestampFromMs(v.nextRun) } : {}),
  });
}

/** Every failure leaves as a gRPC status with the HsuError's message. */
async function guard<T>(fn: () => Promise<T> | T): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof ConnectError) throw e;
    throw HsuError.from(inHsuYaml(e)).toConnectError();
  }
}

/** hsu.master.v1.ControlService, implemented once over the in-process master. */
export function controlService(master: Master, onShutdown: () => void, tokens?: TokenStore, grants?: GatewayGrants): ServiceImpl<typeof ControlService> {
  const one = (id: string) => {
    const views = master.get(id);
    if (!views.length) throw new ConnectError(`no unit "${id}"`, Code.NotFound);
    return toStatus(views[0]!);
  };
  // The ids a Start/Stop/RestartUnit request names: `id`, then `ids`, or every unit with `all`.
  const named = (req: { id: string; ids: string[]; all: boolean }): string[] => {
    const ids = [...(req.id ? [req.id] : []), ...req.ids];
    if (req.all && ids.length) throw new ConnectError(`name units or set all, not both (got ${ids.map((i) => `"${i}"`).join(", ")} with all)`, Code.InvalidArgument);
    if (req.all) return Object.keys(master.deployment.units);
    if (!ids.length) throw new ConnectError("name a unit: id, ids, or all (`hsu ps` lists them)", Code.InvalidArgument);
    return ids;
  };
  // Every unit the ids addressed (a pool name: each replica), each once, first as `unit` for older clients.
  const addressed = (ids: string[]) => {
    const seen = new Set<string>();
    const units = ids.flatMap((id) => master.get(id)).filter((v) => !seen.has(v.id) && !!seen.add(v.id)).map(toStatus);
    return { ...(units[0] ? { unit: units[0] } : {}), units };
  };
  const act = (req: Parameters<typeof named>[0], how: (ids: string[]) => Promise<void>) =>
    guard(async () => {
      const ids = named(req);
      await how(ids);
      return addressed(ids);
    });
  const noTokens = () => {
    throw new ConnectError("this master keeps no API tokens", Code.FailedPrecondition);
  };
  return {
    ...(tokens ? tokenService(tokens) : { createToken: noTokens, listTokens: noTokens, revokeToken: noTokens }),
    attachGateway: (requests, ctx) => {
      if (!grants) throw new ConnectError("this master gives no direct grants; call units through it", Code.FailedPrecondition);
      return grants.attach(requests, ctx.signal);
    },
    // Asking for units is what makes the master read their CPU and memory (see Master.sampleUsage).
    listUnits: () => guard(async () => (await master.sampleUsage(), { units: master.list().map(toStatus) })),
    getUnit: (req) => guard(async () => (await master.sampleUsage(), { unit: one(req.id) })),
    startUnit: (req) => act(req, (ids) => master.start(ids)),
    stopUnit: (req) => act(req, (ids) => master.stop(ids)),
    restartUnit: (req) => act(req, (ids) => master.restart(ids)),
    scalePool: (req) =>
      guard(async () => {
        await master.scale(req.pool, req.replicas);
        return { replicas: master.get(req.pool).map(toStatus) };
      }),
    async *streamLogs(req, ctx) {
      const since = req.since ? timestampDate(req.since).getTime() : 0;
      for await (const line of master.logLines(req.units, req.tail || 100, req.follow, ctx.signal)) {
        if (line.time < since) continue;
        yield {
          entry: { unit: line.unit, stream: line.stream, time: timestampFromMs(line.time), text: line.text, seq: BigInt(line.seq), partial: line.partial },
        };
      }
    },
    async *streamEvents(req, ctx) {
      const queue: Parameters<Parameters<Master["onEvent"]>[0]>[0][] = [];
      let wake: (() => void) | undefined;
      const off = master.onEvent((e) => {
        if (req.units.length && !req.units.includes(e.unit)) return;
        queue.push(e);
        wake?.();
      });
      try {
        while (!ctx.signal.aborted) {
          const e = queue.shift();
          if (!e) {
            await new Promise<void>((r) => {
              wake = r;
              ctx.signal.addEventListener("abort", () => r(), { once: true });
            });
            wake = undefined;
            continue;
          }
          yield {
            event: {
              unit: e.unit,
              fromState: e.from,
              toState: e.to,
              fromUnitState: wireState(e.from),
              toUnitState: wireState(e.to),
              reason: e.reason,
              time: timestampFromMs(e.time),
              ...(typeof e.exitCode === "number" ? { exitCode: e.exitCode } : {}),
              signal: e.signal ?? "",
              restarts: e.restarts,
            },
          };
        }
      } finally {
        off();
      }
    },
    apply: (req) =>
      guard(async () => {
        let next;
        try {
          next = parseDeployment(req.specYaml, req.fileName || "hsu.yaml", master.deployment.baseDir);
        } catch (e) {
          if (e instanceof SpecError) throw new ConnectError(e.message, Code.InvalidArgument);
          throw e;
        }
        return master.apply(next, req.dryRun);
      }),
    shutdownMaster: () =>
      guard(async () => {
        const stopped = await master.shutdown();
        setImmediate(onShutdown);
        return { stopped };
      }),
  };
}
