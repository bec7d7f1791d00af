// A mistyped setting can be a secret (a token pasted into the wrong variable): a refused value is
// never echoed; the error names the variable and the accepted forms (review finding, session 32).
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/config.js";

const SECRET = "wf_live_0123456789abcdefSECRET";
const DIGITS = "987654321012345"; // a numeric secret (a PIN, an account number) in a number setting
const tls = { TLS_CERT_FILE: "/c.pem", TLS_KEY_FILE: "/k.pem" };
const cognito = { COGNITO_CLIENT_ID: "x" };

const cases: [variable: string, env: Record<string, string>, value: string][] = [
  ["PORT", { PORT: SECRET }, SECRET],
  ["PORT", { PORT: DIGITS }, DIGITS],
  ["CACHE_TTL_MS", { CACHE_TTL_MS: SECRET }, SECRET],
  ["MAX_CONNECTION_AGE_MS", { MAX_CONNECTION_AGE_MS: "517" }, "517"],
  ["TLS_CLIENT_CERT_OPTIONAL", { ...tls, TLS_CLIENT_CERT_OPTIONAL: SECRET }, SECRET],
  ["INTROSPECT_REQUIRE_CLIENT_CERT", { INTROSPECT_REQUIRE_CLIENT_CERT: SECRET }, SECRET],
  ["SECRET_SCANNING_ENABLED", { SECRET_SCANNING_ENABLED: SECRET }, SECRET],
  ["WATCH_ALLOW_OPEN", { WATCH_ALLOW_OPEN: SECRET }, SECRET],
  ["STORE", { STORE: SECRET }, SECRET],
  ["COGNITO_USER_POOL_ID", { ...cognito, COGNITO_USER_POOL_ID: `us-east-1_AbC,${SECRET}` }, SECRET],
  ["LOG_LEVEL", { LOG_LEVEL: SECRET }, SECRET],
  ["LOG_FORMAT", { LOG_FORMAT: SECRET }, SECRET],
  ["WEBHOOK_DELIVERY", { WEBHOOK_DELIVERY: SECRET }, SECRET],
  ["COGNITO_TOKEN_USE", { ...cognito, COGNITO_USER_POOL_ID: "us-east-1_AbC", COGNITO_TOKEN_USE: SECRET }, SECRET],
  ["MONGODB_URI", { MONGODB_URI: SECRET }, SECRET],
  ["MONGODB_INTROSPECT_READ_CONCERN", { MONGODB_INTROSPECT_READ_CONCERN: SECRET }, SECRET],
  ["OAUTH2_INTROSPECT_CLIENTS", { OAUTH2_INTROSPECT_CLIENTS: `client-a:${SECRET}` }, SECRET],
  ["OAUTH2_INTROSPECT_CLIENTS_FILE", { OAUTH2_INTROSPECT_CLIENTS_FILE: `/nonexistent/${SECRET}` }, SECRET],
  ["OAUTH2_ISSUER", { OAUTH2_ISSUER: SECRET }, SECRET],
];

describe("config errors never echo the refused value", () => {
  it.each(cases)("%s names the variable, not the value", (variable, env, value) => {
    let error: unknown;
    try {
      loadConfig(env);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const { message } = error as ConfigError;
    expect((error as ConfigError).variable).toBe(variable);
    expect(message.startsWith(`${variable}: `)).toBe(true);
    expect(message).not.toContain(value);
    expect(message).not.toContain(SECRET.slice(0, 12));
  });

  it("booleans and numbers say which forms they accept", () => {
    expect(() => loadConfig({ SECRET_SCANNING_ENABLED: "yes" })).toThrow(
      /^SECRET_SCANNING_ENABLED: must be true, false, 1 or 0$/,
    );
    expect(() => loadConfig({ PORT: "eighty" })).toThrow(/^PORT: must be a whole number from 0 to 65535$/);
    expect(() => loadConfig({ PORT: "70000" })).toThrow(/^PORT: must be a whole number from 0 to 65535$/);
  });
});
