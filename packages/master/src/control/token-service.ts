import { create } from "@bufbuild/protobuf";
import { timestampFromMs, timestampMs } from "@bufbuild/protobuf/wkt";
import { HsuError } from "@hsu/client";
import { ApiTokenSchema, type ApiToken, type ControlService } from "@hsu/proto";
import type { ServiceImpl } from "@connectrpc/connect";
import type { Role } from "../auth/principal.ts";
import type { TokenInfo, TokenStore } from "../auth/tokens.ts";

/** A stored token as the wire message (no secret, no hash). */
export function toApiToken(t: TokenInfo): ApiToken {
  return create(ApiTokenSchema, {
    id: t.id,
    name: t.name,
    created: timestampFromMs(t.created),
    ...(t.expires !== undefined ? { expires: timestampFromMs(t.expires) } : {}),
    roles: [...t.roles],
    units: [...t.units],
    methods: [...t.methods],
    ...(t.revoked !== undefined ? { revoked: timestampFromMs(t.revoked) } : {}),
  });
}

const guard = <T>(fn: () => T): T => {
  try {
    return fn();
  } catch (e) {
    throw HsuError.from(e).toConnectError();
  }
};

/** CreateToken, ListTokens and RevokeToken over the master's token store (the master is its only writer). */
export function tokenService(tokens: TokenStore): Pick<ServiceImpl<typeof ControlService>, "createToken" | "listTokens" | "revokeToken"> {
  return {
    createToken: (req) =>
      guard(() => {
        const { token, info } = tokens.create({
          name: req.name,
          roles: req.roles as Role[],
          units: req.units,
          methods: req.methods,
          ...(req.expires ? { expires: timestampMs(req.expires) } : {}),
        });
        return { token, info: toApiToken(info) };
      }),
    listTokens: () => guard(() => ({ tokens: tokens.list().map(toApiToken) })),
    revokeToken: (req) => guard(() => ({ info: toApiToken(tokens.revoke(req.id)) })),
  };
}
