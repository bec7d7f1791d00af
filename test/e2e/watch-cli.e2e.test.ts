import { spawn } from "node:child_process";
import { describe, expect, it } from "vitest";
import { waitUntil } from "../support/poll.js";
import { repoRoot } from "../support/service-process.js";
import { useTestApp } from "../support/test-app.js";

/** `warpflow watch` against the real server: prints invalidations as they arrive, until stopped. */
const t = useTestApp({ logLevel: "warn" });

function watchCli(...args: string[]) {
  const child = spawn(process.execPath, ["--import", "tsx", "src/cli/main.ts", "watch", ...args], {
    cwd: repoRoot,
    env: { ...process.env, WARPFLOW_URL: t.baseUrl, WARPFLOW_ADMIN_KEY: "" },
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (b: Buffer) => (stdout += b.toString()));
  child.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
  return {
    out: () => stdout,
    err: () => stderr,
    stop: () => child.kill("SIGTERM"),
  };
}

describe("warpflow watch", () => {
  it("prints the START reset, then each invalidation as it happens (human lines)", async () => {
    const w = watchCli();
    try {
      await waitUntil(() => w.out().includes("heartbeat: complete"), 20_000, "the START and heartbeat lines");
      expect(w.out()).toMatch(/^#\d+ RESET START \(instance [\w-]+\): drop everything cached\n/);
      const { key } = await t.grpc.createKey({ tenantId: "cli-watch", label: "x" }, { bearer: t.adminKey });
      await t.grpc.revokeKey({ tenantId: "cli-watch", keyId: key!.id }, { bearer: t.adminKey });
      await waitUntil(() => w.out().includes(`KEY_REVOKED tenant cli-watch key ${key!.id}`), 10_000, "the revoke line");
      expect(w.out()).toMatch(new RegExp(`#\\d+ KEY_CREATED tenant cli-watch key ${key!.id}`));
      await t.grpc.setTenantPolicy({ tenantId: "cli-watch", hipaaEnabled: false }, { bearer: t.adminKey });
      await waitUntil(
        () => w.out().includes("TENANT_POLICY_CHANGED tenant cli-watch hipaa off"),
        10_000,
        "the policy line",
      );
      // Heartbeats only when `complete` changes: one line for them so far.
      expect(w.out().match(/heartbeat/g)).toHaveLength(1);
    } finally {
      w.stop();
    }
  }, 40_000);

  it("--json prints one JSON object per line", async () => {
    const w = watchCli("--json");
    try {
      await waitUntil(() => w.out().includes("RESET_REASON_START"), 20_000, "the START object");
      await t.grpc.setTenantPolicy({ tenantId: "cli-watch-json", hipaaEnabled: true }, { bearer: t.adminKey });
      await waitUntil(() => w.out().includes("cli-watch-json"), 10_000, "the policy object");
      const lines = w
        .out()
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(lines[0]).toMatchObject({ reset: { reason: "RESET_REASON_START" } });
      expect(lines.at(-1)).toMatchObject({
        invalidation: {
          kind: "INVALIDATION_KIND_TENANT_POLICY_CHANGED",
          tenantId: "cli-watch-json",
          hipaaEnabled: true,
        },
      });
    } finally {
      w.stop();
    }
  }, 40_000);
});
