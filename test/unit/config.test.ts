import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/config.js";

describe("config", () => {
  it("has working defaults", () => {
    const c = loadConfig({});
    expect(c).toMatchObject({
      port: 8080,
      host: "0.0.0.0",
      adminKeyFile: ".warpflow/admin-key",
      mongodbDb: "warpflow_auth",
      mongodbIntrospectReadConcern: "local",
      cacheTtlMs: 2000,
      cognito: undefined,
      tls: undefined,
    });
    expect(Object.isFrozen(c)).toBe(true);
  });

  it.each([
    ["PORT", { PORT: "eighty" }],
    ["PORT", { PORT: "70000" }],
    ["LOG_LEVEL", { LOG_LEVEL: "loud" }],
    ["MONGODB_URI", { MONGODB_URI: "postgres://x" }],
    ["MONGODB_INTROSPECT_READ_CONCERN", { MONGODB_INTROSPECT_READ_CONCERN: "majority" }],
    ["MONGODB_INTROSPECT_READ_CONCERN", { MONGODB_INTROSPECT_READ_CONCERN: "snapshot" }],
    ["CACHE_TTL_MS", { CACHE_TTL_MS: "-1" }],
    ["LAST_USED_FLUSH_MS", { LAST_USED_FLUSH_MS: "60000" }],
    ["COGNITO_USER_POOL_ID", { COGNITO_USER_POOL_ID: "nope", COGNITO_CLIENT_ID: "x" }],
    ["COGNITO_CLIENT_ID", { COGNITO_USER_POOL_ID: "us-east-1_AbCdEf" }],
    [
      "COGNITO_TOKEN_USE",
      { COGNITO_USER_POOL_ID: "us-east-1_AbCdEf", COGNITO_CLIENT_ID: "x", COGNITO_TOKEN_USE: "refresh" },
    ],
    ["TLS_KEY_FILE", { TLS_CERT_FILE: "/c.pem" }],
    ["INTROSPECT_REQUIRE_CLIENT_CERT", { INTROSPECT_REQUIRE_CLIENT_CERT: "true" }],
    ["INTROSPECT_CALLER_TOKEN", { INTROSPECT_CALLER_TOKEN: "short" }],
    ["TLS_CLIENT_CERT_OPTIONAL", { TLS_CERT_FILE: "/c.pem", TLS_KEY_FILE: "/k.pem", TLS_CLIENT_CERT_OPTIONAL: "true" }],
    ["AUDIT_RETENTION_DAYS", { AUDIT_RETENTION_DAYS: "0" }],
    ["AUDIT_RETENTION_DAYS", { AUDIT_RETENTION_DAYS: "a year" }],
    // 24,856 days is 2,147,558,400 s: more than the int32 expireAfterSeconds the server accepts (issue 18.3).
    ["AUDIT_RETENTION_DAYS", { AUDIT_RETENTION_DAYS: "24856" }],
    ["AUDIT_RETENTION_DAYS", { AUDIT_RETENTION_DAYS: "36500" }],
  ])("a bad %s names the variable", (variable, env) => {
    let error: unknown;
    try {
      loadConfig(env);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).variable).toBe(variable);
    expect((error as ConfigError).message.startsWith(`${variable}: `)).toBe(true);
  });

  it("takes linearizable reads for Introspect's lookups when asked", () => {
    expect(loadConfig({ MONGODB_INTROSPECT_READ_CONCERN: "linearizable" }).mongodbIntrospectReadConcern).toBe(
      "linearizable",
    );
  });

  it("AUDIT_RETENTION_DAYS: unset keeps audit events forever; a number of days otherwise", () => {
    expect(loadConfig({}).auditRetentionDays).toBeUndefined();
    expect(loadConfig({ AUDIT_RETENTION_DAYS: "2190" }).auditRetentionDays).toBe(2190);
    // The longest retention whose seconds still fit the server's signed 32-bit expireAfterSeconds.
    const longest = loadConfig({ AUDIT_RETENTION_DAYS: "24855" }).auditRetentionDays!;
    expect(longest * 86_400).toBeLessThanOrEqual(2 ** 31 - 1);
    expect((longest + 1) * 86_400).toBeGreaterThan(2 ** 31 - 1);
  });

  it("STORE (issue 26.2): memory is the default only outside production; the choice is explicit in production", () => {
    expect(loadConfig({})).toMatchObject({ store: "memory", storeChosenBy: "default" });
    expect(loadConfig({ NODE_ENV: "development" })).toMatchObject({ store: "memory", storeChosenBy: "default" });
    expect(loadConfig({ MONGODB_URI: "mongodb://db/" })).toMatchObject({
      store: "mongodb",
      storeChosenBy: "MONGODB_URI",
    });
    expect(loadConfig({ NODE_ENV: "production", MONGODB_URI: "mongodb://db/" })).toMatchObject({ store: "mongodb" });
    expect(loadConfig({ NODE_ENV: "production", STORE: "mongodb", MONGODB_URI: "mongodb://db/" })).toMatchObject({
      store: "mongodb",
      storeChosenBy: "STORE",
    });
    expect(loadConfig({ NODE_ENV: "production", STORE: "memory" })).toMatchObject({
      store: "memory",
      storeChosenBy: "STORE",
    });
    expect(() => loadConfig({ NODE_ENV: "production" })).toThrow(/^STORE: must be set when NODE_ENV=production/);
    expect(() => loadConfig({ NODE_ENV: "production", MONGO_URI: "mongodb://db/" })).toThrow(/^STORE: must be set/);
    expect(() => loadConfig({ STORE: "mongodb" })).toThrow(/^MONGODB_URI: is required when STORE=mongodb/);
    expect(() => loadConfig({ STORE: "memory", MONGODB_URI: "mongodb://db/" })).toThrow(
      /^STORE: is memory but MONGODB_URI is set/,
    );
    expect(() => loadConfig({ STORE: "mongo" })).toThrow("STORE: must be mongodb or memory");
  });

  it("the process exits 1 with one line naming the variable", () => {
    const r = spawnSync(process.execPath, ["--import", "tsx", "src/main.ts"], {
      env: { ...process.env, PORT: "nope" },
      encoding: "utf8",
      timeout: 20_000,
    });
    expect(r.status).toBe(1);
    expect(r.stderr.trim().split("\n")).toEqual(["config error: PORT: must be a whole number from 0 to 65535"]);
    expect(r.stdout).toBe("");
  });
});
