// Issue 22 in the admin CLI (in process, against the real service on port 0): keys create --expires
// (a lifetime or an ISO time), keys rotate --grace, keys suspend|resume, policy set
// --max-key-lifetime (without touching HIPAA), and keys list showing expiry and suspension. Each
// effect is checked on the server through gRPC; bad values are usage errors that do not echo.
import { beforeAll, describe, expect, it } from "vitest";
import { runCliInProcess } from "../support/cli.js";
import { useTestApp } from "../support/test-app.js";

let env: Record<string, string>;
const cli = (args: string[]) => runCliInProcess(args, { env, stdin: "" });
const t = useTestApp({ logLevel: "warn" });
const admin = () => ({ bearer: t.adminKey });
const DAY = 86_400_000;
beforeAll(() => {
  env = { WARPFLOW_URL: `http://127.0.0.1:${t.port}`, WARPFLOW_ADMIN_KEY: t.adminKey };
});
const secondsOf = (ts: { seconds: bigint } | undefined) => Number(ts!.seconds) * 1000;

describe("CLI: expiry, grace, suspend and resume (issue 22)", () => {
  it("keys create --expires 90d or an ISO time; keys list shows the expiry", async () => {
    const r = await cli(["keys", "create", "--tenant", "cli-exp", "--label", "ci", "--expires", "90d", "--json"]);
    expect(r.code, r.stderr).toBe(0);
    const key = (JSON.parse(r.stdout) as { key: { id: string; expiresAt: string; createdAt: string } }).key;
    expect(Date.parse(key.expiresAt) - Date.parse(key.createdAt)).toBe(90 * DAY);
    const at = await cli([
      "keys",
      "create",
      "--tenant",
      "cli-exp",
      "--label",
      "audit",
      "--expires",
      "2027-01-01T00:00:00Z",
      "--json",
    ]);
    expect(at.code, at.stderr).toBe(0);
    expect((JSON.parse(at.stdout) as { key: { expiresAt: string } }).key.expiresAt).toBe("2027-01-01T00:00:00Z");
    const list = await cli(["keys", "list", "--tenant", "cli-exp"]);
    expect(list.stdout).toMatch(/active, expires in (89|90) d/);
  });

  it("policy set --max-key-lifetime keeps HIPAA and asks nothing; a longer --expires is refused naming the maximum", async () => {
    await t.grpc.setTenantPolicy({ tenantId: "cli-max", hipaaEnabled: false }, admin());
    const set = await cli(["policy", "set", "--tenant", "cli-max", "--max-key-lifetime", "30d"]);
    expect(set.code, set.stderr).toBe(0);
    expect(set.stdout).toContain("max key lifetime 30d");
    const p = (await t.grpc.getTenantPolicy({ tenantId: "cli-max" }, admin())).policy!;
    expect(p.hipaaEnabled).toBe(false);
    expect(Number(p.maxKeyLifetime!.seconds)).toBe(30 * 86_400);
    const tooLong = await cli(["keys", "create", "--tenant", "cli-max", "--label", "x", "--expires", "31d"]);
    expect(tooLong.code).toBe(2);
    expect(tooLong.stderr).toContain("max_key_lifetime of 30d");
    const none = await cli(["policy", "set", "--tenant", "cli-max", "--max-key-lifetime", "none"]);
    expect(none.code, none.stderr).toBe(0);
    expect((await t.grpc.getTenantPolicy({ tenantId: "cli-max" }, admin())).policy!.maxKeyLifetime).toBeUndefined();
  });

  it("keys rotate --grace 0h revokes the old key now; --grace 24h ends it in 24 hours", async () => {
    const k = await t.grpc.createKey({ tenantId: "cli-grace", label: "g" }, admin());
    const r = await cli(["keys", "rotate", "--tenant", "cli-grace", "--key", k.key!.id, "--grace", "24h", "--json"]);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { key: { id: string }; previousKey: { revokeAt: string; status: string } };
    const next = out.key.id;
    const old = (await t.grpc.listKeys({ tenantId: "cli-grace" }, admin())).keys.find((x) => x.id === k.key!.id)!;
    expect(secondsOf(old.revokeAt) - Date.now()).toBeGreaterThan(24 * 3_600_000 - 60_000);
    expect(secondsOf(old.revokeAt) - Date.now()).toBeLessThanOrEqual(24 * 3_600_000);
    const z = await cli(["keys", "rotate", "--tenant", "cli-grace", "--key", next, "--grace", "0h", "--json"]);
    expect(z.code, z.stderr).toBe(0);
    expect((JSON.parse(z.stdout) as { previousKey: { status: string } }).previousKey.status).toBe("KEY_STATUS_REVOKED");
    const zKey = (JSON.parse(z.stdout) as { key: { id: string } }).key.id;
    const f = await cli(["keys", "rotate", "--tenant", "cli-grace", "--key", zKey, "--retire-on-first-use", "--json"]);
    expect(f.code, f.stderr).toBe(0);
    expect((JSON.parse(f.stdout) as { key: { retireOnFirstUse: boolean } }).key.retireOnFirstUse).toBe(true);
  });

  it("keys suspend / resume; keys list shows a suspended key; a revoked key cannot be resumed (exit 5)", async () => {
    const k = await t.grpc.createKey({ tenantId: "cli-sus", label: "s" }, admin());
    const s = await cli(["keys", "suspend", "--tenant", "cli-sus", "--key", k.key!.id]);
    expect(s.code, s.stderr).toBe(0);
    expect(s.stdout).toMatch(/suspended/);
    expect((await t.grpc.introspect({ token: k.token })).active).toBe(false);
    expect((await cli(["keys", "list", "--tenant", "cli-sus"])).stdout).toMatch(/suspended (just now|\d+ s ago)/);
    const r = await cli(["keys", "resume", "--tenant", "cli-sus", "--key", k.key!.id]);
    expect(r.code, r.stderr).toBe(0);
    expect((await t.grpc.introspect({ token: k.token })).active).toBe(true);
    await t.grpc.revokeKey({ tenantId: "cli-sus", keyId: k.key!.id }, admin());
    expect((await cli(["keys", "resume", "--tenant", "cli-sus", "--key", k.key!.id])).code).toBe(5);
  });

  it("a bad --expires, --grace or --max-key-lifetime is a usage error naming the option, never the value", async () => {
    const token = `wf_acme_${"Q7".repeat(19)}Zz9x`;
    const k = await t.grpc.createKey({ tenantId: "cli-bad", label: "b" }, admin());
    for (const args of [
      ["keys", "create", "--tenant", "cli-bad", "--label", "x", "--expires", token],
      ["keys", "create", "--tenant", "cli-bad", "--label", "x", "--expires", "2027-13-45T99:00:00Z"],
      ["keys", "rotate", "--tenant", "cli-bad", "--key", k.key!.id, "--grace", token],
      ["policy", "set", "--tenant", "cli-bad", "--max-key-lifetime", token],
      ["policy", "set", "--tenant", "cli-bad"],
    ]) {
      const r = await cli(args);
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.stderr).not.toContain(token.slice(8, 30));
      expect(r.stderr).toMatch(/--expires|--grace|--max-key-lifetime|--hipaa/);
    }
    expect((await t.grpc.listKeys({ tenantId: "cli-bad" }, admin())).keys).toHaveLength(1);
  });
});
