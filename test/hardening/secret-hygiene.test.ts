import { randomBytes } from "node:crypto";
import { MongoClient } from "mongodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createMemoryTokenStore } from "../../src/adapters/memory/memory-token-store.js";
import { hashToken } from "../../src/domain/token-hash.js";
import type { TokenStore } from "../../src/ports/token-store.js";
import { createFaultyStore, type FaultyStore } from "../support/faulty-store.js";
import { obtainMongo, openMongoStore, sayMongoSkipped, uniqueDbName } from "../support/mongo.js";
import { startTestApp, type TestApp } from "../support/test-app.js";
import { waitUntil as until } from "../support/poll.js";
import { metricsText } from "../support/probes.js";
import { grpcCodeName } from "../support/codes.js";

/**
 * Secret hygiene: a full scenario at LOG_LEVEL=debug (keys created, rotated, revoked; sessions on
 * every protocol; introspection of good, bad and near-miss tokens; failing calls of every kind,
 * including store failures), then: no token plaintext, no secret part of one, no caller
 * credential and no Authorization value appears in any log line, in any error a client received,
 * or in /metrics; and the store holds only hashes.
 */
interface Leg {
  name: string;
  /** Why the leg cannot run here (its tests are registered as skipped), or undefined. */
  skip?: string | undefined;
  open(): Promise<{ store: TokenStore; dispose(): Promise<void>; rawDocuments(): Promise<unknown[]> }>;
}
const legs: Leg[] = [
  {
    name: "memory",
    open: async () => {
      const store = createMemoryTokenStore();
      return { store, dispose: async () => undefined, rawDocuments: async () => [] };
    },
  },
];
const mongo = await obtainMongo();
if (mongo.available) {
  legs.push({
    name: `mongodb (${mongo.source})`,
    open: async () => {
      const dbName = uniqueDbName("wf_hygiene");
      const opened = await openMongoStore(mongo.uri, dbName);
      return {
        ...opened,
        // Every document of every collection, as the database holds it.
        async rawDocuments() {
          const client = new MongoClient(mongo.uri);
          try {
            const db = client.db(dbName);
            const out: unknown[] = [];
            for (const c of await db.listCollections().toArray())
              out.push(...(await db.collection(c.name).find({}).toArray()));
            return out;
          } finally {
            await client.close();
          }
        },
      };
    },
  });
} else {
  sayMongoSkipped(mongo.reason);
  legs.push({
    name: `mongodb (SKIPPED: ${mongo.reason})`,
    skip: mongo.reason,
    open: () => Promise.reject(new Error(mongo.reason)),
  });
}
afterAll(async () => {
  if (mongo.available) await mongo.stop();
});

const CALLER_TOKEN = `caller-${randomBytes(24).toString("hex")}`;

/** Polls until `cond` holds; fails after 5 s. */

for (const leg of legs) describe.skipIf(leg.skip !== undefined)(`secret hygiene on ${leg.name}`, () => hygieneOn(leg));

