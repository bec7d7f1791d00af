import { invalidArgument } from "./errors.js";

/** Tenant ids: `^[a-z0-9][a-z0-9-]{0,62}$`. */
export const TENANT_ID_PATTERN = /^[a-z0-9][a-z0-9-]{0,62}$/;

/** The reserved tenant whose API keys are platform admin keys. */
export const ADMIN_TENANT_ID = "admin";

export function isValidTenantId(value: string): boolean {
  return TENANT_ID_PATTERN.test(value);
}

/** Validates a tenant id named in a request; `allowAdmin` permits the reserved tenant. */
export function requireTenantId(value: string, field = "tenant_id", allowAdmin = false): string {
  if (value === "") throw invalidArgument(field, "is required");
  if (!isValidTenantId(value)) {
    throw invalidArgument(field, "must match ^[a-z0-9][a-z0-9-]{0,62}$");
  }
  if (value === ADMIN_TENANT_ID && !allowAdmin) {
    throw invalidArgument(field, `"${ADMIN_TENANT_ID}" is reserved for platform admin keys`);
  }
  return value;
}
