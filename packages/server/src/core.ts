import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import { CoreService, UnitInfoSchema, type UnitInfo } from "@hsu/proto/gen/hsu/core/v1/core_pb.js";
import { checkBearer } from "@hsu/transport";
import { FastContext } from "@hsu/transport/server";

/** What a unit says about itself in GetInfo and in the handshake. */
export function describeUnit(options: {
  unitId: string;
  name: string;
  version: string;
  address: string;
  /** The served services' full names. */
  services: readonly string[];
  startTimeMs: number;
}): UnitInfo {
  return create(UnitInfoSchema, {
    unitId: options.unitId,
    name: options.name,
    version: options.version,
    runtime: { language: "typescript", version: `node ${process.versions.node}`, grpcLibrary: "connect-node 2.3.0" },
    pid: process.pid,
    startTime: timestampFromMs(options.startTimeMs),
    services: [...options.services],
    address: options.address,
  });
}

/** The hsu.core.v1.CoreService implementation. */
export function coreService(options: {
  info: () => UnitInfo;
  token: string | undefined;
  defaultDeadlineMs: number;
  /** Starts the graceful stop; called after the reply is on its way. */
  shutdown: (deadlineMs: number, reason: string) => void;
  /** Reloads HSU_CONFIG_DIR (see reconfigure.ts); without it Reconfigure answers UNIMPLEMENTED. */
  reconfigure?: (generation: bigint, changedFiles: readonly string[]) => Promise<{ generation: bigint; files: { name: string; sha256: string }[] }>;
}): ServiceImpl<typeof CoreService> {
  // Shutdown and Reconfigure change the unit: both need the token.
  const authorize = (method: string, ctx: HandlerContext) => {
    const auth = ctx instanceof FastContext ? ctx.rawHeader("authorization") : ctx.requestHeader.get("authorization");
    const check = checkBearer(auth ?? null, options.token);
    if (check === "missing") {
      throw new ConnectError(`${method} needs the unit's token as \`authorization: Bearer <token>\` metadata`, Code.Unauthenticated);
    }
    if (check === "wrong") throw new ConnectError(`${method}: the token does not match`, Code.PermissionDenied);
  };
  return {
    ping: () => ({ unitId: options.info().unitId }),
    getInfo: () => ({ info: options.info() }),
    shutdown: (req, ctx) => {
      authorize("Shutdown", ctx);
      const d = req.deadline;
      const asked = d ? Number(d.seconds) * 1000 + Math.floor(d.nanos / 1e6) : 0;
      const deadlineMs = asked > 0 ? asked : options.defaultDeadlineMs;
      setImmediate(() => options.shutdown(deadlineMs, req.reason || "Shutdown call"));
      return { deadline: timestampFromMs(Date.now() + deadlineMs) };
    },
    reconfigure: async (req, ctx) => {
      authorize("Reconfigure", ctx);
      if (!options.reconfigure) {
        throw new ConnectError("Reconfigure: this unit has no reload hook (serveUnit's onReconfigure); restart it to load new config", Code.Unimplemented);
      }
      return options.reconfigure(req.generation, req.changedFiles);
    },
  };
}
