import { status } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { cognitoClaims, cognitoEnv, createTestKey, jwksOf, signJwt, writeTempJson } from "../support/jwt.js";
import { runCliInProcess } from "../support/cli.js";
import { useTestApp } from "../support/test-app.js";

/**
 * Hostile text in what admins read: a validly signed Cognito token whose `sub` clears the screen,
 * forges a whole `audit list` line with CR LF, and hides the rest with ESC[8m and U+202E. It becomes
 * the audit actor (on its own tenant, and on another tenant it is refused on) and a key's created_by.
 * The CLI (in process, its output strings as the binary writes them) must print none of those bytes
 * raw; labels with them are refused.
 */
const jwk = createTestKey();
const FORGED = "2026-01-01T00:00:00.000Z  key.revoke          OK                acme key_forged";
const SUB = `\u001b[2J\r\n${FORGED}\n    by admin_key key_root\u001b[8m\u202eevil\u009b`;
// Raw control characters (any but the line feeds the CLI itself writes), DEL, C1 and bidi controls.
const RAW = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/u;

// In this process: the same code and output strings as the binary, without a process start per command.
const cli = (...args: string[]) =>
  runCliInProcess(args, { env: { WARPFLOW_URL: `http://${t.address}`, WARPFLOW_ADMIN_KEY: t.adminKey }, stdin: "" });

const t = useTestApp({ env: cognitoEnv(writeTempJson(jwksOf(jwk))), logLevel: "warn" });

describe("hostile identity text through the CLI", () => {
  it("a JWT sub with ESC, CR LF and a forged line is printed escaped by audit list and keys list (human and --json)", async () => {
    const jwt = signJwt(jwk, cognitoClaims({ tenantId: "acme", sub: SUB, groups: ["tenant-admins"] }));
    const created = await t.grpc.createKey({ tenantId: "acme", label: "made by a hostile sub" }, { bearer: jwt });
    // Refused on another tenant: the attempt lands in that tenant's trail, with the same actor.
    await expect(t.grpc.listKeys({ tenantId: "globex" }, { bearer: jwt })).rejects.toMatchObject({
      code: status.PERMISSION_DENIED,
    });

    const runs = {
      "audit list acme": await cli("audit", "list", "--tenant", "acme"),
      "audit list globex": await cli("audit", "list", "--tenant", "globex"),
      "keys list acme": await cli("keys", "list", "--tenant", "acme"),
      "audit list acme --json": await cli("audit", "list", "--tenant", "acme", "--json"),
      "keys list acme --json": await cli("keys", "list", "--tenant", "acme", "--json"),
    };
    for (const [what, r] of Object.entries(runs)) {
      expect(r.code, `${what}: ${r.stderr}`).toBe(0);
      expect(RAW.exec(r.stdout + r.stderr), `${what} printed a raw control or bidi character`).toBeNull();
      // The forged line never starts a line of its own.
      expect(
        r.stdout.split("\n").some((l) => l.trimStart().startsWith(FORGED.slice(0, 24))),
        what,
      ).toBe(false);
    }
    // Visible, not dropped: an admin sees that something odd is in there.
    expect(runs["audit list acme"].stdout).toContain("\\x1b[2J\\x0d\\x0a2026-01-01");
    expect(runs["audit list globex"].stdout).toMatch(/keys\.list +PERMISSION_DENIED +globex +cognito_user \\x1b\[2J/);
    expect(runs["keys list acme"].stdout).toMatch(new RegExp(`${created.key!.id} +made by a hostile sub +active`));
    expect(runs["audit list acme"].stdout).toContain("cognito_user \\x1b[2J\\x0d\\x0a");
    expect(runs["audit list acme"].stdout).toContain("\\u202eevil\\x9b");
    expect(runs["keys list acme --json"].stdout).toContain("\\\\u202eevil\\\\x9b"); // created_by (escaped by the server)
    // On a terminal (colour): the only escape sequences are the CLI's own colour codes.
    const tty = await runCliInProcess(["audit", "list", "--tenant", "globex"], {
      env: { WARPFLOW_URL: `http://${t.address}`, WARPFLOW_ADMIN_KEY: t.adminKey },
      stdoutIsTTY: true,
    });
    expect(tty.stdout).toContain("\u001b[31mPERMISSION_DENIED\u001b[39m");
    expect(RAW.exec(tty.stdout.replaceAll(/\u001b\[(?:31|32|33|39|1|2|22)m/g, ""))).toBeNull();
    // --json stays valid JSON and carries the (escaped) actor.
    const events = JSON.parse(runs["audit list acme --json"].stdout) as { events: { actor: { id: string } }[] };
    expect(events.events.some((e) => e.actor.id.startsWith("\\x1b[2J\\x0d\\x0a2026"))).toBe(true);
  }, 120_000);

  it("a label with a bidi override, a control or invisible character, or a credential is INVALID_ARGUMENT naming the field, without echoing it", async () => {
    const admin = t.adminKey;
    for (const label of [
      "invoice\u202eexe.pdf",
      "hidden\u001b[8mtext",
      "isolate\u2066zone",
      // Invisible: zero-width space, soft hyphen, Hangul filler, a tag character (two labels that look alike).
      "a\u200bb",
      "Zap\u00adier",
      "CRM\u3164Sync",
      "tag\u{E0041}ged",
      // A pasted credential (ListKeys shows labels to every tenant admin): the admin key itself, a JWT-like run.
      `prod ${admin}`,
      "eyJhbGciOiJSUzI1NiJ9eyJzdWIiOiJ1c2VyIn0abcdefgh",
    ]) {
      const err = await t.grpc.createKey({ tenantId: "acme", label }, { bearer: t.adminKey }).then(
        () => undefined,
        (e: { code: number; details: string }) => e,
      );
      expect(err?.code, JSON.stringify(label)).toBe(status.INVALID_ARGUMENT);
      expect(err!.details).toMatch(/^label: /);
      expect(err!.details).not.toContain(label.slice(0, 6));
    }
  });
});
