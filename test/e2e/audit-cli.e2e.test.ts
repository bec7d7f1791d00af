import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { InactiveReason } from "../../src/gen/warpflow/auth/v1/token_service_pb.js";
import { useTestApp } from "../support/test-app.js";

/** The admin CLI's audit and session commands, run as a process against a real server. */
const run = promisify(execFile);
const cli = async (...args: string[]) => {
  const r = await run(process.execPath, ["--import", "tsx", "src/cli/main.ts", ...args], {
    env: { ...process.env, WARPFLOW_URL: `http://${t.address}`, WARPFLOW_ADMIN_KEY: t.adminKey },
  });
  return r.stdout;
};

const t = useTestApp();

describe("CLI: sessions revoke, sessions revoke-all, audit list", () => {
  it("revokes a session and all of a tenant's sessions, then lists what happened", async () => {
    const admin = { bearer: t.adminKey };
    const one = await t.grpc.createSession({ tenantId: "acme" }, admin);
    const two = await t.grpc.createSession({ tenantId: "acme" }, admin);
    expect(await cli("sessions", "revoke", "--tenant", "acme", "--session", one.sessionId)).toContain(
      `revoked: ${one.sessionId}`,
    );
    expect(await t.grpc.introspect({ token: one.token })).toMatchObject({
      active: false,
      inactiveReason: InactiveReason.REVOKED,
    });
    expect(await cli("sessions", "revoke-all", "--tenant", "acme")).toContain("revoked 1 live sessions of tenant acme");
    expect((await t.grpc.introspect({ token: two.token })).active).toBe(false);

    const human = await cli("audit", "list", "--tenant", "acme", "--since", "1h");
    const lines = human.split("\n").filter((l) => /^\d{4}-/.test(l));
    expect(lines.map((l) => l.split(/\s+/)[1])).toEqual([
      "sessions.revoke_all",
      "session.revoke",
      "session.create",
      "session.create",
    ]);
    expect(human).toContain("by admin_key key_");
    expect(human).toContain("revoked 1 sessions");

    const json = JSON.parse(await cli("audit", "list", "--tenant", "acme", "--action", "session.revoke", "--json")) as {
      events: { sessionId: string; code: string }[];
    };
    expect(json.events).toEqual([expect.objectContaining({ sessionId: one.sessionId, code: "OK" })]);
    await expect(cli("audit", "list", "--tenant", "acme", "--action", "nope")).rejects.toMatchObject({ code: 2 });
  }, 60_000);
});
