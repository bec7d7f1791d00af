import { execFile, execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createMemoryTokenStore } from "../../src/adapters/memory/memory-token-store.js";
import { bufCurl } from "../support/buf-curl.js";
import { createTestPki, hasOpenssl } from "../support/certs.js";
import { createFaultyStore, type FaultyStore } from "../support/faulty-store.js";
import { metricsText } from "../support/probes.js";
import { repoRoot } from "../support/service-process.js";
import { startTestApp, type TestApp } from "../support/test-app.js";

/**
 * Envoy's ext_authz over gRPC (envoy.service.auth.v3.Authorization/Check), from outside: Debian's
 * python3-grpcio builds real CheckRequests from the field numbers of Envoy's own protos
 * (test/support/ext_authz_client.py, its own descriptors, not this project's generated code) and
 * decodes the CheckResponses the way Envoy's filter reads them; buf curl calls Check through
 * server reflection. Without python3-grpcio the python cases are skipped, saying why.
 */
const PYTHON = "/usr/bin/python3";
const missing = (() => {
  try {
    execFileSync(PYTHON, ["-c", "import grpc, google.protobuf"], { stdio: "pipe" });
    return undefined;
  } catch {
    return `${PYTHON} cannot import grpc and google.protobuf (apt-get install python3-grpcio python3-protobuf)`;
  }
})();
if (missing) console.log(`ext_authz python cases skipped: ${missing}`);

interface Case {
  source_address?: string;
  headers?: Record<string, string>;
  header_map?: [string, string][];
  context_extensions?: Record<string, string>;
  metadata?: Record<string, string>;
  raw_hex?: string;
}
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON the python client printed, checked by the assertions
type Answer = Record<string, any>;

function envoy(t: TestApp, cases: Case[], tls?: Record<string, string>): Promise<Answer[]> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      PYTHON,
      [join(repoRoot, "test/support/ext_authz_client.py"), tls ? `localhost:${t.port}` : t.address],
      { timeout: 60_000, maxBuffer: 16 << 20, env: { ...process.env, ...tls } },
      (err, stdout, stderr) =>
        err ? reject(new Error(`ext_authz client failed: ${stderr.slice(-800)}`)) : resolve(JSON.parse(stdout)),
    );
    child.stdin!.end(JSON.stringify(cases));
  });
}
const one = async (t: TestApp, c: Case) => (await envoy(t, [c]))[0]!;
const bearer = (token: string, extra: Record<string, string> = {}): Case => ({
  headers: { authorization: `Bearer ${token}`, ...extra },
});
const challenge = (error: string, description: string) =>
  `Bearer realm="warpflow", error="${error}", error_description="${description}"`;
const OVERWRITE = 2; // HeaderValueOption.HeaderAppendAction.OVERWRITE_IF_EXISTS_OR_ADD

function expectAllowed(a: Answer, claims: Record<string, string>, removed: string[] = []) {
  expect(a.status).toEqual({ code: 0, message: "" });
  expect(a.denied).toBeUndefined();
  const headers = a.ok.headers as { key: string; value: string; append: boolean | null; append_action: number }[];
  expect(Object.fromEntries(headers.map((h) => [h.key, h.value]))).toEqual(claims);
  // Overwrite, never append: a client's forged copy is replaced on every Envoy version.
  for (const h of headers) expect([h.append, h.append_action]).toEqual([false, OVERWRITE]);
  expect([...a.ok.headers_to_remove].sort()).toEqual([...removed].sort());
}

function expectDenied(a: Answer, grpcCode: number, http: number, wwwAuthenticate: string, code: string) {
  expect(a.status.code).toBe(grpcCode);
  expect(a.ok).toBeUndefined();
  expect(a.dynamic_metadata).toBeUndefined();
  expect(a.denied.status).toBe(http);
  expect(a.denied.headers["www-authenticate"]).toBe(wwwAuthenticate);
  expect(a.denied.headers["content-type"]).toBe("application/json");
  expect(JSON.parse(a.denied.body as string)).toEqual({ error: { code, message: a.status.message } });
}