function hygieneOn(leg: Leg) {
  let t: TestApp;
  let opened: Awaited<ReturnType<Leg["open"]>>;
  let faulty: FaultyStore;
  /** Every credential the scenario issued or presented (plaintext). */
  const secrets = new Set<string>();
  /** Every error message a client received. */
  const clientErrors: string[] = [];
  /** Issued tokens, to check the store. */
  const issuedKeys: { tenantId: string; token: string }[] = [];
  const issuedSessions: string[] = [];

  const caller = { metadata: { "x-warpflow-caller-token": CALLER_TOKEN } };
  const grpcErr = async (p: Promise<unknown>): Promise<string> => {
    try {
      await p;
      return "OK";
    } catch (e) {
      const err = e as { code: number; details: string; message: string };
      clientErrors.push(err.details, err.message);
      return grpcCodeName(err);
    }
  };
  const post = async (
    path: string,
    body: string,
    headers: Record<string, string>,
  ): Promise<{ status: number; text: string }> => {
    const res = await fetch(`${t.baseUrl}${path}`, { method: "POST", headers, body });
    const text = await res.text();
    if (res.status >= 400) clientErrors.push(text);
    return { status: res.status, text };
  };
  const secretParts = (token: string): string[] => {
    const m = /^(?:wf|sess)_[a-z0-9-]+_([0-9A-Za-z]{32})([0-9A-Za-z]{6})$/.exec(token);
    return m ? [token, m[1]!, m[1]!.slice(0, 16), m[1]!.slice(16)] : [token];
  };

  beforeAll(async () => {
    opened = await leg.open();
    faulty = createFaultyStore(opened.store);
    t = await startTestApp({
      store: faulty.store,
      logLevel: "debug",
      env: { INTROSPECT_CALLER_TOKEN: CALLER_TOKEN, LAST_USED_FLUSH_MS: "50" },
    });
    secrets.add(t.adminKey);
    secrets.add(CALLER_TOKEN);
    const admin = { bearer: t.adminKey };

    // Keys: create, rotate, revoke; an admin key; over gRPC and Connect.
    const k1 = await t.grpc.createKey({ tenantId: "acme", label: "CRM Sync" }, admin);
    const k2 = await t.grpc.createKey({ tenantId: "acme", label: "Zapier" }, admin);
    const rotated = await t.grpc.rotateKey({ tenantId: "acme", keyId: k1.key!.id }, admin);
    await t.grpc.revokeKey({ tenantId: "acme", keyId: k2.key!.id }, admin);
    const adminKey2 = await t.grpc.createAdminKey({ label: "ops" }, admin);
    const viaConnect = JSON.parse(
      (
        await post("/warpflow.auth.v1.TokenService/CreateKey", JSON.stringify({ tenantId: "beta", label: "connect" }), {
          "content-type": "application/json",
          authorization: `Bearer ${t.adminKey}`,
        })
      ).text,
    ) as { token: string };
    for (const [tenantId, token] of [
      ["acme", k1.token],
      ["acme", k2.token],
      ["acme", rotated.token],
      ["admin", adminKey2.token],
      ["beta", viaConnect.token],
    ] as const) {
      issuedKeys.push({ tenantId, token });
      secrets.add(token);
    }
    // Sessions over gRPC and REST.
    const s1 = await t.grpc.createSession({ tenantId: "acme" }, admin);
    const s2 = JSON.parse(
      (
        await post("/api/v1/sessions", '{"tenant_id":"acme"}', {
          "content-type": "application/json",
          authorization: `Bearer ${t.adminKey}`,
        })
      ).text,
    ) as { token: string };
    for (const s of [s1.token, s2.token]) {
      issuedSessions.push(s);
      secrets.add(s);
    }

    // Introspection: valid, revoked, deprecated, session, near misses, junk.
    const nearMiss = (tok: string) => tok.slice(0, -10) + (tok.at(-10) === "a" ? "b" : "a") + tok.slice(-9);
    const presented = [
      k1.token,
      k2.token,
      rotated.token,
      s1.token,
      nearMiss(rotated.token),
      nearMiss(t.adminKey),
      `${rotated.token}x`,
      `eyJ${"s3cr3t".repeat(10)}.eyJ.sig`,
      "wf_acme_" + "Q".repeat(2000),
    ];
    for (const tok of presented) {
      secrets.add(tok);
      await grpcErr(t.grpc.introspect({ token: tok, expectedTenantId: "beta" }, caller));
      await post("/warpflow.auth.v1.TokenService/Introspect", JSON.stringify({ token: tok }), {
        "content-type": "application/json",
        "x-warpflow-caller-token": CALLER_TOKEN,
      });
    }
    // Introspect without / with a wrong caller credential.
    const wrongCaller = `caller-${randomBytes(24).toString("hex")}`;
    secrets.add(wrongCaller);
    await grpcErr(t.grpc.introspect({ token: k1.token }));
    await grpcErr(t.grpc.introspect({ token: k1.token }, { metadata: { "x-warpflow-caller-token": wrongCaller } }));

    // Failing admin calls with every kind of bad credential.
    for (const bearer of [nearMiss(t.adminKey), k1.token, s1.token, `${t.adminKey}extra`, k2.token]) {
      secrets.add(bearer);
      await grpcErr(t.grpc.listKeys({ tenantId: "acme" }, { bearer }));
      await grpcErr(t.grpc.createKey({ tenantId: "acme", label: "x" }, { bearer }));
      await post("/api/v1/sessions", '{"tenant_id":"acme"}', {
        "content-type": "application/json",
        authorization: `Bearer ${bearer}`,
      });
      await post("/warpflow.auth.v1.TokenService/ListKeys", '{"tenantId":"acme"}', {
        "content-type": "application/json",
        authorization: `Bearer ${bearer}`,
      });
    }
    // Malformed Authorization values.
    for (const auth of [
      `Basic ${Buffer.from(`admin:${t.adminKey}`).toString("base64")}`,
      `Bearer ${t.adminKey} ${k1.token}`,
      `bearer\t${k1.token}x`,
      t.adminKey,
    ]) {
      secrets.add(auth);
      await post("/api/v1/sessions", '{"tenant_id":"acme"}', {
        "content-type": "application/json",
        authorization: auth,
      });
    }
    // A client that puts a credential in its User-Agent (it reaches the audit trail's user_agent).
    await post("/warpflow.auth.v1.TokenService/ListKeys", '{"tenantId":"acme"}', {
      "content-type": "application/json",
      authorization: `Bearer ${t.adminKey}`,
      "user-agent": `probe/1.0 ${k1.token} ${s1.token}`,
    });
    await grpcErr(t.grpc.revokeSession({ tenantId: "acme", sessionId: s1.token }, admin));
    // Bad requests that carry secrets in their bodies.
    await grpcErr(t.grpc.createKey({ tenantId: k1.token, label: "x" }, admin));
    await grpcErr(t.grpc.rotateKey({ tenantId: "acme", keyId: k1.token }, admin));
    await grpcErr(t.grpc.revokeKey({ tenantId: "acme", keyId: s1.token }, admin));
    await grpcErr(t.grpc.createSession({ tenantId: s1.token }, admin));
    await post("/api/v1/sessions", `{"tenant_id":"${k1.token}"}`, {
      "content-type": "application/json",
      authorization: `Bearer ${t.adminKey}`,
    });
    await post("/api/v1/sessions", `{"tenant_id":"acme","token":"${k1.token}"}`, {
      "content-type": "application/json",
      authorization: `Bearer ${t.adminKey}`,
    });
    await post("/api/v1/sessions", `{"tenant_id": "${k1.token}`, {
      "content-type": "application/json",
      authorization: `Bearer ${t.adminKey}`,
    });
    await post("/api/v1/sessions", `tenant_id=${k1.token}`, {
      "content-type": "text/plain",
      authorization: `Bearer ${t.adminKey}`,
    });
    // Limit, not found, HIPAA, wrong tenant.
    await t.grpc.createKey({ tenantId: "full", label: "1" }, admin);
    await t.grpc.createKey({ tenantId: "full", label: "2" }, admin);
    await t.grpc.createKey({ tenantId: "full", label: "3" }, admin);
    await grpcErr(t.grpc.createKey({ tenantId: "full", label: "4" }, admin));
    await grpcErr(t.grpc.revokeKey({ tenantId: "beta", keyId: k1.key!.id }, admin));
    await t.grpc.setTenantPolicy({ tenantId: "acme", hipaaEnabled: true }, admin);
    await grpcErr(t.grpc.createKey({ tenantId: "acme", label: "hipaa" }, admin));
    await grpcErr(t.grpc.introspect({ token: rotated.token }, caller));
    await t.grpc.setTenantPolicy({ tenantId: "acme", hipaaEnabled: false }, admin);
    // Store failures: errors logged with their stack, UNAVAILABLE to the client.
    faulty.setMode({ kind: "fail" });
    await grpcErr(t.grpc.introspect({ token: rotated.token }, caller));
    await grpcErr(t.grpc.createKey({ tenantId: "acme", label: "down" }, admin));
    await post("/api/v1/sessions", '{"tenant_id":"acme"}', {
      "content-type": "application/json",
      authorization: `Bearer ${t.adminKey}`,
    });
    await until(() => t.logs.some((l) => l.includes("last_used_at flush failed"))); // a failed flush, logged
    faulty.heal();
    const writes = faulty.reached.recordKeyUses ?? 0;
    await t.grpc.introspect({ token: rotated.token }, caller);
    await until(() => (faulty.reached.recordKeyUses ?? 0) > writes); // the kept uses flushed after recovery
  }, 20_000);
  afterAll(async () => {
    await t?.close();
    await opened?.dispose().catch(() => undefined);
  });

  const forbidden = () => {
    const out = new Set<string>();
    for (const s of secrets) for (const p of secretParts(s)) out.add(p);
    // Also the raw secret of every presented string of token length (near misses, extensions).
    for (const s of secrets) if (s.length >= 24) out.add(s.slice(-30));
    return [...out];
  };
  /**
   * Every 12-character window of every secret's secret material: the random body and checksum of
   * an opaque token (its `wf_<tenant>_` prefix is public), the whole string of anything else. Any
   * such window anywhere in an output is a leak, whatever part of the secret it is.
   */
  const WINDOW = 12;
  const windows = () => {
    const out = new Set<string>();
    for (const s of secrets) {
      const m = /^(?:wf|sess)_[a-z0-9-]+_([0-9A-Za-z]{32}[0-9A-Za-z]*)$/.exec(s);
      const material = m ? m[1]! : s;
      for (let i = 0; i + WINDOW <= material.length; i++) out.add(material.slice(i, i + WINDOW));
    }
    return out;
  };
  const leaks = (texts: string[]) => {
    const found: string[] = [];
    const win = windows();
    for (const text of texts) {
      for (let i = 0; i + WINDOW <= text.length; i++) {
        const w = text.slice(i, i + WINDOW);
        if (win.has(w)) {
          found.push(`12 characters of a secret (${w}) in ${text.slice(0, 300)}`);
          break;
        }
      }
      for (const f of forbidden()) if (text.includes(f)) found.push(`${f.slice(0, 12)}... in ${text.slice(0, 300)}`);
      if (/bearer\s+(wf_|sess_|eyJ|[A-Za-z0-9+/=_.-]{20,})/i.test(text))
        found.push(`an Authorization value in ${text.slice(0, 300)}`);
    }
    return found;
  };

  it("the scenario really ran: many log lines at debug, many client errors, a failed flush logged", () => {
    expect(t.logs.length).toBeGreaterThan(60);
    expect(t.logs.some((l) => l.includes('"level":20'))).toBe(true);
    expect(t.logs.some((l) => l.includes("last_used_at flush failed"))).toBe(true);
    expect(clientErrors.length).toBeGreaterThan(40);
    expect(forbidden().length).toBeGreaterThan(40);
    // The window detector flags a secret's middle, which no fixed part covers.
    const k = [...secrets].find((x) => x.startsWith("wf_acme_"))!;
    expect(leaks([`x ${k.slice(-25, -13)} y`])).toHaveLength(1);
  });

  it("no log line contains a token, a secret part of one, a caller credential or an Authorization value", () => {
    expect(leaks(t.logs)).toEqual([]);
  });

  it("no error message sent to a client contains one either", () => {
    expect(leaks(clientErrors)).toEqual([]);
  });

  it("/metrics contains none", async () => {
    const text = await metricsText(t.baseUrl);
    expect(text.length).toBeGreaterThan(1000);
    expect(leaks([text])).toEqual([]);
  });

  it("audit events (stored and logged) were written, and hold no token, hash or Authorization value", async () => {
    const events = [];
    for (const tenant of ["acme", "beta", "admin", "full"])
      events.push(...(await opened.store.listAuditEvents({ tenantId: tenant, limit: 1000 })));
    // (Tenant keys' admin attempts are unauthenticated refusals here, counted per address: the
    // caller restriction is on, and they answer as dead credentials.)
    expect(events.length).toBeGreaterThan(20);
    expect(events.some((e) => e.userAgent?.includes("[redacted]"))).toBe(true);
    const text = JSON.stringify(events);
    expect(leaks([text])).toEqual([]);
    for (const { token } of issuedKeys) expect(text).not.toContain(hashToken(token));
    for (const s of issuedSessions) expect(text).not.toContain(hashToken(s));
    const auditLines = t.logs.filter((l) => l.includes('"audit":true'));
    expect(auditLines.length).toBeGreaterThanOrEqual(events.length);
    for (const { token } of issuedKeys) expect(auditLines.join("\n")).not.toContain(hashToken(token));
  });

  it("the store holds only hashes: no record field equals or contains a plaintext or its secret", async () => {
    const records: unknown[] = [];
    for (const tenant of ["acme", "beta", "admin", "full"])
      records.push(...(await opened.store.listKeys(tenant, 1000)));
    for (const tenant of ["acme", "beta", "admin", "full"])
      records.push(...(await opened.store.listAuditEvents({ tenantId: tenant, limit: 1000 })));
    for (const s of issuedSessions) {
      const r = await opened.store.findSessionByHash(hashToken(s));
      expect(r).not.toBeNull();
      records.push(r);
    }
    records.push(...(await opened.rawDocuments()));
    expect(records.length).toBeGreaterThan(10);
    const text = JSON.stringify(records);
    expect(leaks([text])).toEqual([]);
    // Each issued key is stored under the SHA-256 of its token, and its hint shows 4 characters.
    for (const { tenantId, token } of issuedKeys) {
      const rec = await opened.store.findKeyByHash(hashToken(token));
      expect(rec?.tenantId).toBe(tenantId);
      expect(rec!.tokenHash).toBe(hashToken(token));
      expect(rec!.hint).toBe(`wf_${tenantId}_...${token.slice(-4)}`);
      for (const value of Object.values(rec!)) {
        if (typeof value === "string")
          expect(token.includes(value) && value.length > 12 && value !== tenantId).toBe(false);
      }
    }
  });
}
