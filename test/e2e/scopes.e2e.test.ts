import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { describe, expect, it } from "vitest";
import {
  AuditAction,
  InactiveReason,
  KeyStatus,
  TokenService,
} from "../../src/gen/warpflow/auth/v1/token_service_pb.js";
import { httpRequest } from "../support/authz.js";
import { codeOf, failureOf } from "../support/codes.js";
import { useTestApp } from "../support/test-app.js";

/**
 * Issue 22 end to end on the real service: scopes and IP allowlists through gRPC (grpc-js, whose
 * Introspect has the synchronous cached path and the hand-written codec), Connect, REST and /authz.
 */
const t = useTestApp();
const admin = () => ({ bearer: t.adminKey });
const connect = () => createClient(TokenService, createConnectTransport({ baseUrl: t.baseUrl, httpVersion: "1.1" }));

describe("scopes and IP allowlists, end to end (issue 22)", () => {
  it("CreateKey stores normalised scopes and CIDRs; ListKeys shows them; Introspect answers the scopes", async () => {
    const r = await t.grpc.createKey(
      {
        tenantId: "acme",
        label: "scoped",
        scopes: ["contacts:read", "deals:read", "contacts:read"],
        allowedCidrs: ["10.9.8.7/8", "::ffff:127.0.0.1"],
      },
      admin(),
    );
    expect([r.key!.scopes, r.key!.allowedCidrs]).toEqual([
      ["contacts:read", "deals:read"],
      ["10.0.0.0/8", "127.0.0.1/32"],
    ]);
    const listed = (await t.grpc.listKeys({ tenantId: "acme" }, admin())).keys.find((k) => k.id === r.key!.id)!;
    expect([listed.scopes, listed.allowedCidrs]).toEqual([r.key!.scopes, r.key!.allowedCidrs]);
    const a = await t.grpc.introspect({ token: r.token, clientAddress: "10.1.2.3" });
    expect([a.active, a.scopes]).toEqual([true, ["contacts:read", "deals:read"]]);
  });

  it("gRPC and Connect give the same answers for every mix of checks, repeated (cached, fast path) included", async () => {
    const { token } = await t.grpc.createKey(
      { tenantId: "acme", label: "mix", scopes: ["a:read"], allowedCidrs: ["10.0.0.0/8", "2001:db8::/32"] },
      admin(),
    );
    const c = connect();
    const cases: [{ requiredScopes?: string[]; clientAddress?: string }, boolean | InactiveReason][] = [
      [{ clientAddress: "10.0.0.1" }, true],
      [{}, InactiveReason.ADDRESS_NOT_ALLOWED],
      [{ clientAddress: "192.168.1.1" }, InactiveReason.ADDRESS_NOT_ALLOWED],
      [{ clientAddress: "::ffff:10.2.3.4" }, true],
      [{ clientAddress: "2001:db8::42", requiredScopes: ["a:read"] }, true],
      [{ clientAddress: "10.0.0.1", requiredScopes: ["a:read", "b:write"] }, InactiveReason.INSUFFICIENT_SCOPE],
      [{ clientAddress: "10.0.0.1" }, true],
    ];
    for (let round = 0; round < 3; round++) {
      for (const [checks, want] of cases) {
        const g = await t.grpc.introspect({ token, ...checks });
        const j = await c.introspect({ token, ...checks });
        const got = (x: typeof g) => (x.active ? true : x.inactiveReason);
        expect([round, checks, got(g), got(j)]).toEqual([round, checks, want, want]);
        if (!g.active) expect([g.scopes, g.tenantId, g.keyId]).toEqual([[], "", ""]);
      }
    }
  });

  it("a key without an allowlist ignores the address; an unscoped key holds every required scope", async () => {
    const { token } = await t.grpc.createKey({ tenantId: "open", label: "open" }, admin());
    for (let i = 0; i < 2; i++) {
      const a = await t.grpc.introspect({ token, clientAddress: "203.0.113.9", requiredScopes: ["x", "y:z"] });
      expect([a.active, a.scopes]).toEqual([true, []]);
    }
  });

  it("every new field's bad value: INVALID_ARGUMENT naming the field, never echoing the value (gRPC and Connect)", async () => {
    const secret = "wf_acme_NotAScopeButASecretValue123";
    const c = connect();
    const calls: [string, () => Promise<unknown>, RegExp][] = [
      [
        "createKey scopes",
        () => t.grpc.createKey({ tenantId: "acme", label: "x", scopes: [secret] }, admin()),
        /^scopes\[0\]: must match/,
      ],
      [
        "createKey cidrs",
        () => t.grpc.createKey({ tenantId: "acme", label: "x", allowedCidrs: ["10.0.0.0/8", secret] }, admin()),
        /^allowed_cidrs\[1\]: must be an IPv4 or IPv6 CIDR/,
      ],
      [
        "rotateKey scopes",
        () =>
          t.grpc.rotateKey(
            { tenantId: "acme", keyId: "key_AAAAAAAAAAAAAAAAAAAA", scopes: { scopes: ["ok", secret] } },
            admin(),
          ),
        /^scopes\.scopes\[1\]: must match/,
      ],
      [
        "rotateKey cidrs",
        () =>
          t.grpc.rotateKey(
            { tenantId: "acme", keyId: "key_AAAAAAAAAAAAAAAAAAAA", allowedCidrs: { cidrs: [secret] } },
            admin(),
          ),
        /^allowed_cidrs\.cidrs\[0\]: must be/,
      ],
      [
        "createSession scopes",
        () => t.grpc.createSession({ tenantId: "acme", scopes: [secret] }, admin()),
        /^scopes\[0\]: must match/,
      ],
      [
        "introspect required_scopes (grpc-js)",
        () => t.grpc.introspect({ token: "x", requiredScopes: [`${secret} "`] }),
        /^required_scopes\[0\]: must be/,
      ],
      [
        "introspect client_address (grpc-js)",
        () => t.grpc.introspect({ token: "x", clientAddress: secret }),
        /^client_address: must be an IPv4 or IPv6 address/,
      ],
    ];
    for (const [name, call, message] of calls) {
      const e = await failureOf(call());
      expect([name, e.code]).toEqual([name, "INVALID_ARGUMENT"]);
      expect(e.details, name).toMatch(message);
      expect(e.details, name).not.toContain(secret);
    }
    for (const req of [
      { token: "x", clientAddress: secret },
      { token: "x", requiredScopes: ['a"b'] },
    ]) {
      const e = await c.introspect(req).then(
        () => undefined,
        (err: unknown) => ConnectError.from(err),
      );
      expect(e?.code).toBe(Code.InvalidArgument);
      expect(e?.rawMessage).not.toContain(secret);
    }
  });

  it("RotateKey: the successor inherits scopes and allowlist; a present list replaces; a present empty list clears", async () => {
    const first = await t.grpc.createKey(
      { tenantId: "rot", label: "r", scopes: ["a"], allowedCidrs: ["10.0.0.0/8"] },
      admin(),
    );
    const inherit = await t.grpc.rotateKey({ tenantId: "rot", keyId: first.key!.id }, admin());
    expect([inherit.key!.scopes, inherit.key!.allowedCidrs]).toEqual([["a"], ["10.0.0.0/8"]]);
    const replace = await t.grpc.rotateKey(
      { tenantId: "rot", keyId: inherit.key!.id, scopes: { scopes: ["b", "c"] } },
      admin(),
    );
    expect([replace.key!.scopes, replace.key!.allowedCidrs]).toEqual([["b", "c"], ["10.0.0.0/8"]]);
    const clear = await t.grpc.rotateKey(
      { tenantId: "rot", keyId: replace.key!.id, scopes: { scopes: [] }, allowedCidrs: { cidrs: [] } },
      admin(),
    );
    expect([clear.key!.scopes, clear.key!.allowedCidrs]).toEqual([[], []]);
    const a = await t.grpc.introspect({ token: clear.token, requiredScopes: ["z"] });
    expect(a.active).toBe(true);
    // The audit trail carries the new fields.
    const ev = (await t.grpc.listAuditEvents({ tenantId: "rot", action: AuditAction.KEY_ROTATE }, admin())).events;
    // Then the rotation's own fields ("; previous revoke_at ...", issue 22's expiry work).
    expect(ev.map((e) => e.detail.split(";")[0])).toEqual([
      `successor ${clear.key!.id} scopes=(all) allowed_cidrs=(any)`,
      `successor ${replace.key!.id} scopes=b,c allowed_cidrs=10.0.0.0/8`,
      `successor ${inherit.key!.id} scopes=a allowed_cidrs=10.0.0.0/8`,
    ]);
    const created = (await t.grpc.listAuditEvents({ tenantId: "rot", action: AuditAction.KEY_CREATE }, admin()))
      .events[0]!;
    expect(created.detail).toBe("scopes=a allowed_cidrs=10.0.0.0/8");
  });

  it("CreateSession: an unscoped admin grants any scopes; a scoped admin key only its own (none asked: its own)", async () => {
    const s = await t.grpc.createSession({ tenantId: "acme", scopes: ["reports:read"] }, admin());
    expect(s.scopes).toEqual(["reports:read"]);
    const a = await t.grpc.introspect({ token: s.token, requiredScopes: ["reports:write"] });
    expect(a.inactiveReason).toBe(InactiveReason.INSUFFICIENT_SCOPE);
    expect((await t.grpc.introspect({ token: s.token })).scopes).toEqual(["reports:read"]);
    // A scoped platform admin key: made by rotating a fresh admin key with scopes.
    const fresh = await t.grpc.createAdminKey({ label: "to scope" }, admin());
    const scoped = await t.grpc.rotateKey(
      { tenantId: "admin", keyId: fresh.key!.id, scopes: { scopes: ["reports:read", "deals:read"] } },
      admin(),
    );
    const as = { bearer: scoped.token };
    expect((await t.grpc.createSession({ tenantId: "acme" }, as)).scopes).toEqual(["reports:read", "deals:read"]);
    expect((await t.grpc.createSession({ tenantId: "acme", scopes: ["deals:read"] }, as)).scopes).toEqual([
      "deals:read",
    ]);
    const e = await failureOf(t.grpc.createSession({ tenantId: "acme", scopes: ["deals:write"] }, as));
    expect(e.code).toBe("PERMISSION_DENIED");
    expect(e.details).not.toContain("deals:write");
    // REST: the same rule, scopes in and out.
    const rest = (body: object, bearer: string) =>
      httpRequest(t.port, "/api/v1/sessions", {
        method: "POST",
        headers: { authorization: `Bearer ${bearer}`, "content-type": "application/json" },
        body: JSON.stringify(body),
      });
    const ok = await rest({ tenant_id: "acme", scopes: ["deals:read"] }, scoped.token);
    expect([ok.status, JSON.parse(ok.body).scopes]).toEqual([200, ["deals:read"]]);
    expect((await rest({ tenant_id: "acme", scopes: ["deals:write"] }, scoped.token)).status).toBe(403);
    const bad = await rest({ tenant_id: "acme", scopes: "deals:read" }, t.adminKey);
    expect([bad.status, JSON.parse(bad.body).error.message]).toEqual([400, "scopes: must be a list of strings"]);
  });

  it("a scoped admin key mints no key wider than itself: CreateAdminKey, CreateKey, RotateKey (attack finding)", async () => {
    // The admin tenant has 3 active places: free the ones earlier tests left (all but the bootstrap key).
    const bootstrapId = (await t.grpc.introspect({ token: t.adminKey })).keyId;
    const freeAdminPlaces = async () => {
      for (const k of (await t.grpc.listKeys({ tenantId: "admin" }, admin())).keys) {
        if (k.id !== bootstrapId && k.status === KeyStatus.ACTIVE)
          await t.grpc.revokeKey({ tenantId: "admin", keyId: k.id }, admin());
      }
    };
    await freeAdminPlaces();
    const fresh = await t.grpc.createAdminKey({ label: "to scope 2" }, admin());
    const scoped = await t.grpc.rotateKey(
      { tenantId: "admin", keyId: fresh.key!.id, scopes: { scopes: ["reports:read"] }, grace: { seconds: 0n } },
      admin(),
    );
    const as = { bearer: scoped.token };
    // A new admin key holds its creator's scopes, so it cannot mint wider sessions either.
    const child = await t.grpc.createAdminKey({ label: "child" }, as);
    expect(child.key!.scopes).toEqual(["reports:read"]);
    expect((await t.grpc.introspect({ token: child.token })).scopes).toEqual(["reports:read"]);
    expect(
      await codeOf(t.grpc.createSession({ tenantId: "acme", scopes: ["deals:write"] }, { bearer: child.token })),
    ).toBe("PERMISSION_DENIED");
    // CreateKey: none asked = its own; a wider one refused.
    const k = await t.grpc.createKey({ tenantId: "mint", label: "k" }, as);
    expect(k.key!.scopes).toEqual(["reports:read"]);
    expect(await codeOf(t.grpc.createKey({ tenantId: "mint", label: "w", scopes: ["deals:write"] }, as))).toBe(
      "PERMISSION_DENIED",
    );
    // RotateKey: itself into an unscoped key, or an unscoped tenant key inherited as is: refused.
    expect(
      await codeOf(t.grpc.rotateKey({ tenantId: "admin", keyId: scoped.key!.id, scopes: { scopes: [] } }, as)),
    ).toBe("PERMISSION_DENIED");
    const open = await t.grpc.createKey({ tenantId: "mint", label: "open" }, admin());
    expect(await codeOf(t.grpc.rotateKey({ tenantId: "mint", keyId: open.key!.id }, as))).toBe("PERMISSION_DENIED");
    const narrowed = await t.grpc.rotateKey(
      { tenantId: "mint", keyId: open.key!.id, scopes: { scopes: ["reports:read"] } },
      as,
    );
    expect(narrowed.key!.scopes).toEqual(["reports:read"]);
    await freeAdminPlaces();
  });

  it("an admin key with an IP allowlist authenticates admin calls only from its caller's address", async () => {
    const fresh = await t.grpc.createAdminKey({ label: "fenced" }, admin());
    const away = await t.grpc.rotateKey(
      { tenantId: "admin", keyId: fresh.key!.id, allowedCidrs: { cidrs: ["10.0.0.0/8"] } },
      admin(),
    );
    expect(await codeOf(t.grpc.listKeys({ tenantId: "acme" }, { bearer: away.token }))).toBe("UNAUTHENTICATED");
    const viaConnect = await connect()
      .listKeys({ tenantId: "acme" }, { headers: { authorization: `Bearer ${away.token}` } })
      .then(
        () => "OK",
        (e: unknown) => ConnectError.from(e).code,
      );
    expect(viaConnect).toBe(Code.Unauthenticated);
    const home = await t.grpc.rotateKey(
      { tenantId: "admin", keyId: away.key!.id, allowedCidrs: { cidrs: ["127.0.0.0/8", "::1"] } },
      admin(),
    );
    expect(await codeOf(t.grpc.listKeys({ tenantId: "acme" }, { bearer: home.token }))).toBe("OK");
  });

  it("/authz: required scopes and client address from the gateway's headers; 403 insufficient_scope with scope=; granted scopes upstream", async () => {
    const { token } = await t.grpc.createKey(
      { tenantId: "edge", label: "edge", scopes: ["reports:read"], allowedCidrs: ["10.0.0.0/8"] },
      admin(),
    );
    const authz = (h: Record<string, string>) =>
      httpRequest(t.port, "/authz", { headers: { authorization: `Bearer ${token}`, ...h } });
    const ok = await authz({ "x-warpflow-client-address": "10.1.1.1", "x-warpflow-required-scopes": "reports:read" });
    expect([ok.status, ok.headers["x-warpflow-scopes"]]).toEqual([200, "reports:read"]);
    const scope = await authz({
      "x-warpflow-client-address": "10.1.1.1",
      "x-warpflow-required-scopes": "reports:read  reports:write reports:read",
    });
    expect([scope.status, scope.headers["www-authenticate"]]).toEqual([
      403,
      'Bearer realm="warpflow", error="insufficient_scope", error_description="token lacks a required scope", scope="reports:read reports:write"',
    ]);
    const away = await authz({ "x-warpflow-client-address": "192.0.2.1" });
    expect([away.status, away.headers["www-authenticate"]]).toEqual([
      401,
      'Bearer realm="warpflow", error="invalid_token", error_description="token unknown"', // as a never-issued token
    ]);
    expect((await authz({})).status).toBe(401);
    const bad = await authz({ "x-warpflow-client-address": "10.1.1.1", "x-warpflow-required-scopes": 'a"b' });
    expect(bad.status).toBe(400);
    expect(bad.body).not.toContain('a"b');
  });
});
