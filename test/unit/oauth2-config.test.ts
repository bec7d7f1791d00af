import { createHash } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.js";

const SECRET = "plain-secret-0123456789abcdefghijklmn";
const sha = (s: string) => createHash("sha256").update(s).digest("hex");
const load = (env: Record<string, string>) => loadConfig({ STORE: "memory", ...env });
const error = (env: Record<string, string>) => {
  try {
    load(env);
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error("no error");
};

describe("OAUTH2_INTROSPECT_CLIENTS, OAUTH2_INTROSPECT_CLIENTS_FILE, OAUTH2_ISSUER", () => {
  it("unset: no clients, no issuer", () => {
    expect(load({})).toMatchObject({ oauth2Clients: [], oauth2Issuer: undefined });
  });

  it("plain and hashed entries, whitespace or newline separated; only the SHA-256 is kept", () => {
    const hashed = sha("another-secret-0123456789abcdefghijkl");
    const c = load({ OAUTH2_INTROSPECT_CLIENTS: `kong:${SECRET}  oathkeeper:sha256:${hashed.toUpperCase()}\n` });
    expect(c.oauth2Clients).toEqual([
      { clientId: "kong", secretSha256: sha(SECRET) },
      { clientId: "oathkeeper", secretSha256: hashed },
    ]);
    expect(JSON.stringify(c)).not.toContain(SECRET);
  });

  it("from a file, with # comment lines", () => {
    const file = join(mkdtempSync(join(tmpdir(), "wf-oauth2-")), "clients");
    writeFileSync(file, `# introspection callers\nkong:${SECRET}\n`);
    expect(load({ OAUTH2_INTROSPECT_CLIENTS_FILE: file }).oauth2Clients).toEqual([
      { clientId: "kong", secretSha256: sha(SECRET) },
    ]);
    expect(error({ OAUTH2_INTROSPECT_CLIENTS_FILE: `${file}.missing` })).toMatch(
      /^OAUTH2_INTROSPECT_CLIENTS_FILE: cannot read .* \(ENOENT\)$/,
    );
    expect(error({ OAUTH2_INTROSPECT_CLIENTS_FILE: file, OAUTH2_INTROSPECT_CLIENTS: `a:${SECRET}` })).toContain(
      "not both",
    );
  });

  it("bad entries: one line naming the variable and the entry's position, never the secret", () => {
    for (const [value, phrase] of [
      ["kong", "entry 1: must be client_id:sha256:<hex> or client_id:<secret>"],
      [`kong:${SECRET} kong:${SECRET}`, "entry 2: client id given twice"],
      [`k@ng:${SECRET}`, "entry 1: client id must match"],
      ["kong:short-secret", "entry 1: a plain secret must be 32 to 512 printable ASCII characters"],
      ["kong:sha256:abc", "entry 1: sha256: needs 64 hex digits"],
    ] as const) {
      const message = error({ OAUTH2_INTROSPECT_CLIENTS: value });
      expect(message).toContain(`OAUTH2_INTROSPECT_CLIENTS: ${phrase}`);
      expect(message).not.toContain("short-secret");
      expect(message).not.toContain(SECRET);
    }
  });

  it("OAUTH2_ISSUER must be an http(s) URL", () => {
    expect(load({ OAUTH2_ISSUER: "https://auth.example.com" }).oauth2Issuer).toBe("https://auth.example.com");
    expect(error({ OAUTH2_ISSUER: "auth.example.com" })).toContain("OAUTH2_ISSUER: must be an http(s) URL");
  });
});
