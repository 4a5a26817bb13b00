export { AddressError, formatAddress, parseAddress, UNIX_PATH_MAX, type UnitAddress } from "./address.ts";
export { listenH2c, type H2cListener, type ListenH2cOptions } from "./listen.ts";
export type { ConnectionLimits, ConnectionStats } from "./connection-guard.ts";
export { bearer, createUnitTransport, type UnitTransportOptions } from "./transport.ts";
export { checkBearer, newToken, type TokenCheck } from "./token.ts";
export { clientAuthOptions, loadTlsFiles, TlsError, watchTls, type ClientAuth, type LoadedTls, type TlsFiles, type TlsReload, type TlsWatcher, type WatchTlsOptions } from "./tls.ts";
export { connectFailureKind, type ConnectFailureHints, type ConnectFailureKind } from "./connect-failure.ts";