describe.skipIf(missing !== undefined)("Check from python grpcio (Envoy's CheckRequest, field numbers)", () => {
  let t: TestApp;
  let faulty: FaultyStore;
  const admin = () => ({ bearer: t.adminKey });
  beforeAll(async () => {
    faulty = createFaultyStore(createMemoryTokenStore());
    t = await startTestApp({ store: faulty.store });
  });
  afterAll(() => t?.close());

  it("scopes and the IP allowlist (issue 22): required_scopes from a context extension, the address from the source peer", async () => {
    const scoped = await t.grpc.createKey(
      { tenantId: "scoped", label: "envoy", scopes: ["contacts:read"], allowedCidrs: ["203.0.113.0/24"] },
      admin(),
    );
    const ext = (required: string) => ({ tenant_id: "scoped", required_scopes: required });
    const [granted, lacking, outside] = await envoy(t, [
      { ...bearer(scoped.token), context_extensions: ext("contacts:read") },
      { ...bearer(scoped.token), context_extensions: ext("contacts:read deals:write") },
      { ...bearer(scoped.token), context_extensions: ext("contacts:read"), source_address: "198.51.100.9" },
    ]);
    expect(granted!.status.code).toBe(0);
    const headers = granted!.ok.headers as { key: string; value: string }[];
    expect(headers.find((h) => h.key === "x-warpflow-scopes")?.value).toBe("contacts:read");
    expect(lacking!.status.code).toBe(7); // PERMISSION_DENIED
    expect(lacking!.denied.status).toBe(403);
    expect(lacking!.denied.headers["www-authenticate"]).toMatch(
      /error="insufficient_scope".*scope="contacts:read deals:write"/,
    );
    expect(outside!.status.code).toBe(16); // UNAUTHENTICATED
    expect(outside!.denied.status).toBe(401);
  });

  it("a valid key: OK, every claim header set with overwrite, the claims in dynamic metadata (cold and cached alike)", async () => {
    const { token, key } = await t.grpc.createKey({ tenantId: "acme", label: "envoy" }, admin());
    const c = { ...bearer(token), context_extensions: { tenant_id: "acme" } };
    const [cold, cached] = await envoy(t, [c, c]);
    for (const a of [cold!, cached!]) {
      expectAllowed(a, {
        "x-warpflow-tenant-id": "acme",
        "x-warpflow-token-type": "api_key",
        "x-warpflow-key-id": key!.id,
      });
      expect(a.dynamic_metadata).toEqual({
        tenant_id: "acme",
        token_type: "api_key",
        key_id: key!.id,
        admin: false,
        deprecated: false,
      });
    }
    // Same caller, same metrics as Introspect: the method label is Check.
    expect(await metricsText(t.baseUrl)).toMatch(
      /warpflow_rpc_duration_seconds_count\{method="Check",code="ok"\} [1-9]/,
    );
  });

  it("header_map (encode_raw_headers: key + raw_value) reads the same credential", async () => {
    const { token } = await t.grpc.createKey({ tenantId: "rawmode", label: "envoy" }, admin());
    const a = await one(t, {
      header_map: [
        [":authority", "api.example"],
        ["authorization", `Bearer ${token}`],
      ],
      context_extensions: { tenant_id: "rawmode" },
    });
    expect(a.status.code).toBe(0);
    expect(a.dynamic_metadata.tenant_id).toBe("rawmode");
    // Two authorization entries (header_map does not merge them) are no credential.
    const two = await one(t, {
      header_map: [
        ["authorization", `Bearer ${token}`],
        ["authorization", `Bearer ${token}`],
      ],
    });
    expectDenied(two, 16, 401, challenge("invalid_request", "more than one authorization header"), "invalid_request");
  });

  it("forged x-warpflow-* headers: the claims overwrite theirs, the rest are removed", async () => {
    const { token, key } = await t.grpc.createKey({ tenantId: "forge", label: "envoy" }, admin());
    const forged = {
      "x-warpflow-tenant-id": "victim",
      "x-warpflow-admin": "true",
      "x-warpflow-groups": "admins",
      "x-warpflow-expected-tenant-id": "victim",
    };
    for (const a of await envoy(t, [bearer(token, forged), bearer(token, forged)])) {
      expectAllowed(
        a,
        { "x-warpflow-tenant-id": "forge", "x-warpflow-token-type": "api_key", "x-warpflow-key-id": key!.id },
        ["x-warpflow-admin", "x-warpflow-groups", "x-warpflow-expected-tenant-id"],
      );
    }
    // header_map keys in any case are the same headers.
    const raw = await one(t, {
      header_map: [
        ["authorization", `Bearer ${token}`],
        ["X-Warpflow-Admin", "true"],
      ],
    });
    expect(raw.ok.headers_to_remove).toEqual(["x-warpflow-admin"]);
  });

  it("revoked, unknown and malformed tokens: UNAUTHENTICATED with a 401 invalid_token", async () => {
    const { token, key } = await t.grpc.createKey({ tenantId: "gone", label: "envoy" }, admin());
    expect((await one(t, bearer(token))).status.code).toBe(0); // cached now
    await t.grpc.revokeKey({ tenantId: "gone", keyId: key!.id }, admin());
    const [revoked, unknown, malformed] = await envoy(t, [
      bearer(token),
      bearer(`${token.slice(0, -4)}AAAA`),
      bearer("not-a-token"),
    ]);
    expectDenied(revoked!, 16, 401, challenge("invalid_token", "token revoked"), "invalid_token");
    expect(unknown!.denied.status).toBe(401);
    expect(malformed!.denied.headers["www-authenticate"]).toBe(challenge("invalid_token", "token malformed"));
  });

  it("another tenant's key: PERMISSION_DENIED with a 403 insufficient_scope", async () => {
    const { token } = await t.grpc.createKey({ tenantId: "other", label: "envoy" }, admin());
    const a = await one(t, { ...bearer(token), context_extensions: { tenant_id: "acme" } });
    expectDenied(a, 7, 403, challenge("insufficient_scope", "token not valid for this tenant"), "insufficient_scope");
  });

  it("no credential, another scheme, a broken Bearer: 401 with RFC 6750's challenge", async () => {
    const [none, basic, broken] = await envoy(t, [
      { headers: { ":path": "/x" } },
      { headers: { authorization: "Basic dXNlcjpwdw==" } },
      { headers: { authorization: "Bearer a b" } },
    ]);
    expectDenied(none!, 16, 401, 'Bearer realm="warpflow"', "unauthenticated");
    expectDenied(basic!, 16, 401, 'Bearer realm="warpflow"', "unauthenticated");
    expectDenied(broken!, 16, 401, challenge("invalid_request", "malformed bearer credential"), "invalid_request");
  });

  it("store down: the call fails UNAVAILABLE (Envoy's failure_mode_allow: false fails closed), then recovers", async () => {
    const { token } = await t.grpc.createKey({ tenantId: "outage", label: "envoy" }, admin());
    faulty.setMode({ kind: "fail" });
    try {
      expect(await one(t, bearer(token))).toEqual({
        rpc_error: "UNAVAILABLE",
        details: "token store unavailable, retry",
      });
    } finally {
      faulty.heal();
    }
    expect((await one(t, bearer(token))).status.code).toBe(0);
  });

  it("hostile requests: clear errors or a denial, no crash, nothing echoed", async () => {
    const many = Object.fromEntries(Array.from({ length: 150 }, (_, i) => [`x-warpflow-f${i}`, "SECRETVALUE"]));
    const [garbage, flood, huge, after] = await envoy(t, [
      { raw_hex: "0aff01ffffffff" },
      bearer("SECRETTOKEN", many),
      { headers: { authorization: "Bearer SECRETTOKEN", "x-big": "A".repeat(200_000) } },
      bearer(t.adminKey),
    ]);
    expect(garbage!.rpc_error).toBe("INVALID_ARGUMENT");
    // The client's doing: denied (an error would be allowed through by failure_mode_allow: true).
    expectDenied(
      flood!,
      16,
      401,
      challenge("invalid_request", "more than 100 x-warpflow-* headers"),
      "invalid_request",
    );
    expect(huge!.rpc_error).toBe("RESOURCE_EXHAUSTED");
    expect(after!.status.code).toBe(0);
    const said = JSON.stringify([garbage, flood, huge]) + t.logs.join("\n");
    expect(said).not.toContain("SECRET");
    expect(t.logs.join("\n")).not.toContain(t.adminKey);
  });
});

