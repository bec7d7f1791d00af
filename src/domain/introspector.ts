import type { Clock } from "../ports/clock.js";
import type { JwtVerifier } from "../ports/jwt-verifier.js";
import type { TokenStore } from "../ports/token-store.js";
import { DomainError } from "./errors.js";
import { inactive, type Introspection } from "./introspection.js";
import type { LastUsedRecorder } from "./last-used-recorder.js";
import { defaultPolicy, type KeyRecord, type SessionRecord, type TenantPolicyRecord } from "./records.js";
import { ADMIN_TENANT_ID } from "./tenant-id.js";
import type { CachedToken, TokenCache } from "./token-cache.js";
import { looksLikeJwt, MAX_TOKEN_LENGTH, parseToken } from "./token-format.js";
import { hashToken } from "./token-hash.js";
import { effectiveStatus } from "./key-rules.js";

export interface IntrospectorDeps {
  store: TokenStore;
  clock: Clock;
  cache: TokenCache;
  lastUsed: LastUsedRecorder;
  jwt: JwtVerifier;
  /** Observability hooks; optional so the domain stays free of a metrics library. */
  observe?: {
    cache?(tokenType: string, hit: boolean): void;
    storeRead?(): void;
  };
}

export interface Introspector {
  /**
   * Resolves a token. Throws DomainError("invalid_argument") for an empty token and
   * StoreUnavailableError when the store cannot answer; every other outcome is a value.
   */
  introspect(token: string, expectedTenantId?: string): Promise<Introspection>;
}

export function createIntrospector(deps: IntrospectorDeps): Introspector {
  const { store, clock, cache, lastUsed, jwt, observe } = deps;

  async function lookup(kind: "key" | "session", hash: string): Promise<CachedToken> {
    const hit = cache.get(hash);
    observe?.cache?.(kind === "key" ? "api_key" : "session", hit !== undefined);
    if (hit) return hit;
    observe?.storeRead?.();
    const record = kind === "key" ? await store.findKeyByHash(hash) : await store.findSessionByHash(hash);
    const entry: CachedToken = record
      ? kind === "key"
        ? { kind: "key", record: record as KeyRecord }
        : { kind: "session", record: record as SessionRecord }
      : { kind: "absent" };
    cache.set(hash, entry);
    return entry;
  }

  async function policyOf(tenantId: string): Promise<TenantPolicyRecord> {
    const hit = cache.getPolicy(tenantId);
    if (hit) return hit;
    observe?.storeRead?.();
    const policy = (await store.getPolicy(tenantId)) ?? defaultPolicy(tenantId);
    cache.setPolicy(policy);
    return policy;
  }

  async function introspectKey(hash: string, tenantId: string, now: Date): Promise<Introspection> {
    const entry = await lookup("key", hash);
    if (entry.kind !== "key" || entry.record.tenantId !== tenantId) return inactive("not_found");
    const key = entry.record;
    const status = effectiveStatus(key, now);
    if (status === "revoked") return inactive("revoked");
    const admin = key.tenantId === ADMIN_TENANT_ID;
    if (!admin && (await policyOf(key.tenantId)).hipaaEnabled) return inactive("tenant_policy");
    lastUsed.record(key.id, now);
    const deprecated = status === "deprecated";
    return {
      active: true,
      tokenType: "api_key",
      tenantId: key.tenantId,
      keyId: key.id,
      expiresAt: deprecated ? key.revokeAt : undefined,
      deprecated,
      admin,
    };
  }

  async function introspectSession(hash: string, tenantId: string, now: Date): Promise<Introspection> {
    const entry = await lookup("session", hash);
    if (entry.kind !== "session" || entry.record.tenantId !== tenantId) return inactive("not_found");
    const s = entry.record;
    if (s.expiresAt <= now) return inactive("expired");
    return {
      active: true,
      tokenType: "session",
      tenantId: s.tenantId,
      sessionId: s.id,
      expiresAt: s.expiresAt,
      deprecated: false,
      admin: false,
    };
  }

  async function introspectJwt(token: string, now: Date): Promise<Introspection> {
    const hash = hashToken(token);
    let entry = cache.get(hash);
    observe?.cache?.("cognito", entry !== undefined);
    if (!entry) {
      const result = await jwt.verify(token);
      if (result.ok) {
        entry = { kind: "jwt", claims: result.claims };
        const untilExp = result.claims.expiresAt.getTime() - now.getTime();
        cache.set(hash, entry, Math.min(untilExp, cache.options.jwtMaxTtlMs));
      } else {
        entry = { kind: "jwt_rejected", reason: result.reason };
        // "expired" is permanent; other rejections are cached briefly (bounded negative cache).
        cache.set(hash, entry);
      }
    }
    if (entry.kind === "jwt_rejected") return inactive(entry.reason);
    if (entry.kind !== "jwt") return inactive("unverified");
    const c = entry.claims;
    if (c.expiresAt <= now) return inactive("expired");
    return {
      active: true,
      tokenType: "cognito",
      tenantId: c.tenantId,
      expiresAt: c.expiresAt,
      deprecated: false,
      admin: false,
      subject: c.subject,
      groups: c.groups,
      email: c.email,
      username: c.username,
    };
  }

  async function resolve(token: string, now: Date): Promise<Introspection> {
    if (token.length > MAX_TOKEN_LENGTH) return looksLikeJwt(token) ? introspectJwt(token, now) : inactive("malformed");
    const parsed = parseToken(token);
    if (parsed) {
      const hash = hashToken(token);
      return parsed.kind === "api_key"
        ? introspectKey(hash, parsed.tenantId, now)
        : introspectSession(hash, parsed.tenantId, now);
    }
    if (looksLikeJwt(token)) return introspectJwt(token, now);
    return inactive("malformed");
  }

  return {
    async introspect(token, expectedTenantId) {
      if (token === "") throw new DomainError("invalid_argument", "token: is required");
      const result = await resolve(token, clock.now());
      if (result.active && expectedTenantId && result.tenantId !== expectedTenantId) {
        return inactive("tenant_mismatch");
      }
      return result;
    },
  };
}
