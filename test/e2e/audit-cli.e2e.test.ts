import { describe, expect, it } from "vitest";
import { InactiveReason } from "../../src/gen/warpflow/auth/v1/token_service_pb.js";
import { runCliInProcess } from "../support/cli.js";
import { useTestApp } from "../support/test-app.js";

/** The admin CLI's audit and session commands (in this process: the code the binary runs) against a real server. */
const cli = async (...args: string[]) => {
  const r = await runCliInProcess(args, {
    env: { WARPFLOW_URL: `http://${t.address}`, WARPFLOW_ADMIN_KEY: t.adminKey },
    stdin: "",
  });
  if (r.code !== 0) throw Object.assign(new Error(r.stderr), { code: r.code });
  return r.stdout;
};

const t = useTestApp();

describe("CLI: sessions revoke, sessions revoke-all, audit list", () => {
  it("revokes a session and all of a tenant's sessions, then lists what happened", async () => {
    const admin = { bearer: t.adminKey };
    const one = await t.grpc.createSession({ tenantId: "acme" }, admin);
    const two = await t.grpc.createSession({ tenantId: "acme" }, admin);
    expect(await cli("sessions", "revoke", "--tenant", "acme", "--session", one.sessionId)).toContain(
      `revoked: session ${one.sessionId}`,
    );
    expect(await t.grpc.introspect({ token: one.token })).toMatchObject({
      active: false,
      inactiveReason: InactiveReason.REVOKED,
    });
    expect(await cli("sessions", "revoke-all", "--tenant", "acme", "--yes")).toContain(
      "revoked 1 live sessions of tenant acme",
    );
    expect((await t.grpc.introspect({ token: two.token })).active).toBe(false);

    const human = await cli("audit", "list", "--tenant", "acme", "--since", "1h");
    const [header, ...rows] = human.trimEnd().split("\n");
    expect(header).toMatch(/^WHEN +ACTION +OUTCOME +TARGET +BY +VIA +DETAIL$/);
    expect(rows.map((l) => l.split(/ {2,}/)[1])).toEqual([
      "sessions.revoke_all",
      "session.revoke",
      "session.create",
      "session.create",
    ]);
    expect(human).toContain("admin_key key_");
    expect(human).toContain("revoked 1 sessions");

    const json = JSON.parse(await cli("audit", "list", "--tenant", "acme", "--action", "session.revoke", "--json")) as {
      events: { sessionId: string; code: string }[];
    };
    expect(json.events).toEqual([expect.objectContaining({ sessionId: one.sessionId, code: "OK" })]);
    await expect(cli("audit", "list", "--tenant", "acme", "--action", "nope")).rejects.toMatchObject({ code: 2 });
  }, 60_000);
});
