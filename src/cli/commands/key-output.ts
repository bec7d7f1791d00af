// Key output shared by `keys` and `admin-key`: tables with the effective state (JSON: each key's
// proto JSON plus `effectiveState`), and revocation after a confirmation that names the key.
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { toJson } from "@bufbuild/protobuf";
import { ApiKeySchema, type ApiKey, type TenantPolicy } from "../../gen/warpflow/auth/v1/token_service_pb.js";
import type { Ctx } from "../context.js";
import { keyState } from "../key-state.js";
import { keyTable, safe } from "../format.js";
import { relativeTime } from "../table.js";

export const keyJson = (k: ApiKey, policy: TenantPolicy | undefined, now: Date) => ({
  ...(toJson(ApiKeySchema, k) as object),
  effectiveState: keyState(k, policy, now).state,
});

export function printKeys(ctx: Ctx, keys: ApiKey[], policy: TenantPolicy | undefined, none: string): void {
  ctx.outJson({ keys: keys.map((k) => keyJson(k, policy, ctx.now)) }, () =>
    keys.length ? keyTable(keys, policy, ctx) : none,
  );
}

export interface RevokeSteps {
  tenant: string;
  keyId: string;
  /** The tenant's keys as listed now (to name the key in the question and to see that it is revoked already). */
  list: () => Promise<ApiKey[]>;
  revoke: () => Promise<ApiKey>;
  command: string;
}

/**
 * Revoking a revoked key changes nothing and exits 0 (the key is revoked, as asked), saying so and
 * since when: seen in the listing before asking, or in the answer (revoked_at well before the call).
 */
export async function revokeKeyConfirmed(ctx: Ctx, s: RevokeSteps): Promise<void> {
  const listed = (await s.list()).find((k) => k.id === s.keyId);
  const already = (k: ApiKey) => {
    ctx.outJson({ key: keyJson(k, undefined, ctx.now), alreadyRevoked: true }, () => {
      const at = keyState(k, undefined, ctx.now).at;
      return `key ${safe(k.id)} of ${safe(k.tenantId)} was already revoked${at ? ` (${relativeTime(at, ctx.now)}, ${at.toISOString()})` : ""}: nothing changed\n${keyTable([k], undefined, ctx)}`;
    });
  };
  if (listed && keyState(listed, undefined, ctx.now).state === "revoked") return already(listed);
  const name = listed ? `key ${safe(s.keyId)} (label '${safe(listed.label)}')` : `key ${safe(s.keyId)}`;
  await ctx.confirm(`revoke ${name} of ${safe(s.tenant)} now, permanently?`, s.command);
  const key = await s.revoke();
  const revokedAt = key.revokedAt ? timestampDate(key.revokedAt) : undefined;
  if (revokedAt && revokedAt.getTime() < ctx.now.getTime() - 60_000) return already(key);
  ctx.outJson(
    { key: keyJson(key, undefined, ctx.now), alreadyRevoked: false },
    () => `revoked ${name} of ${safe(s.tenant)}\n${keyTable([key], undefined, ctx)}`,
  );
}
