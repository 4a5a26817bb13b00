// `hsu token create|list|revoke`: through the master's control API (CreateToken, ListTokens,
// RevokeToken, admin only), so the master is the one writer of its tokens and a revoke holds from
// the next call on. See docs/auth.md.
import { timestampFromMs, timestampMs } from "@bufbuild/protobuf/wkt";
import type { ApiToken } from "@hsu/proto";
import { parseDuration } from "../config/fields.ts";
import { ROLES } from "../auth/principal.ts";
import { connect } from "./client.ts";
import { relativeTime, table } from "./format.ts";
import { usageError } from "./usage-error.ts";

type Values = Record<string, string | boolean | string[] | undefined>;

/** The usage line of `hsu token`. */
export const TOKEN_ARGS = "create --name NAME --role ROLE... | list | revoke <id>";

const many = (v: unknown): string[] => (Array.isArray(v) ? v.map(String) : typeof v === "string" ? [v] : []);
const ms = (t: ApiToken["created"]) => (t ? timestampMs(t) : undefined);

/** A token as `--json` prints it: no secret, no hash (the master never sends them). */
export function tokenJson(t: ApiToken) {
  const expires = ms(t.expires);
  const revoked = ms(t.revoked);
  return {
    id: t.id,
    name: t.name,
    roles: t.roles,
    units: t.units,
    methods: t.methods,
    created: new Date(ms(t.created) ?? 0).toISOString(),
    ...(expires !== undefined ? { expires: new Date(expires).toISOString() } : {}),
    ...(revoked !== undefined ? { revoked: new Date(revoked).toISOString() } : {}),
  };
}

const status = (t: ApiToken, now: number) => {
  const revoked = ms(t.revoked);
  if (revoked !== undefined) return `revoked ${relativeTime(revoked, now)}`;
  const expires = ms(t.expires);
  if (expires === undefined) return "never expires";
  return expires <= now ? `expired ${relativeTime(expires, now)}` : `expires ${relativeTime(expires, now)}`;
};

/** `hsu token <action>`. */
export async function runToken(values: Values, args: string[]): Promise<number> {
  const [action, ...rest] = args;
  switch (action) {
    case "create": {
      if (rest.length) throw usageError("token", `create takes no arguments, got: ${rest.join(" ")}`, TOKEN_ARGS);
      if (typeof values.name !== "string" || !values.name) throw usageError("token", "name the token: --name ci", TOKEN_ARGS);
      const roles = many(values.role);
      if (!roles.length) throw usageError("token", `give the token a role: --role ${ROLES.join("|")} (repeat for several)`, TOKEN_ARGS);
      for (const r of roles) if (!(ROLES as readonly string[]).includes(r)) throw usageError("token", `unknown role "${r}"; the roles are ${ROLES.join(", ")}`, TOKEN_ARGS);
      let expires: number | undefined;
      if (typeof values.expires === "string") {
        const d = parseDuration(values.expires);
        if (d === undefined || d <= 0) throw usageError("token", `--expires takes a duration like 30d, 12h, 90m; got "${values.expires}"`, TOKEN_ARGS);
        expires = Date.now() + d;
      }
      const { c } = await connect(values);
      const res = await c.createToken({
        name: values.name,
        roles,
        units: many(values.unit),
        methods: many(values.method),
        ...(expires !== undefined ? { expires: timestampFromMs(expires) } : {}),
      });
      if (values.json) {
        process.stdout.write(`${JSON.stringify({ token: res.token, ...tokenJson(res.info!) }, null, 2)}\n`);
      } else {
        process.stdout.write(
          `${res.token}\n` +
            `token ${res.info!.id} ("${res.info!.name}"): ${roles.join(", ")}${res.info!.units.length ? `, units ${res.info!.units.join(", ")}` : ""}` +
            `${res.info!.methods.length ? `, methods ${res.info!.methods.join(", ")}` : ""}; ${status(res.info!, Date.now())}\n` +
            "this is the only time the token is shown: the master keeps only its sha256. Send it as `authorization: Bearer <token>` (the CLI: HSU_CONTROL_TOKEN).\n",
        );
      }
      return 0;
    }
    case "list": {
      if (rest.length) throw usageError("token", `list takes no arguments, got: ${rest.join(" ")}`, TOKEN_ARGS);
      const { c } = await connect(values);
      const { tokens } = await c.listTokens({});
      if (values.json) {
        process.stdout.write(`${JSON.stringify(tokens.map(tokenJson), null, 2)}\n`);
        return 0;
      }
      const now = Date.now();
      const rows = tokens.map((t) => [t.id, t.name, t.roles.join(","), t.units.join(",") || "*", t.methods.join(",") || "*", relativeTime(ms(t.created) ?? now, now), status(t, now)]);
      process.stdout.write(`${table(["ID", "NAME", "ROLES", "UNITS", "METHODS", "CREATED", "STATUS"], rows)}\n`);
      return 0;
    }
    case "revoke": {
      if (rest.length !== 1) throw usageError("token", "revoke takes one token id (`hsu token list` shows them)", TOKEN_ARGS);
      const { c } = await connect(values);
      const { info } = await c.revokeToken({ id: rest[0]! });
      process.stdout.write(values.json ? `${JSON.stringify(tokenJson(info!))}\n` : `token ${info!.id} ("${info!.name}") revoked: the next call with it is refused\n`);
      return 0;
    }
    default:
      throw usageError("token", action ? `unknown action "${action}"` : "say what to do", TOKEN_ARGS);
  }
}
