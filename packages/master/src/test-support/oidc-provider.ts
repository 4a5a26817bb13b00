import { exportJWK, generateKeyPair, type JWK } from "jose";
import type { AddressInfo } from "node:net";
import { createServer, type Server } from "node:http";
import Provider from "oidc-provider";

/** A real OIDC provider (oidc-provider) on 127.0.0.1 for tests, issuing JWT access tokens by client_credentials. */
export interface TestProvider {
  readonly issuer: string;
  readonly port: number;
  readonly kid: string;
  /** The private signing key (JWK), to forge tokens that reuse its kid. */
  readonly privateJwk: JWK;
  /** A JWT access token for `client` (its roles set at start) for the resource (audience) asked. */
  token(client: string, resource?: string): Promise<string>;
  close(): Promise<void>;
}

/** Clients, by id, with the roles claim their tokens carry. */
export type TestClients = Record<string, { roles?: string[] | string; units?: string[] }>;

/** Starts oidc-provider on `port` (0: any) with a fresh RSA signing key named `kid`. */
export async function startTestProvider(options: { port?: number; kid: string; clients: TestClients; audiences?: Record<string, string> }): Promise<TestProvider> {
  const { privateKey } = await generateKeyPair("RS256", { extractable: true });
  const privateJwk = { ...(await exportJWK(privateKey)), kid: options.kid, alg: "RS256", use: "sig" };
  const server: Server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, "127.0.0.1", () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const issuer = `http://127.0.0.1:${port}`;
  // Resource indicator -> the audience its tokens carry.
  const audiences = options.audiences ?? { "urn:hsu": "hsu" };
  const provider = new Provider(issuer, {
    jwks: { keys: [privateJwk] },
    ttl: { ClientCredentials: 300 },
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
        getResourceServerInfo: (_ctx: unknown, resource: string) => {
          const audience = audiences[resource];
          if (!audience) throw new Provider.errors.InvalidTarget();
          return { scope: "", audience, accessTokenTTL: 300, accessTokenFormat: "jwt", jwt: { sign: { alg: "RS256" } } };
        },
      },
    },
    extraTokenClaims: (_ctx: unknown, token: { clientId?: string }) => {
      const c = options.clients[token.clientId ?? ""];
      return { ...(c?.roles !== undefined ? { roles: c.roles } : {}), ...(c?.units ? { hsu_units: c.units } : {}) };
    },
  });
  server.on("request", provider.callback());
  return {
    issuer,
    port,
    kid: options.kid,
    privateJwk,
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
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
