import { beforeAll, describe, expect, it } from "vitest";
import { runCliInProcess } from "../support/cli.js";
import { useTestApp } from "../support/test-app.js";

/** `warpflow webhooks create|list|rotate-secret|delete` against the real service (issue 24). */
let env: Record<string, string>;
const cli = (args: string[]) => runCliInProcess(args, { env, stdin: "" });
const t = useTestApp({ logLevel: "warn", env: { WEBHOOK_DELIVERY: "off" } });
beforeAll(() => {
  env = { WARPFLOW_URL: `http://127.0.0.1:${t.port}`, WARPFLOW_ADMIN_KEY: t.adminKey };
});

describe("CLI: webhooks", () => {
  it("creates (secret shown once), lists (never the secret), rotates the secret and deletes (with --yes)", async () => {
    const created = await cli([
      "webhooks",
      "create",
      "--tenant",
      "acme",
      "--url",
      "https://hooks.example/w",
      "--events",
      "key.revoked,key.exposed",
      "--output",
      "json",
    ]);
    expect(created.code, created.stderr).toBe(0);
    const c = JSON.parse(created.stdout) as { secret: string; endpoint: { id: string; events: string[] } };
    expect(c.secret).toMatch(/^whsec_/);
    expect(c.endpoint.events).toEqual(["key.revoked", "key.exposed"]);

    const table = await cli(["webhooks", "list", "--tenant", "acme"]);
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toContain(c.endpoint.id);
    expect(table.stdout).toContain("https://hooks.example/w");
    expect(table.stdout).toContain("enabled");
    expect(table.stdout).not.toContain(c.secret.slice(6));

    const rotated = await cli(["webhooks", "rotate-secret", "--tenant", "acme", "--endpoint", c.endpoint.id]);
    expect(rotated.code, rotated.stderr).toBe(0);
    expect(rotated.stdout).toMatch(/new signing secret \(shown only once, store it now\):\n {2}whsec_/);
    expect(rotated.stdout).not.toContain(c.secret.slice(6));

    const refused = await cli(["webhooks", "delete", "--tenant", "acme", "--endpoint", c.endpoint.id]);
    expect(refused.code).not.toBe(0); // no terminal, no --yes: not deleted
    expect((await t.grpc.listWebhookEndpoints({ tenantId: "acme" }, { bearer: t.adminKey })).endpoints).toHaveLength(1);
    const deleted = await cli(["webhooks", "delete", "--tenant", "acme", "--endpoint", c.endpoint.id, "--yes"]);
    expect(deleted.code, deleted.stderr).toBe(0);
    expect((await t.grpc.listWebhookEndpoints({ tenantId: "acme" }, { bearer: t.adminKey })).endpoints).toHaveLength(0);
    expect((await cli(["webhooks", "list", "--tenant", "acme"])).stdout).toContain("no webhook endpoints");
  });

  it("a bad URL is INVALID_ARGUMENT naming the field, without echoing the value", async () => {
    const r = await cli(["webhooks", "create", "--tenant", "acme", "--url", "ftp://hunter2.example/"]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("url:");
    expect(r.stderr).not.toContain("hunter2");
  });
});