describe.skipIf(missing !== undefined)("Check with the caller restriction and a required tenant binding", () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({
      env: { INTROSPECT_CALLER_TOKEN: "envoy-caller-secret-0123456789abcdef", AUTHZ_REQUIRE_TENANT_BINDING: "true" },
      logLevel: "debug",
    });
  });
  afterAll(() => t?.close());
  const caller = { "x-warpflow-caller-token": "envoy-caller-secret-0123456789abcdef" };

  it("without the caller credential the call fails UNAUTHENTICATED (an error, not a denial: Envoy fails closed)", async () => {
    const [none, wrong, ok] = await envoy(t, [
      { ...bearer(t.adminKey), context_extensions: { tenant_id: "*" } },
      { ...bearer(t.adminKey), context_extensions: { tenant_id: "*" }, metadata: { "x-warpflow-caller-token": "no" } },
      { ...bearer(t.adminKey), context_extensions: { tenant_id: "*" }, metadata: caller },
    ]);
    expect(none!.rpc_error).toBe("UNAUTHENTICATED");
    expect(wrong!.rpc_error).toBe("UNAUTHENTICATED");
    expect(ok!.status.code).toBe(0);
    expect(ok!.dynamic_metadata).toMatchObject({ tenant_id: "admin", admin: true });
  });

  it("AUTHZ_REQUIRE_TENANT_BINDING: no tenant_id extension is a 403; `*` opens the route to any tenant", async () => {
    const [unbound, any, bound] = await envoy(t, [
      { ...bearer(t.adminKey), metadata: caller },
      { ...bearer(t.adminKey), context_extensions: { tenant_id: "*" }, metadata: caller },
      { ...bearer(t.adminKey), context_extensions: { tenant_id: "acme" }, metadata: caller },
    ]);
    expectDenied(
      unbound!,
      7,
      403,
      challenge("insufficient_scope", "route has no tenant binding"),
      "insufficient_scope",
    );
    expect(any!.status.code).toBe(0);
    expect(bound!.denied.status).toBe(403);
  });

  it("debug logs name the method Check and never carry the token or the caller credential", async () => {
    await one(t, { ...bearer(t.adminKey), context_extensions: { tenant_id: "*" }, metadata: caller });
    const lines = t.logs.filter((l) => l.includes('"rpc":"Check"'));
    expect(lines.length).toBeGreaterThan(0);
    const all = t.logs.join("\n");
    expect(all).not.toContain(t.adminKey);
    expect(all).not.toContain("envoy-caller-secret-0123456789abcdef");
  });
});

