import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createGrpcTokenClient } from "../support/grpc-client.js";
import { runProgram } from "../support/run-program.js";
import { spawnService, type ServiceProcess } from "../support/service-process.js";
import { sleep } from "../support/poll.js";

/**
 * Secrets sent where no secret belongs, against the real process, then the WHOLE output (the
 * service's stdout and stderr at debug, and the CLI's own output) is searched for every
 * 12-character window of each secret (sibling of header-leaks.test.ts):
 * - a token as a JSON field NAME in POST /api/v1/sessions (it was echoed in the 400 and logged);
 * - a token in the User-Agent, split by spaces into runs shorter than 32 characters (that defeated
 *   the "long opaque run" redaction) and after "Bearer";
 * - a token given as a CLI option value (`audit list --action wf_...` echoed it).
 */
let svc: ServiceProcess;
beforeAll(async () => {
  svc = await spawnService({ env: { LOG_LEVEL: "debug" } });
}, 30_000);
afterAll(() => svc?.kill());

const windows = (secret: string) => Array.from({ length: secret.length - 11 }, (_, i) => secret.slice(i, i + 12));
const splitRuns = (s: string, n: number) => s.match(new RegExp(`.{1,${n}}`, "g"))!.join(" ");

describe("no request-body, user-agent or CLI-option secret reaches any output", () => {
  it("field names, split user agents and CLI option values are never echoed or logged", async () => {
    const grpc = createGrpcTokenClient(`127.0.0.1:${svc.port}`);
    const { token: tenantKey } = await grpc.createKey(
      { tenantId: "acme", label: "leak probe" },
      { bearer: svc.adminKey },
    );
    grpc.close();
    const base = `http://127.0.0.1:${svc.port}`;
    const json = { "content-type": "application/json" };

    // 1. A token as a JSON field name (and as a value of an unknown field) in the REST body.
    const rest = await fetch(`${base}/api/v1/sessions`, {
      method: "POST",
      headers: { ...json, authorization: `Bearer ${svc.adminKey}` },
      body: JSON.stringify({ [tenantKey]: 1, tenant_id: "acme" }),
    });
    const restBody = await rest.text();
    expect(rest.status).toBe(400);
    expect(JSON.parse(restBody).error.code).toBe("invalid_argument");
    expect(restBody).not.toContain(tenantKey.slice(0, 12));
    const restValue = await fetch(`${base}/api/v1/sessions`, {
      method: "POST",
      headers: { ...json, authorization: `Bearer ${svc.adminKey}` },
      body: JSON.stringify({ tenant_id: "acme", note: tenantKey }),
    });
    expect(restValue.status).toBe(400);

    // 2. Tokens in the user agent of audited calls (allowed and refused), split and whole.
    const agents = [
      `probe/1.0 ${splitRuns(tenantKey, 10)}`,
      `probe/1.0 ${splitRuns(svc.adminKey, 31)}`,
      `probe/1.0 Bearer ${splitRuns(tenantKey.slice(3), 12)}`,
      `probe/1.0 (${tenantKey})`,
    ];
    for (const ua of agents) {
      for (const bearer of [svc.adminKey, "wf_acme_notarealkeyatall0000000000000000000000"]) {
        const r = await fetch(`${base}/warpflow.auth.v1.TokenService/ListKeys`, {
          method: "POST",
          headers: { ...json, authorization: `Bearer ${bearer}`, "user-agent": ua },
          body: JSON.stringify({ tenantId: "acme" }),
        });
        expect([200, 401]).toContain(r.status);
        await r.arrayBuffer();
      }
      const s = await fetch(`${base}/api/v1/sessions`, {
        method: "POST",
        headers: { ...json, authorization: `Bearer ${svc.adminKey}`, "user-agent": ua },
        body: '{"tenant_id":"acme"}',
      });
      expect(s.status).toBe(200);
      await s.arrayBuffer();
    }

    // 3. A token as a CLI option value (and as an unknown option, and as a command).
    const cliOut: string[] = [];
    for (const args of [
      ["audit", "list", "--tenant", "acme", "--action", tenantKey],
      ["audit", "list", "--tenant", "acme", "--since", tenantKey],
      ["keys", "list", "--tenant", "acme", `--${tenantKey}`],
      ["introspect", tenantKey],
    ]) {
      const r = await runProgram(process.execPath, ["--import", "tsx", "src/cli/main.ts", ...args], {
        env: { WARPFLOW_URL: base, WARPFLOW_ADMIN_KEY: svc.adminKey },
        timeoutMs: 60_000,
      });
      expect(r.code, r.stderr).toBe(2);
      cliOut.push(r.stdout, r.stderr);
    }

    // The calls were audited (their events logged), so the redaction was exercised.
    await svc.waitForLog(
      (l) => l.audit === true && typeof l.user_agent === "string" && (l.user_agent as string).includes("[redacted]"),
    );
    await sleep(300); // let the process write what it will
    const output = `${svc.logs.map((l) => JSON.stringify(l)).join("\n")}\n${svc.stderr()}\n${cliOut.join("\n")}`;
    for (const secret of [tenantKey, svc.adminKey]) {
      const leaked = windows(secret).filter((w) => output.includes(w));
      expect(leaked, "a 12-character window of a secret appears in the output").toEqual([]);
    }
  }, 120_000);
});
