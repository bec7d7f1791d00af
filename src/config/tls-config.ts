// TLS on the one port and who may call Introspect: TLS_CERT_FILE, TLS_KEY_FILE,
// TLS_CLIENT_CA_FILE, TLS_CLIENT_CERT_OPTIONAL, INTROSPECT_REQUIRE_CLIENT_CERT, INTROSPECT_CALLER_TOKEN,
// AUTHZ_REQUIRE_TENANT_BINDING.
import { bool, ConfigError, type Env } from "./env.js";

export interface TlsConfig {
  certFile: string;
  keyFile: string;
  clientCaFile?: string | undefined;
  /** TLS_CLIENT_CERT_OPTIONAL: ask for a client certificate but let clients without one connect. */
  clientCertOptional: boolean;
}

export interface CallerConfig {
  tls?: TlsConfig | undefined;
  introspectRequireClientCert: boolean;
  /** Optional shared credential Introspect callers must present (x-warpflow-caller-token header). */
  introspectCallerToken?: string | undefined;
  /**
   * AUTHZ_REQUIRE_TENANT_BINDING: /authz answers 403 unless the gateway sent a binding,
   * x-warpflow-expected-tenant-id with a tenant id or `*` (any tenant), so a binding that vanished
   * on the way (HTTP/2 drops a value with leading or trailing whitespace) cannot mean "any tenant".
   */
  authzRequireTenantBinding: boolean;
}

export function loadTlsConfig(env: Env): TlsConfig | undefined {
  if (env.TLS_CERT_FILE || env.TLS_KEY_FILE) {
    if (!env.TLS_CERT_FILE) throw new ConfigError("TLS_CERT_FILE", "is required when TLS_KEY_FILE is set");
    if (!env.TLS_KEY_FILE) throw new ConfigError("TLS_KEY_FILE", "is required when TLS_CERT_FILE is set");
    const clientCaFile = env.TLS_CLIENT_CA_FILE || undefined;
    const clientCertOptional = bool(env, "TLS_CLIENT_CERT_OPTIONAL");
    if (clientCertOptional && !clientCaFile)
      throw new ConfigError("TLS_CLIENT_CERT_OPTIONAL", "needs TLS_CLIENT_CA_FILE");
    return { certFile: env.TLS_CERT_FILE, keyFile: env.TLS_KEY_FILE, clientCaFile, clientCertOptional };
  }
  if (env.TLS_CLIENT_CA_FILE) throw new ConfigError("TLS_CLIENT_CA_FILE", "needs TLS_CERT_FILE and TLS_KEY_FILE");
  if (env.TLS_CLIENT_CERT_OPTIONAL) {
    throw new ConfigError("TLS_CLIENT_CERT_OPTIONAL", "needs TLS_CERT_FILE, TLS_KEY_FILE and TLS_CLIENT_CA_FILE");
  }
  return undefined;
}

/** TLS, then the Introspect caller checks that depend on it. */
export function loadCallerConfig(env: Env): CallerConfig {
  const tls = loadTlsConfig(env);
  const introspectRequireClientCert = bool(env, "INTROSPECT_REQUIRE_CLIENT_CERT");
  if (introspectRequireClientCert && !tls?.clientCaFile) {
    throw new ConfigError("INTROSPECT_REQUIRE_CLIENT_CERT", "needs TLS_CLIENT_CA_FILE (mutual TLS)");
  }
  const introspectCallerToken = env.INTROSPECT_CALLER_TOKEN || undefined;
  if (introspectCallerToken !== undefined && introspectCallerToken.length < 32) {
    throw new ConfigError("INTROSPECT_CALLER_TOKEN", "must be at least 32 characters");
  }
  const authzRequireTenantBinding = bool(env, "AUTHZ_REQUIRE_TENANT_BINDING");
  return { tls, introspectRequireClientCert, introspectCallerToken, authzRequireTenantBinding };
}