describe("buf curl: Check through server reflection", () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(() => t?.close());

  const curl = async (args: string[]) => {
    const r = await bufCurl(["--protocol", "grpc", "--http2-prior-knowledge", ...args]);
    if (r.stderr) console.log(t.logs.slice(-5).join("\n"));
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    return r.stdout;
  };

  it("lists and describes the Authorization service, and calls Check with a CheckRequest in JSON", async () => {
    expect((await curl(["--list-services", t.baseUrl])).split("\n")).toContain("envoy.service.auth.v3.Authorization");
    expect((await curl(["--list-methods", t.baseUrl])).split("\n")).toContain(
      "envoy.service.auth.v3.Authorization/Check",
    );
    const request = {
      attributes: {
        source: { address: { socketAddress: { address: "198.51.100.4", portValue: 5555 } } },
        request: { http: { method: "GET", path: "/", headers: { authorization: `Bearer ${t.adminKey}` } } },
        contextExtensions: { tenant_id: "*" },
      },
    };
    const out = JSON.parse(
      await curl(["-d", JSON.stringify(request), `${t.baseUrl}/envoy.service.auth.v3.Authorization/Check`]),
    ) as Answer;
    expect(out.status ?? {}).toEqual({});
    expect(out.okResponse.headers).toContainEqual({
      header: { key: "x-warpflow-tenant-id", value: "admin" },
      append: false,
      appendAction: "OVERWRITE_IF_EXISTS_OR_ADD",
    });
    expect(out.dynamicMetadata).toMatchObject({ tenant_id: "admin", token_type: "api_key", admin: true });
    // The same handler over Connect (HTTP/1.1 JSON): one decision whatever the protocol.
    const r = await bufCurl([
      "--protocol",
      "connect",
      "-d",
      JSON.stringify(request),
      `${t.baseUrl}/envoy.service.auth.v3.Authorization/Check`,
    ]);
    expect(r.code).toBe(0);
    expect((JSON.parse(r.stdout) as Answer).dynamicMetadata).toEqual(out.dynamicMetadata);
  });
});

