// RFC 7662 token introspection (POST /oauth2/introspect): OAUTH2_INTROSPECT_CLIENTS,
// OAUTH2_INTROSPECT_CLIENTS_FILE, OAUTH2_ISSUER (docs/oauth2-introspection.md).
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { ConfigError, type Env } from "./env.js";

/** A client that may call /oauth2/introspect with HTTP Basic: its id and the SHA-256 of its secret. */
export interface OAuth2Client {
  clientId: string;
  /** SHA-256 of the secret, 64 lower-case hex digits (never the secret itself). */
  secretSha256: string;
}

export interface OAuth2Config {
  /** Clients allowed to authenticate with HTTP Basic (client_secret_basic); empty: none. */
  oauth2Clients: readonly OAuth2Client[];
  /** OAUTH2_ISSUER: the `iss` of every active answer; unset: no `iss`. */
  oauth2Issuer?: string | undefined;
}

/** RFC 6749 client ids here: the characters a Basic user-id needs no escaping for, at most 128. */
const CLIENT_ID = /^[A-Za-z0-9._~-]{1,128}$/;
const SHA256 = /^sha256:([0-9a-fA-F]{64})$/;
/** A plain secret: at least 32 printable ASCII characters, no whitespace (the entry separator). */
const PLAIN = /^[\x21-\x7e]{32,512}$/;

/**
 * Entries separated by whitespace or newlines (`#` starts a comment line in the file), each
 * `client_id:sha256:<64 hex>` (the SHA-256 of the secret: preferred) or `client_id:<secret>`.
 * Errors name the variable and the entry's position, never its text (it may hold a secret).
 */
export function parseOAuth2Clients(variable: string, text: string): OAuth2Client[] {
  const entries = text
    .split("\n")
    .filter((line) => !/^\s*#/.test(line))
    .join("\n")
    .split(/\s+/)
    .filter((e) => e !== "");
  const seen = new Set<string>();
  return entries.map((entry, i) => {
    const at = `entry ${i + 1}`;
    const colon = entry.indexOf(":");
    if (colon <= 0) throw new ConfigError(variable, `${at}: must be client_id:sha256:<hex> or client_id:<secret>`);
    const clientId = entry.slice(0, colon);
    const secret = entry.slice(colon + 1);
    if (!CLIENT_ID.test(clientId)) throw new ConfigError(variable, `${at}: client id must match ${CLIENT_ID.source}`);
    if (seen.has(clientId)) throw new ConfigError(variable, `${at}: client id given twice`);
    seen.add(clientId);
    const hashed = SHA256.exec(secret);
    if (hashed) return { clientId, secretSha256: hashed[1]!.toLowerCase() };
    if (secret.startsWith("sha256:")) throw new ConfigError(variable, `${at}: sha256: needs 64 hex digits`);
    if (!PLAIN.test(secret)) {
      throw new ConfigError(variable, `${at}: a plain secret must be 32 to 512 printable ASCII characters`);
    }
    return { clientId, secretSha256: createHash("sha256").update(secret).digest("hex") };
  });
}

export function loadOAuth2Config(env: Env, readFile: (path: string) => string = (p) => readFileSync(p, "utf8")) {
  const inline = env.OAUTH2_INTROSPECT_CLIENTS || undefined;
  const file = env.OAUTH2_INTROSPECT_CLIENTS_FILE || undefined;
  if (inline && file) {
    throw new ConfigError("OAUTH2_INTROSPECT_CLIENTS_FILE", "set it or OAUTH2_INTROSPECT_CLIENTS, not both");
  }
  let oauth2Clients: OAuth2Client[] = [];
  if (inline) oauth2Clients = parseOAuth2Clients("OAUTH2_INTROSPECT_CLIENTS", inline);
  if (file) {
    let text: string;
    try {
      text = readFile(file);
    } catch (err) {
      const code = (err as { code?: string }).code ?? "unreadable";
      throw new ConfigError("OAUTH2_INTROSPECT_CLIENTS_FILE", `cannot read the file it names (${code})`);
    }
    oauth2Clients = parseOAuth2Clients("OAUTH2_INTROSPECT_CLIENTS_FILE", text);
  }
  const oauth2Issuer = env.OAUTH2_ISSUER || undefined;
  if (oauth2Issuer !== undefined && !/^https?:\/\/[\x21-\x7e]{1,500}$/.test(oauth2Issuer)) {
    throw new ConfigError("OAUTH2_ISSUER", "must be an http(s) URL (printable ASCII, at most 508 characters)");
  }
  return { oauth2Clients, oauth2Issuer } satisfies OAuth2Config;
}
