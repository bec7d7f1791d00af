import { describe, expect, it } from "vitest";
import { lengthPrefixed } from "../support/raw-socket.js";
import { useTestApp } from "../support/test-app.js";
import { h2Exchange } from "../support/h2-request.js";

/**
 * A JSON body (Connect, gRPC-Web JSON) that is not the method's message is INVALID_ARGUMENT with a
 * fixed text. Before: connect-es's own error quoted the body: JSON.parse's excerpt
 * (`Unexpected token 'w', ..."token": wf_acme_FC"...`) or a rejected value in full (`expected
 * bigint (uint64): wf_acme_... out of range`): a token put in the wrong place came back in the answer.
 */
const t = useTestApp({ logLevel: "warn" });
const SVC = "/warpflow.auth.v1.TokenService";

let token = "";
const key = async () => {
  if (token === "") {
    const r = await t.grpc.createKey({ tenantId: "json-echo", label: "x" }, { bearer: t.adminKey });
    token = r.token;
  }
  return token;
};

const secretOf = (tok: string) => tok.slice("wf_json-echo_".length, "wf_json-echo_".length + 6);

describe("JSON bodies: the answer never quotes the body", () => {
  it("Connect unary JSON (HTTP/1.1 and HTTP/2): not JSON, or a value of the wrong type", async () => {
    const tok = await key();
    const bodies = [
      `{"token": ${tok}}`, // unquoted: JSON.parse's excerpt held the token's first characters
      `{"token":"${tok}","expected_tenant_id":${tok}}`,
      `{"token":{"${tok}":1}}`,
    ];
    for (const body of bodies) {
      const h1 = await fetch(`${t.baseUrl}${SVC}/Introspect`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body,
      });
      const text1 = await h1.text();
      expect(h1.status, text1).toBe(400);
      expect(JSON.parse(text1)).toMatchObject({ code: "invalid_argument" });
      expect(text1).not.toContain(tok.slice(0, 10));
      expect(text1).not.toContain(secretOf(tok));
      const h2 = await h2Exchange(
        t.baseUrl,
        { ":path": `${SVC}/Introspect`, "content-type": "application/json" },
        Buffer.from(body),
      );
      expect(h2.status).toBe(400);
      expect(h2.body.toString()).not.toContain(tok.slice(0, 10));
    }
    // A good JSON body is still answered.
    const ok = await fetch(`${t.baseUrl}${SVC}/Introspect`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ token: tok }),
    });
    expect(await ok.json()).toMatchObject({ active: true, tenantId: "json-echo" });
  });

  it("Connect streaming JSON (WatchInvalidations): a token as resume_after_sequence is not quoted back", async () => {
    const tok = await key();
    for (const body of [`{"resume_after_sequence":"${tok}"}`, `{"resume_after_sequence":${tok}}`]) {
      const r = await fetch(`${t.baseUrl}${SVC}/WatchInvalidations`, {
        method: "POST",
        headers: { "content-type": "application/connect+json" },
        body: lengthPrefixed(Buffer.from(body)),
        signal: AbortSignal.timeout(5000),
      });
      const text = Buffer.from(await r.arrayBuffer()).toString("latin1");
      expect(text).toMatch(/invalid_argument/);
      expect(text).not.toContain(tok.slice(0, 10));
      expect(text).not.toContain(secretOf(tok));
    }
  });
});
