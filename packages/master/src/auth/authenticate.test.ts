import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { HsuError } from "@hsu/client";
import { afterAll, describe, expect, it } from "vitest";
import { ANONYMOUS, authenticate, CONTROL_TOKEN_PRINCIPAL } from "./authenticate.ts";
import { openTokenStore } from "./tokens.ts";

const dir = mkdtempSync(join(tmpdir(), "hsu-authn-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const tokens = openTokenStore({ stateDir: dir });
const { token } = tokens.create({ name: "ci", roles: ["viewer"] });
const jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln";

describe("authenticate", () => {
  it("no header: anonymous (the listener decides whether that is enough)", async () => {
    expect(await authenticate(undefined, { tokens })).toEqual({ principal: ANONYMOUS });
  });

  it("an API token, the control token, a JWT through the OIDC hook", async () => {
    expect(await authenticate(`Bearer ${token}`, { tokens })).toMatchObject({ principal: { kind: "api-token", roles: ["viewer"] } });
    expect(await authenticate("Bearer legacy-secret", { tokens, controlToken: "legacy-secret" })).toEqual({ principal: CONTROL_TOKEN_PRINCIPAL });
    const oidc = async (t: string) => ({ kind: "oidc" as const, subject: `iss|${t.length}`, roles: ["operator" as const], units: [], methods: [] });
    expect(await authenticate(`Bearer ${jwt}`, { tokens, oidc })).toMatchObject({ principal: { kind: "oidc", roles: ["operator"] } });
  });

  it("refusals say why", async () => {
    expect(await authenticate("Basic dXNlcjpwdw==", { tokens })).toEqual({ refused: "the authorization header is not `Bearer <token>`" });
    expect(await authenticate("Bearer wrong", { tokens, controlToken: "legacy-secret" })).toMatchObject({ refused: expect.stringContaining("neither an API token") });
    expect(await authenticate(`Bearer ${jwt}`, { tokens })).toMatchObject({ refused: expect.stringContaining("neither an API token") });
    const oidc = async () => {
      throw new Error("the token expired 5 s ago");
    };
    expect(await authenticate(`Bearer ${jwt}`, { tokens, oidc })).toEqual({ refused: "the JWT was not accepted: the token expired 5 s ago" });
    expect(await authenticate(`Bearer ${token}`, {})).toEqual({ refused: "this master has no API tokens" });
  });

  it("a JWT the verifier cannot check now (its provider down) is unavailable, not a bad credential; a role-less one is denied", async () => {
    const down = async () => {
      throw new HsuError("unavailable", "cannot fetch the key set of http://idp: connect ECONNREFUSED");
    };
    expect(await authenticate(`Bearer ${jwt}`, { tokens, oidc: down })).toEqual({ refused: "the JWT cannot be checked now: cannot fetch the key set of http://idp: connect ECONNREFUSED", unavailable: true });
    const roleless = async () => {
      throw new HsuError("permission_denied", "no role mapped for http://idp|x");
    };
    expect(await authenticate(`Bearer ${jwt}`, { tokens, oidc: roleless })).toEqual({ refused: "the JWT was not accepted: no role mapped for http://idp|x", denied: true });
  });
});
