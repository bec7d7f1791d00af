// Issue 22's request fields, validated at the edge (INVALID_ARGUMENT naming the field, never its
// value): a key's scopes and allowlist (CreateKey, RotateKey), a session's scopes, Introspect's
// required scopes and client address; and how they read in an audit event's detail.
import type { IntrospectChecks } from "../domain/access-checks.js";
import { requireCidrs, requireClientAddress } from "../domain/address-allowlist.js";
import { requireRequiredScopes, requireScopes } from "../domain/key-scopes.js";
import type { KeyGrants, SuccessorGrants } from "../domain/key-service.js";
import type * as pb from "../gen/warpflow/auth/v1/token_service_pb.js";

export const keyGrantsOf = (r: pb.CreateKeyRequest): KeyGrants => ({
  scopes: requireScopes(r.scopes),
  allowedCidrs: requireCidrs(r.allowedCidrs),
});

/** RotateKeyRequest: an absent list is inherited; a present one (even empty) replaces. */
export const successorGrantsOf = (r: pb.RotateKeyRequest): SuccessorGrants => ({
  scopes: r.scopes ? { set: requireScopes(r.scopes.scopes, "scopes.scopes") } : undefined,
  allowedCidrs: r.allowedCidrs ? { set: requireCidrs(r.allowedCidrs.cidrs, "allowed_cidrs.cidrs") } : undefined,
});

/** Introspect's checks; undefined when the request asks none (the hot path's common case). */
export function introspectChecksOf(r: pb.IntrospectRequest): IntrospectChecks | undefined {
  if (r.requiredScopes.length === 0 && r.clientAddress === "") return undefined;
  return {
    requiredScopes: requireRequiredScopes(r.requiredScopes),
    clientAddress: requireClientAddress(r.clientAddress),
  };
}

/** "scopes=a,b allowed_cidrs=10.0.0.0/8" (validated values only: no caller text beyond the patterns). */
export function grantsDetail(g: {
  scopes?: readonly string[] | undefined;
  allowedCidrs?: readonly string[] | undefined;
}): string {
  const parts: string[] = [];
  parts.push(`scopes=${g.scopes?.length ? g.scopes.join(",") : "(all)"}`);
  if (g.allowedCidrs !== undefined)
    parts.push(`allowed_cidrs=${g.allowedCidrs.length ? g.allowedCidrs.join(",") : "(any)"}`);
  return parts.join(" ");
}

/** The host of a transport's "ip:port" / "[ipv6]:port" peer, normalised; undefined when none. */
export function peerAddress(peer: string | undefined): string | undefined {
  if (peer === undefined) return undefined;
  const host = peer.startsWith("[") ? peer.slice(1, peer.indexOf("]")) : peer.replace(/:\d+$/, "");
  try {
    return requireClientAddress(host);
  } catch {
    return undefined;
  }
}
