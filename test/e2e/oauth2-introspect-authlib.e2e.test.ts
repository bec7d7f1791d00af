import { execFile, execFileSync } from "node:child_process";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { repoRoot } from "../support/service-process.js";
import { useTestApp } from "../support/test-app.js";

/**
 * POST /oauth2/introspect against an RFC 7662 client nobody here wrote: Authlib (Debian's
 * python3-authlib 1.2, with python3-requests), as an Authlib resource server uses it
 * (ResourceProtector + IntrospectTokenValidator + OAuth2Session.introspect_token with
 * client_secret_basic): test/support/authlib_introspect.py. Skipped, saying why, without them.
 */
const PYTHON = "/usr/bin/python3";
const missing = (() => {
  try {
    execFileSync(PYTHON, ["-c", "import authlib, requests"], { stdio: "pipe" });
    return undefined;
  } catch {
    return `${PYTHON} cannot import authlib and requests (apt-get install python3-authlib python3-requests)`;
  }
})();
if (missing) console.log(`Authlib RFC 7662 client test skipped: ${missing}`);

const SECRET = "authlib-secret/0123456789+abcdefghij=";
const t = useTestApp({
  env: { OAUTH2_INTROSPECT_CLIENTS: `resource-server:${SECRET}`, OAUTH2_ISSUER: "https://auth.example.com" },
});

interface Outcome {
  name: string;
  status: number | null;
  claims: Record<string, unknown> | null;
  accepted?: Record<string, unknown>;
  error?: string;
}

function authlib(secret: string, cases: { name: string; token: string; hint?: string }[]): Promise<Outcome[]> {
  const input = JSON.stringify({
    url: `${t.baseUrl}/oauth2/introspect`,
    client_id: "resource-server",
    client_secret: secret,
    cases,
  });
  return new Promise((resolve, reject) => {
    const child = execFile(
      PYTHON,
      [join(repoRoot, "test/support/authlib_introspect.py")],
      { timeout: 30_000, env: { ...process.env, AUTHLIB_INSECURE_TRANSPORT: "1" } },
      (err, stdout, stderr) => {
        if (err) return reject(new Error(`authlib client failed: ${stderr || err.message}`));
        resolve(
          stdout
            .trim()
            .split("\n")
            .map((l) => JSON.parse(l) as Outcome),
        );
      },
    );
    child.stdin!.end(input);
  });
}

describe.skipIf(missing !== undefined)("Authlib (python3-authlib) as the RFC 7662 client", () => {
  it("accepts an active key and session with their claims; refuses revoked, unknown and malformed tokens", async () => {
    const { token, key } = await t.grpc.createKey({ tenantId: "acme", label: "authlib" }, { bearer: t.adminKey });
    const revoked = await t.grpc.createKey({ tenantId: "acme", label: "gone" }, { bearer: t.adminKey });
    await t.grpc.revokeKey({ tenantId: "acme", keyId: revoked.key!.id }, { bearer: t.adminKey });
    const session = await t.grpc.createSession({ tenantId: "acme" }, { bearer: t.adminKey });
    const out = await authlib(SECRET, [
      { name: "key", token, hint: "access_token" },
      { name: "session", token: session.token },
      { name: "revoked", token: revoked.token },
      { name: "unknown", token: `${token.slice(0, -4)}AAAA` },
      { name: "malformed", token: "not-a-warpflow-token" },
    ]);
    const by = Object.fromEntries(out.map((o) => [o.name, o]));
    expect(by.key).toMatchObject({
      status: 200,
      accepted: {
        active: true,
        client_id: key!.id,
        sub: key!.id,
        token_type: "Bearer",
        tenant_id: "acme",
        admin: false,
        iss: "https://auth.example.com",
      },
    });
    expect(by.key!.accepted!.iat).toEqual(expect.any(Number));
    expect(by.session).toMatchObject({ status: 200, accepted: { active: true, client_id: session.sessionId } });
    expect(by.session!.accepted!.exp).toBe(Number(session.expiresAt!.seconds));
    for (const name of ["revoked", "unknown", "malformed"]) {
      expect(by[name], name).toEqual({ name, status: 200, claims: { active: false }, error: "invalid_token" });
    }
  });

  it("a wrong client secret: the endpoint answers 401 and Authlib refuses the request", async () => {
    const { token } = await t.grpc.createKey({ tenantId: "beta", label: "authlib" }, { bearer: t.adminKey });
    const [out] = await authlib(`${SECRET}x`, [{ name: "key", token }]);
    expect(out).toMatchObject({ status: 401, claims: { error: "invalid_client" }, error: "HTTPError" });
    expect(out!.accepted).toBeUndefined();
  });
});
