import { createHash, timingSafeEqual } from "node:crypto";
import { bearerToken } from "../transport/protocol/bearer.js";
import type { OAuth2Caller, OAuth2CallerCheck } from "../transport/protocol/oauth2-introspection.js";

/** The realm of /oauth2/introspect's challenges. */
export const OAUTH2_REALM = "warpflow-introspection";

export interface OAuth2CallerOptions {
  /** INTROSPECT_REQUIRE_CLIENT_CERT: a verified client certificate is required, whatever else. */
  requireClientCert: boolean;
  /** INTROSPECT_CALLER_TOKEN: accepted as `Authorization: Bearer` or in x-warpflow-caller-token. */
  callerToken?: string | undefined;
  /** OAUTH2_INTROSPECT_CLIENTS(_FILE): HTTP Basic clients, by id, with the SHA-256 of the secret (hex). */
  clients: readonly { clientId: string; secretSha256: string }[];
}

const sha256 = (s: string | Buffer) => createHash("sha256").update(s).digest();
const DUMMY = sha256("no such client");
const refused = (description: string): OAuth2CallerCheck => ({ ok: false, description });

/**
 * Who may call /oauth2/introspect (RFC 7662 section 2.1: the endpoint MUST require authorization).
 * The caller restriction of Introspect applies (a client certificate when required), and when
 * INTROSPECT_CALLER_TOKEN or Basic clients are configured, one valid credential is required:
 * `Basic` with a configured client, or `Bearer`/x-warpflow-caller-token with the caller token.
 * Nothing configured at all: every call is refused (fail closed; Introspect itself stays open).
 * Secrets are compared as SHA-256 digests in constant time; an unknown client id costs the same.
 */
export function createOAuth2CallerCheck(opts: OAuth2CallerOptions): {
  authenticate(caller: OAuth2Caller): OAuth2CallerCheck;
  challenges: readonly string[];
} {
  const clients = new Map(opts.clients.map((c) => [c.clientId, Buffer.from(c.secretSha256, "hex")]));
  const callerDigest = opts.callerToken ? sha256(opts.callerToken) : undefined;
  const needCredential = callerDigest !== undefined || clients.size > 0;
  const configured = needCredential || opts.requireClientCert;
  const challenges = [
    ...(clients.size > 0 || !callerDigest ? [`Basic realm="${OAUTH2_REALM}", charset="UTF-8"`] : []),
    ...(callerDigest ? [`Bearer realm="${OAUTH2_REALM}"`] : []),
  ];

  const callerTokenMatches = (presented: string): boolean =>
    callerDigest !== undefined && timingSafeEqual(sha256(presented), callerDigest);

  function basic(credentials: string): OAuth2CallerCheck {
    if (clients.size === 0) return refused("HTTP Basic is not accepted here: no clients are configured");
    const decoded = decodeBasic(credentials);
    if (!decoded) return refused("malformed Basic credentials");
    const stored = clients.get(decoded.id);
    // Both spellings, each compared in constant time: clients that form-urlencode first (RFC 6749
    // 2.3.1) and clients that do not (Authlib 1.2, curl -u), for a secret holding "+" or "%".
    const raw = timingSafeEqual(sha256(decoded.rawSecret), stored ?? DUMMY);
    const unformed = decoded.secret !== undefined && timingSafeEqual(sha256(decoded.secret), stored ?? DUMMY);
    return stored !== undefined && (raw || unformed)
      ? { ok: true, clientId: decoded.id }
      : refused("client authentication failed");
  }

  return {
    challenges,
    authenticate(caller) {
      if (!configured) return refused("introspection callers are not configured on this server");
      if (opts.requireClientCert && !caller.clientCertVerified) {
        return refused("a client certificate signed by the configured CA is required");
      }
      if (!needCredential) return { ok: true, clientId: "client-cert" };
      if (caller.authorizationCount > 1) return refused("more than one authorization header");
      const header = caller.authorization;
      if (header !== undefined) {
        const scheme = /^([A-Za-z]+) +(\S+)$/.exec(header);
        if (scheme && scheme[1]!.toLowerCase() === "basic") return basic(scheme[2]!);
        const bearer = bearerToken(header);
        if (bearer !== undefined && callerTokenMatches(bearer)) return { ok: true, clientId: "caller-token" };
        return refused("client authentication failed");
      }
      if (caller.callerToken !== undefined && callerTokenMatches(caller.callerToken)) {
        return { ok: true, clientId: "caller-token" };
      }
      return refused("client authentication required");
    },
  };
}

/**
 * RFC 7617 credentials: base64 of `id:secret`. RFC 6749 section 2.3.1 has each form-urlencoded
 * first; not every client does, so the secret comes both ways (`secret` undefined when it does not
 * decode). Client ids need no encoding (oauth2-config.ts), but a decoded one is taken too.
 */
function decodeBasic(credentials: string): { id: string; rawSecret: string; secret?: string | undefined } | undefined {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(credentials) || credentials.length > 4096) return undefined;
  const text = Buffer.from(credentials, "base64").toString("utf8");
  const colon = text.indexOf(":");
  if (colon < 0) return undefined;
  const rawSecret = text.slice(colon + 1);
  return { id: unform(text.slice(0, colon)) ?? text.slice(0, colon), rawSecret, secret: unform(rawSecret) };
}

function unform(s: string): string | undefined {
  try {
    return decodeURIComponent(s.replaceAll("+", " "));
  } catch {
    return undefined;
  }
}
