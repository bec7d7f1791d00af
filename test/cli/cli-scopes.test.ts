import { beforeAll, describe, expect, it } from "vitest";
import { runCliInProcess, type CliRun } from "../support/cli.js";
import { useTestApp } from "../support/test-app.js";

/**
 * Issue 22 in the admin CLI against the real service: `keys create --scope --allow-ip`, `keys rotate
 * --scope | --all-scopes | --any-ip`, `sessions create --scope`, `introspect --scope
 * --client-address`, and what `keys list` shows; each effect checked on the server through gRPC.
 */
let env: Record<string, string>;
const cli = (args: string[], stdin?: string) => runCliInProcess(args, { env, stdin: stdin ?? "" });
const json = (r: CliRun) => {
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as Record<string, unknown> & { token: string; key: Record<string, unknown> };
};
const t = useTestApp({ logLevel: "warn" });
beforeAll(() => {
  env = { WARPFLOW_URL: `http://127.0.0.1:${t.port}`, WARPFLOW_ADMIN_KEY: t.adminKey };
});

describe("CLI: scopes and IP allowlists (issue 22)", () => {
  it("keys create --scope a --scope b --allow-ip 10.0.0.0/8; keys list shows them; introspect --scope/--client-address", async () => {
    const args = ["keys", "create", "--tenant", "cli-sc", "--label", "scoped", "--scope", "contacts:read"];
    const created = json(await cli([...args, "--scope", "deals:read", "--allow-ip", "10.1.2.3/8", "-o", "json"]));
    expect([created.key.scopes, created.key.allowedCidrs]).toEqual([["contacts:read", "deals:read"], ["10.0.0.0/8"]]);
    const server = (await t.grpc.listKeys({ tenantId: "cli-sc" }, { bearer: t.adminKey })).keys[0]!;
    expect([server.scopes, server.allowedCidrs]).toEqual([["contacts:read", "deals:read"], ["10.0.0.0/8"]]);

    const table = await cli(["keys", "list", "--tenant", "cli-sc"]);
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toMatch(/SCOPES\s+ALLOWED IPS/);
    expect(table.stdout).toContain("contacts:read deals:read");
    expect(table.stdout).toContain("10.0.0.0/8");

    const ok = await cli(
      ["introspect", "--scope", "deals:read", "--client-address", "10.9.9.9"],
      created.token as string,
    );
    expect([ok.code, ok.stdout]).toEqual([0, expect.stringContaining("scopes contacts:read deals:read")]);
    const lacking = await cli(["introspect", "--scope", "deals:write", "--client-address", "10.9.9.9"], created.token);
    expect([lacking.code, lacking.stdout]).toEqual([7, expect.stringContaining("lacks a scope given with --scope")]);
    const away = await cli(["introspect", "--client-address", "192.0.2.1"], created.token);
    expect([away.code, away.stdout]).toEqual([7, expect.stringContaining("IP allowlist")]);
    const bad = await cli(["introspect", "--client-address", "not-an-ip"], created.token);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain("client_address");
    expect(bad.stderr).not.toContain("not-an-ip");
  });

  it("keys rotate: inherits by default, --scope replaces, --all-scopes / --any-ip clear", async () => {
    const first = json(
      await cli([
        "keys",
        "create",
        "--tenant",
        "cli-rot",
        "--label",
        "r",
        "--scope",
        "a",
        "--allow-ip",
        "::1",
        "-o",
        "json",
      ]),
    );
    const id = (first.key as { id: string }).id;
    const inherit = json(await cli(["keys", "rotate", "--tenant", "cli-rot", "--key", id, "-o", "json"]));
    expect([inherit.key.scopes, inherit.key.allowedCidrs]).toEqual([["a"], ["::1/128"]]);
    const replaced = json(
      await cli([
        "keys",
        "rotate",
        "--tenant",
        "cli-rot",
        "--key",
        inherit.key.id as string,
        "--scope",
        "b",
        "-o",
        "json",
      ]),
    );
    expect([replaced.key.scopes, replaced.key.allowedCidrs]).toEqual([["b"], ["::1/128"]]);
    const cleared = json(
      await cli([
        ...["keys", "rotate", "--tenant", "cli-rot", "--key", replaced.key.id as string],
        ...["--all-scopes", "--any-ip", "-o", "json"],
      ]),
    );
    // proto JSON omits empty lists.
    expect([cleared.key.scopes, cleared.key.allowedCidrs]).toEqual([undefined, undefined]);
    const onServer = await t.grpc.introspect({ token: cleared.token, requiredScopes: ["z"] });
    expect(onServer.active).toBe(true);
  });

  it("sessions create --scope; a bad --scope or --allow-ip is the server's INVALID_ARGUMENT, value not echoed", async () => {
    const s = json(await cli(["sessions", "create", "--tenant", "cli-sess", "--scope", "reports:read", "-o", "json"]));
    expect(s.scopes).toEqual(["reports:read"]);
    expect((await t.grpc.introspect({ token: s.token })).scopes).toEqual(["reports:read"]);
    const text = await cli(["sessions", "create", "--tenant", "cli-sess", "--scope", "reports:read"]);
    expect(text.stdout).toContain("scopes: reports:read");
    const badScope = await cli(["keys", "create", "--tenant", "cli-sess", "--label", "x", "--scope", "Not_Valid"]);
    expect([badScope.code === 0, badScope.stderr]).toEqual([false, expect.stringContaining("scopes[0]: must match")]);
    expect(badScope.stderr).not.toContain("Not_Valid");
    const badIp = await cli(["keys", "create", "--tenant", "cli-sess", "--label", "x", "--allow-ip", "10.0.0.0/99"]);
    expect(badIp.stderr).toContain("allowed_cidrs[0]");
    expect(badIp.stderr).not.toContain("10.0.0.0/99");
  });
});
