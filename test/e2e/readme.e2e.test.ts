import { readFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { shell } from "../support/buf-curl.js";
import { repoRoot } from "../support/service-process.js";
import { useTestApp } from "../support/test-app.js";

/**
 * The README's `npx buf curl` examples, run verbatim through /bin/sh: only `localhost:8080` is
 * pointed at a server on an ephemeral port; $ADMIN_KEY and $KEY are set in the environment, as
 * the README's "Try it" steps set them. Each answer is checked.
 */
const readme = readFileSync(join(repoRoot, "README.md"), "utf8");

/** Every command (backslash continuations joined) of the README's fenced sh blocks. */
function shellCommands(markdown: string): string[] {
  const out: string[] = [];
  for (const block of markdown.matchAll(/```sh\n([\s\S]*?)```/g)) {
    const lines = block[1]!.replace(/\\\n\s*/g, "").split("\n");
    out.push(...lines.map((l) => l.trim()).filter((l) => l !== "" && !l.startsWith("#")));
  }
  return out;
}

const commands = shellCommands(readme);
const bufCurls = commands.filter((c) => c.startsWith("npx buf curl "));

let key: { token: string; id: string };
const t = useTestApp();
beforeAll(async () => {
  const k = await t.grpc.createKey({ tenantId: "acme", label: "CRM Sync" }, { bearer: t.adminKey });
  key = { token: k.token, id: k.key!.id };
});

const run = async (command: string) => {
  const r = await shell(command.replaceAll("localhost:8080", `127.0.0.1:${t.port}`), {
    ADMIN_KEY: t.adminKey,
    KEY: key.token,
  });
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  return r.stdout;
};

describe("README buf curl examples, run verbatim", () => {
  it("every grpcurl example is followed by its buf curl twin", () => {
    const grpcurls = commands.filter((c) => c.startsWith("grpcurl "));
    expect(grpcurls.length).toBeGreaterThanOrEqual(5);
    for (const g of grpcurls) expect(commands[commands.indexOf(g) + 1], g).toMatch(/^npx buf curl /);
    expect(bufCurls).toHaveLength(grpcurls.length);
  });

  it("list services, list methods, health", async () => {
    const [services, methods, health] = [
      bufCurls.find((c) => c.includes("--list-services"))!,
      bufCurls.find((c) => c.includes("--list-methods"))!,
      bufCurls.find((c) => c.includes("/grpc.health.v1.Health/Check"))!,
    ];
    expect((await run(services)).split("\n")).toEqual(
      expect.arrayContaining(["warpflow.auth.v1.TokenService", "grpc.health.v1.Health"]),
    );
    expect((await run(methods)).split("\n")).toEqual(
      expect.arrayContaining([
        "warpflow.auth.v1.TokenService/Introspect",
        "warpflow.auth.v1.TokenService/ListKeys",
        "grpc.health.v1.Health/Check",
      ]),
    );
    expect(JSON.parse(await run(health))).toEqual({ status: "SERVING" });
  });

  it("ListKeys with $ADMIN_KEY and Introspect of $KEY", async () => {
    const listKeys = bufCurls.find((c) => c.includes("/ListKeys"))!;
    const introspect = bufCurls.find((c) => c.includes("/Introspect"))!;
    expect(JSON.parse(await run(listKeys)).keys.map((k: { id: string }) => k.id)).toEqual([key.id]);
    expect(JSON.parse(await run(introspect))).toMatchObject({
      active: true,
      tokenType: "TOKEN_TYPE_API_KEY",
      tenantId: "acme",
      keyId: key.id,
    });
  });

  it("covers every buf curl command of the README", () => {
    const covered = bufCurls.filter((c) =>
      ["--list-services", "--list-methods", "Health/Check", "/ListKeys", "/Introspect"].some((s) => c.includes(s)),
    );
    expect(covered).toEqual(bufCurls);
  });
});
