import { join } from "node:path";
import { tmpdir } from "node:os";
import { describe, expect, it } from "vitest";
import { runCliInProcess } from "../support/cli.js";
import { useTestApp } from "../support/test-app.js";

/**
 * `warpflow introspect` against a server that restricts Introspect callers (INTROSPECT_CALLER_TOKEN,
 * docs/security.md): it sends WARPFLOW_CALLER_TOKEN as `warpflow watch` does, and prints neither it
 * nor the token.
 */
const CALLER = "cli-caller-secret-0123456789abcdefghijklmnop";
const t = useTestApp({ env: { INTROSPECT_CALLER_TOKEN: CALLER } });

const introspect = (env: Record<string, string | undefined>) =>
  runCliInProcess(["introspect"], {
    env: { ADMIN_KEY_FILE: join(tmpdir(), "wf-none", "admin-key"), WARPFLOW_URL: t.baseUrl, ...env },
    stdin: `${t.adminKey}\n`,
  });

describe("CLI introspect with INTROSPECT_CALLER_TOKEN", () => {
  it("sends WARPFLOW_CALLER_TOKEN: the token is answered active", async () => {
    const r = await introspect({ WARPFLOW_CALLER_TOKEN: CALLER });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^active: API key of tenant admin/);
    expect(r.stdout + r.stderr).not.toContain(CALLER);
    expect(r.stdout + r.stderr).not.toContain(t.adminKey);
  });

  it("without it (or with a wrong one) the server refuses: exit 3, nothing secret printed", async () => {
    const envs: Record<string, string>[] = [{}, { WARPFLOW_CALLER_TOKEN: "wrong-caller-secret-0123456789abcdefghij" }];
    for (const env of envs) {
      const r = await introspect(env);
      expect(r.stderr).toMatch(/unauthenticated/);
      expect(r.code).toBe(3);
      expect(r.stdout + r.stderr).not.toContain(t.adminKey);
      expect(r.stdout + r.stderr).not.toContain("wrong-caller-secret");
    }
  });
});
