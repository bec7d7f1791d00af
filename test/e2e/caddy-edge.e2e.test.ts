import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { edgeContractCases, useEdgeLeg } from "../support/edge-leg.js";
import { documentedCaddyfile, findCaddy, HOW_TO_RUN_CADDY, SHIPPED_CADDYFILE, startCaddy } from "../support/nginx.js";

/**
 * Auth at the edge, proven with a real Caddy (Debian's 2.6.2) running the shipped
 * deploy/caddy/Caddyfile as is (its environment placeholders set): forward_auth -> the service's
 * /authz, then reverse_proxy to an upstream echo server that records what it receives. Every case
 * is checked at the client and at the upstream: the cases every gateway passes
 * (test/support/edge-leg.ts, as nginx-edge.e2e.test.ts runs them for nginx).
 */
const caddyBin = findCaddy();
const skipReason = caddyBin ? undefined : `no caddy binary; ${HOW_TO_RUN_CADDY}`;
if (skipReason) console.log(`Caddy edge leg SKIPPED: ${skipReason}.`);

const CALLER = "caller-credential-shared-with-caddy-0123456789";

it("docs/edge-auth.md shows the shipped Caddyfile, byte for byte", () => {
  expect(documentedCaddyfile()).toBe(readFileSync(SHIPPED_CADDYFILE, "utf8"));
});

describe.skipIf(skipReason !== undefined)("Caddy forward_auth in front of an app, with the shipped Caddyfile", () => {
  const leg = useEdgeLeg(CALLER, (values) => startCaddy(caddyBin!, values));
  edgeContractCases(leg, { deniedBody: true });
});
