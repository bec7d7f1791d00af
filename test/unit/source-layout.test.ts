import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

/**
 * The layout docs/design.md describes, checked on the source: one folder per library under
 * src/transport, protocol folders that never import each other, the TokenService implementation
 * (src/service) outside the wire code, module comments at the top of the file.
 */
const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const src = join(root, "src");

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith(".ts") ? [join(dir, e.name)] : [],
  );
}

/** Every module a file imports or re-exports: package names, or repository paths for relative ones. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, "utf8");
  const specs = [...text.matchAll(/^\s*(?:import|export)\b[^;]*?\bfrom\s+"([^"]+)"/gms)].map((m) => m[1]!);
  return specs.map((s) => (s.startsWith(".") ? relative(root, resolve(dirname(file), s)) : s));
}

const sources = files(src).filter((f) => !f.includes(`${join("src", "gen")}`));
const under = (folder: string) => sources.filter((f) => relative(src, f).startsWith(folder + "/"));
const where = (file: string) => relative(root, file);

describe("source layout", () => {
  it("in src/transport, only grpc/ imports @grpc/grpc-js and only connect/ imports connect-node", () => {
    const grpc = under("transport")
      .filter((f) => importsOf(f).includes("@grpc/grpc-js"))
      .map(where);
    const connectNode = under("transport")
      .filter((f) => importsOf(f).includes("@connectrpc/connect-node"))
      .map(where);
    expect(grpc.length).toBeGreaterThan(0);
    expect(grpc.filter((f) => !f.startsWith("src/transport/grpc/"))).toEqual([]);
    expect(connectNode.length).toBeGreaterThan(0);
    expect(connectNode.filter((f) => !f.startsWith("src/transport/connect/"))).toEqual([]);
  });

  it("the protocol folders never import each other; socket/ and protocol/ import no protocol folder", () => {
    const folders = ["grpc", "connect", "http", "socket", "protocol"];
    const wrong: string[] = [];
    for (const folder of folders) {
      const allowed = new Set([folder, "protocol"]);
      for (const file of under(`transport/${folder}`)) {
        for (const dep of importsOf(file)) {
          const m = /^src\/transport\/([^/]+)\//.exec(dep);
          if (m && !allowed.has(m[1]!)) wrong.push(`${where(file)} -> ${dep}`);
          if (dep === "src/transport/server.js") wrong.push(`${where(file)} -> ${dep}`);
        }
      }
      expect(under(`transport/${folder}`).length, folder).toBeGreaterThan(0);
    }
    expect(wrong).toEqual([]);
  });

  it("transport imports no service, app or adapter; service imports only transport/protocol of the wire code", () => {
    const wrong: string[] = [];
    for (const file of under("transport")) {
      for (const dep of importsOf(file))
        if (/^src\/(service|app|adapters)\//.test(dep)) wrong.push(`${where(file)} -> ${dep}`);
    }
    for (const file of under("service")) {
      for (const dep of importsOf(file)) {
        if (/^src\/transport\//.test(dep) && !dep.startsWith("src/transport/protocol/"))
          wrong.push(`${where(file)} -> ${dep}`);
        if (/^@grpc\/grpc-js$|^@connectrpc\/connect-node$/.test(dep)) wrong.push(`${where(file)} -> ${dep}`);
      }
    }
    for (const file of under("cli")) {
      for (const dep of importsOf(file)) if (/^src\/transport\//.test(dep)) wrong.push(`${where(file)} -> ${dep}`);
    }
    expect(under("service").length).toBeGreaterThan(0);
    expect(wrong).toEqual([]);
  });

  it("a module comment sits at the top of the file, not as a JSDoc block between the imports and the first declaration", () => {
    const misplaced: string[] = [];
    for (const file of [...under("transport"), ...under("service")]) {
      const lines = readFileSync(file, "utf8").split("\n");
      let last = -1;
      lines.forEach((l, i) => {
        if (/^import\b|^export\s+(type\s+)?\{[^}]*\}\s+from\b/.test(l) || /^\} from "/.test(l)) last = i;
      });
      if (last < 0) continue;
      let i = last + 1;
      while (i < lines.length && lines[i]!.trim() === "") i++;
      if (!lines[i]?.startsWith("/**")) continue;
      let end = i;
      while (end < lines.length && !lines[end]!.includes("*/")) end++;
      // A long essay right after the imports, on a type or value rather than on a function.
      if (end - i + 1 >= 4 && !/^(export )?(async )?function\b/.test(lines[end + 1] ?? "")) misplaced.push(where(file));
    }
    expect(misplaced).toEqual([]);
  });
});