describe.skipIf(missing !== undefined || !hasOpenssl())("Check with INTROSPECT_REQUIRE_CLIENT_CERT (TLS)", () => {
  let t: TestApp;
  let files: { cert: string; key: string; rogueCert: string; rogueKey: string; ca: string };
  beforeAll(async () => {
    const pki = createTestPki();
    files = {
      cert: join(pki.dir, "ext-client.crt"),
      key: join(pki.dir, "ext-client.key"),
      rogueCert: join(pki.dir, "ext-rogue.crt"),
      rogueKey: join(pki.dir, "ext-rogue.key"),
      ca: pki.caFile,
    };
    writeFileSync(files.cert, pki.clientCert);
    writeFileSync(files.key, pki.clientKey);
    writeFileSync(files.rogueCert, pki.rogueCert);
    writeFileSync(files.rogueKey, pki.rogueKey);
    t = await startTestApp({
      env: {
        TLS_CERT_FILE: pki.serverCertFile,
        TLS_KEY_FILE: pki.serverKeyFile,
        TLS_CLIENT_CA_FILE: pki.caFile,
        TLS_CLIENT_CERT_OPTIONAL: "true",
        INTROSPECT_REQUIRE_CLIENT_CERT: "true",
      },
    });
  });
  afterAll(() => t?.close());

  it("a verified client certificate is required; without one, or with another CA's, the call fails UNAUTHENTICATED", async () => {
    const c = { ...bearer(t.adminKey), context_extensions: { tenant_id: "*" } };
    const [withCert] = await envoy(t, [c], {
      EXT_AUTHZ_TLS_CA: files.ca!,
      EXT_AUTHZ_TLS_CERT: files.cert!,
      EXT_AUTHZ_TLS_KEY: files.key!,
    });
    const [noCert] = await envoy(t, [c], { EXT_AUTHZ_TLS_CA: files.ca! });
    const [rogue] = await envoy(t, [c], {
      EXT_AUTHZ_TLS_CA: files.ca!,
      EXT_AUTHZ_TLS_CERT: files.rogueCert!,
      EXT_AUTHZ_TLS_KEY: files.rogueKey!,
    });
    expect(withCert!.status.code).toBe(0);
    expect(noCert).toMatchObject({ rpc_error: "UNAUTHENTICATED", details: expect.stringContaining("certificate") });
    expect(rogue!.rpc_error).toBeDefined();
    expect(rogue!.status).toBeUndefined();
  });
});
