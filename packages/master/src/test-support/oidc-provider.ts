import { decodeJwt, decodeProtectedHeader, exportJWK, generateKeyPair, SignJWT, type JWK } from "jose";
import type { AddressInfo } from "node:net";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import Provider from "oidc-provider";

/** A real OIDC provider (oidc-provider) on 127.0.0.1 for tests, issuing JWT access tokens by client_credentials. */
export interface TestProvider {
  readonly issuer: string;
  readonly port: number;
  /** The kid of the key it signs with now (changed by {@link TestProvider.rotate}). */
  readonly kid: string;
  /** The private signing key (JWK), to forge tokens that reuse its kid. */
  readonly privateJwk: JWK;
  /** A JWT access token for `client` (its roles set at start) for the resource (audience) asked. */
  token(client: string, resource?: string): Promise<string>;
  /**
   * Rotates the signing key: from now on tokens are signed by a fresh key named `kid`, and
   * the key set (JWKS) lists only that one, so tokens signed before no longer verify.
   */
  rotate(kid: string): Promise<void>;
  /** `jwt`'s header and claims signed again by a fresh key that is not in the key set, under the kid `jwt` names: a forgery. */
  forge(jwt: string): Promise<string>;
  close(): Promise<void>;
}

/** Clients, by id, with the roles (and units) claims their tokens carry, and their tokens' lifetime in seconds (default 300). */
export type TestClients = Record<string, { roles?: string[] | string; units?: string[]; ttl?: number }>;

const newKey = async (kid: string): Promise<JWK> => {
  const { privateKey } = await generateKeyPair("RS256", { extractable: true });
  return { ...(await exportJWK(privateKey)), kid, alg: "RS256", use: "sig" };
};

/** Starts oidc-provider on `port` (0: any) with a fresh RSA signing key named `kid`. */
export async function startTestProvider(options: { port?: number; kid: string; clients: TestClients; audiences?: Record<string, string> }): Promise<TestProvider> {
  let privateJwk = await newKey(options.kid);
  const server: Server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, "127.0.0.1", () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const issuer = `http://127.0.0.1:${port}`;
  // Resource indicator -> the audience its tokens carry.
  const audiences = options.audiences ?? { "urn:hsu": "hsu" };
  const ttl = (client: { clientId?: string } | undefined) => options.clients[client?.clientId ?? ""]?.ttl ?? 300;
  const makeProvider = (jwk: JWK) =>
    new Provider(issuer, {
      jwks: { keys: [jwk] },
      ttl: { ClientCredentials: (_ctx: unknown, _token: unknown, client: { clientId?: string }) => ttl(client) },
      clients: Object.keys(options.clients).map((client_id) => ({
        client_id,
        client_secret: `${client_id}-secret`,
        grant_types: ["client_credentials"],
        redirect_uris: [],
        response_types: [],
      })),
      features: {
        clientCredentials: { enabled: true },
        devInteractions: { enabled: false },
        resourceIndicators: {
          enabled: true,
          defaultResource: () => Object.keys(audiences)[0]!,
          useGrantedResource: () => true,
          getResourceServerInfo: (_ctx: unknown, resource: string, client: { clientId?: string }) => {
            const audience = audiences[resource];
            if (!audience) throw new Provider.errors.InvalidTarget();
            return { scope: "", audience, accessTokenTTL: ttl(client), accessTokenFormat: "jwt", jwt: { sign: { alg: "RS256" } } };
          },
        },
      },
      extraTokenClaims: (_ctx: unknown, token: { clientId?: string }) => {
        const c = options.clients[token.clientId ?? ""];
        return { ...(c?.roles !== undefined ? { roles: c.roles } : {}), ...(c?.units ? { hsu_units: c.units } : {}) };
      },
    });
  // Rotating swaps the provider behind the same server: same issuer and port, a new key set.
  let handle = makeProvider(privateJwk).callback();
  server.on("request", (req: IncomingMessage, res: ServerResponse) => handle(req, res));
  return {
    issuer,
    port,
    get kid() {
      return privateJwk.kid!;
    },
    get privateJwk() {
      return privateJwk;
    },
    async token(client, resource) {
      const body = new URLSearchParams({ grant_type: "client_credentials", ...(resource ? { resource } : {}) });
      const res = await fetch(`${issuer}/token`, {
        method: "POST",
        body,
        headers: { authorization: `Basic ${Buffer.from(`${client}:${client}-secret`).toString("base64")}` },
        signal: AbortSignal.timeout(5000),
      });
      const json = (await res.json()) as { access_token?: string; error?: string; error_description?: string };
      if (!json.access_token) throw new Error(`token for ${client}: ${res.status} ${json.error}: ${json.error_description}`);
      return json.access_token;
    },
    async rotate(kid) {
      privateJwk = await newKey(kid);
      handle = makeProvider(privateJwk).callback();
    },
    async forge(jwt) {
      const { privateKey } = await generateKeyPair("RS256");
      const header = decodeProtectedHeader(jwt);
      return new SignJWT(decodeJwt(jwt)).setProtectedHeader({ ...header, alg: "RS256" }).sign(privateKey);
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
