// The plain-HTTP answers never repeat request text (review follow-up, session 32): a 404 said
// "no route for <METHOD> <path>", so a token in a mistyped path came back in
// the body, and into whatever logs the client or a proxy keeps.
import { describe, expect, it } from "vitest";
import { httpRequest } from "../support/authz.js";
import { useTestApp } from "../support/test-app.js";

const t = useTestApp();
const SECRET = "wf_live_0123456789abcdefSECRETx";

describe("a 404 names no part of the request", () => {
  it.each([
    ["GET", `/api/v1/keys/${SECRET}`],
    ["POST", `/${SECRET}`],
    ["DELETE", `/api/v1/sessions/${SECRET}`],
    ["PATCH", `/v1?token=${SECRET}`],
  ])("%s %s", async (method, path) => {
    const r = await httpRequest(t.port, path, { method });
    expect(r.status).toBe(404);
    expect(JSON.parse(r.body)).toEqual({ error: { code: "not_found", message: expect.any(String) } });
    expect(r.body).not.toContain(SECRET.slice(0, 12));
    expect(r.body).not.toContain(path);
  });
});
