/** A Date as RFC 3339 in UTC, whole seconds without a fraction (REST bodies, x-warpflow-expires-at). */
export const rfc3339 = (d: Date) => d.toISOString().replace(".000Z", "Z");
