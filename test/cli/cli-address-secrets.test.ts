import { join } from "node:path";
import { tmpdir } from "node:os";
import { describe, expect, it } from "vitest";
import { runCliInProcess } from "../support/cli.js";

/**
 * A server address with credentials in it (user:password, a query or fragment carrying a token) is
 * dialed as given, but never printed: the "failure to reach the server" message names the address
 * without them (it lands on terminals and in CI logs).
 */
const cli = (env: Record<string, string>) =>
  runCliInProcess(["keys", "list", "--tenant", "acme"], {
    env: { ADMIN_KEY_FILE: join(tmpdir(), "wf-none", "admin-key"), WARPFLOW_ADMIN_KEY: "wf_admin_x", ...env },
    stdin: "",
  });

describe("CLI: the server address's secrets are not printed", () => {
  it.each([
    ["user:password", "http://user:S3cretPassw0rd@127.0.0.1:9"],
    ["a query", "http://127.0.0.1:9/?token=S3cretPassw0rd"],
    ["a fragment", "http://127.0.0.1:9/#S3cretPassw0rd"],
  ])("WARPFLOW_URL with %s: the error names the server without it", async (_what, url) => {
    const r = await cli({ WARPFLOW_URL: url });
    expect(r.code).toBe(6);
    expect(r.stderr).toMatch(
      /\(server http:\/\/127\.0\.0\.1:9\/ \(credentials, query and fragment not shown\) from WARPFLOW_URL/,
    );
    expect(r.stdout + r.stderr).not.toContain("S3cretPassw0rd");
    expect(r.stdout + r.stderr).not.toContain("user:");
  });

  it("a plain address is named as given", async () => {
    const r = await cli({ WARPFLOW_URL: "http://127.0.0.1:9" });
    expect(r.code).toBe(6);
    expect(r.stderr).toContain("(server http://127.0.0.1:9 from WARPFLOW_URL");
  });
});
