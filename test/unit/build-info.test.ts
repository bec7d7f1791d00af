import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { serviceVersion } from "../../src/app/build-info.js";
import { createMetrics, registerBuildInfo } from "../../src/observability/metrics.js";
import { repoRoot } from "../support/service-process.js";
import { samples } from "../support/probes.js";

describe("warpflow_build_info", () => {
  it("the version is package.json's, from source and from the compiled layout (dist/src/app, the image's /app)", () => {
    const pkg = JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as { version: string };
    expect(serviceVersion()).toBe(pkg.version);
    const app = mkdtempSync(join(tmpdir(), "wf-build-"));
    writeFileSync(join(app, "package.json"), JSON.stringify({ name: "@warpflow/token-service", version: "9.8.7" }));
    mkdirSync(join(app, "dist/src/app"), { recursive: true });
    // A package.json of another package on the way up is not the service's.
    writeFileSync(join(app, "dist/package.json"), JSON.stringify({ name: "other", version: "1.0.0" }));
    expect(serviceVersion(join(app, "dist/src/app"))).toBe("9.8.7");
    expect(serviceVersion(mkdtempSync(join(tmpdir(), "wf-none-")))).toBe("unknown");
  });

  it("is one gauge at 1 with the version and node labels", async () => {
    const m = createMetrics();
    registerBuildInfo(m.registry, { version: "1.2.3", node: "26.12.1" });
    const text = await m.registry.metrics();
    expect(samples(text, "warpflow_build_info")).toEqual([1]);
    expect(text).toContain('warpflow_build_info{version="1.2.3",node="26.12.1"} 1');
  });
});
