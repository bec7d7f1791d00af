import { ESLint } from "eslint";
import { describe, expect, it } from "vitest";
import { repoRoot } from "../support/service-process.js";

// The import fences of eslint.config.js (the layering of docs/design.md) bite where they should
// and nowhere else. Only no-restricted-imports runs (no type information needed): under a second.
const eslint = new ESLint({
  cwd: repoRoot,
  overrideConfig: { languageOptions: { parserOptions: { projectService: false, project: null } } },
  ruleFilter: ({ ruleId }) => ruleId === "no-restricted-imports",
});

async function refused(filePath: string, imports: string[]): Promise<string[]> {
  const code = imports.map((from, i) => `import * as m${i} from ${JSON.stringify(from)};`).join("\n");
  const [result] = await eslint.lintText(`${code}\nexport {};\n`, { filePath });
  expect(result!.messages.filter((m) => m.ruleId !== "no-restricted-imports")).toEqual([]);
  return result!.messages.map((m) => imports[m.line - 1]!);
}

const drivers = [
  "mongodb",
  "pino",
  "prom-client",
  "aws-jwt-verify",
  "aws-jwt-verify/jwk",
  "@grpc/grpc-js",
  "@connectrpc/connect",
  "@connectrpc/connect-node",
  "@bufbuild/protobuf",
  "node:http",
  "node:http2",
  "http2",
  "node:net",
  "node:fs",
];

describe("import fences", () => {
  for (const layer of ["domain", "ports"]) {
    it(`src/${layer} imports no framework, driver or outer layer`, async () => {
      const outer = [
        "../transport/metrics.js",
        "../adapters/mongo/mongo-token-store.js",
        "../app/app.js",
        "../cli/format.js",
        "../gen/warpflow/auth/v1/token_service_pb.js",
        "../transport/grpc/server.js",
      ];
      const allowed = [
        "./errors.js",
        "../ports/clock.js",
        "../domain/records.js",
        "lru-cache",
        "node:crypto",
        "node:zlib",
      ];
      const file = `src/${layer}/fence-probe.ts`;
      expect(await refused(file, [...drivers, ...outer])).toEqual([...drivers, ...outer]);
      expect(await refused(file, allowed)).toEqual([]);
    });
  }

  it("src/transport (in any subfolder) imports no adapters, app, cli or store/verifier driver", async () => {
    const banned = [
      "../adapters/mongo/mongo-token-store.js",
      "../../adapters/memory/memory-token-store.js",
      "../app/metrics.js",
      "../../cli/format.js",
      "mongodb",
      "aws-jwt-verify",
    ];
    const allowed = [
      "../domain/errors.js",
      "../../ports/clock.js",
      "./peer.js",
      "../grpc/server.js",
      "@grpc/grpc-js",
      "@connectrpc/connect-node",
      "pino",
      "prom-client",
      "node:http2",
    ];
    for (const file of ["src/transport/fence-probe.ts", "src/transport/grpc/fence-probe.ts"]) {
      const depth = file.split("/").length - 3;
      const rel = (from: string) =>
        depth > 0 && from.startsWith("../") && !from.startsWith("../../") ? `../${from}` : from;
      expect(await refused(file, banned.map(rel))).toEqual(banned.map(rel));
      expect(await refused(file, allowed)).toEqual([]);
    }
  });

  it("src/adapters imports no transport, app or cli", async () => {
    const banned = ["../../transport/error-mapping.js", "../../app/app.js", "../../cli/main.js"];
    const allowed = ["../../ports/token-store.js", "../../domain/errors.js", "mongodb", "./mongo-collections.js"];
    expect(await refused("src/adapters/mongo/fence-probe.ts", banned)).toEqual(banned);
    expect(await refused("src/adapters/mongo/fence-probe.ts", allowed)).toEqual([]);
  });
});
