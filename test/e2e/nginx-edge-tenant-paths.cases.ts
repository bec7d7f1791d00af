/**
 * The spellings test/e2e/nginx-edge-tenant-paths.e2e.test.ts sends through each gateway, byte for
 * byte. Tenant `globex` is the victim; the attacker holds an `acme` key.
 */
/** `/tenants/globex/secret` with `tenants` in fullwidth letters, as raw UTF-8 bytes. */
export const FULLWIDTH_RAW = Buffer.from("/\uff54\uff45\uff4e\uff41\uff4e\uff54\uff53/globex/secret");

/** Paths bound to tenant globex: only a globex token passes. */
export const BOUND_TO_GLOBEX = [
  "/tenants/globex",
  "/tenants/globex/",
  "/tenants/globex/secret",
  "/TENANTS/globex/secret",
  "/Tenants/globex",
  "/tenants/globex/secret?path=/tenants/acme/../x",
  "/tenants/globex/files/a%20b",
  "/api/v1/tenants/globex",
  "/api/v1/tenants/globex/conversations",
  "/API/V1/Tenants/globex/conversations",
  // absolute form: nginx judges and sends the path alone
  "http://edge.test/tenants/globex/secret",
  "http://edge.test/TENANTS/globex",
];

/** Paths refused with 400 whoever asks (the raw form is ambiguous, or names no valid tenant id). */
export const REFUSED: (string | Buffer)[] = [
  // case in the tenant id (ids are lower case; an app routing case-insensitively would serve globex)
  "/tenants/GLOBEX/secret",
  "/tenants/Globex",
  "/api/v1/tenants/GLOBEX/conversations",
  // `;` parameters (stripped by servlet containers)
  "/tenants;/globex/secret",
  "/tenants;x=1/globex",
  "/tenants/globex;jsessionid=1/secret",
  "/tenants/acme;/../globex/secret",
  "/tenants/acme/..;/globex/secret",
  "/api/v1;/tenants/globex",
  // encoded slashes and backslashes
  "/tenants%2Fglobex/secret",
  "/tenants%2fglobex/secret",
  "/tenants/acme%2F..%2Fglobex/secret",
  "/tenants/acme%5c..%5cglobex/secret",
  "/tenants\\globex\\secret",
  "/tenants/acme\\..\\globex",
  // dot segments (nginx's own $uri resolves them; the app is sent them as they are)
  "/tenants/acme/../globex/secret",
  "/tenants/./globex/secret",
  "/x/../tenants/globex/secret",
  "/api/v1/x/../tenants/globex",
  "/tenants/acme/%2e%2e/globex/secret",
  // double slashes
  "//tenants/globex/secret",
  "/tenants//globex/secret",
  "/api/v1//tenants/globex",
  // encoded characters in the tenant or the prefix, once or twice
  "/tenants/%67lobex/secret",
  "/tenants/%2567lobex/secret",
  "/%74enants/globex/secret",
  "/%54ENANTS/globex/secret",
  "/tenants/globex%00/secret",
  "/tenants/globex%2",
  "/%u0074enants/globex/secret",
  "/tenants/globex%20/secret",
  "/tenants/%20globex/secret",
  // non-ASCII (U+017F, long s, is "S" to Java's equalsIgnoreCase), encoded and raw; raw fullwidth
  // letters (NFKC: "tenants")
  "/tenant%C5%BF/globex/secret",
  Buffer.from("/tenant\u017f/globex/secret"),
  FULLWIDTH_RAW,
  // not a tenant id, or a tenants segment under an unknown prefix
  "/tenants/globex.json",
  "/tenants/-globex/secret",
  `/tenants/${"g".repeat(64)}/secret`,
  "/api/v2/tenants/globex/secret",
  "/v1/tenants/globex",
  // a tenants segment padded with what an app may trim (Spring's trimTokens, suffix patterns)
  "/tenants%20/globex/secret",
  "/%09tenants/globex/secret",
  "/tenants%3F/globex/secret",
  "/tenants.json/globex",
  "/tenants.json",
  // a fragment (no client sends one; an app may cut the path there) and absolute forms
  "/tenants/globex#x",
  "/tenants/acme#/../globex",
  "http://edge.test//tenants/globex",
  "http://edge.test/tenants;/globex",
];

/** Paths that name no tenant: any valid token passes, with no expected tenant. */
export const UNBOUND = [
  "/api/orders/1",
  "/tenants",
  "/tenants/",
  "/api/v1/tenants",
  "/files/a%20b;v=1",
  "/docs/%E2%9C%93",
];
