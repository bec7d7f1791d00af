import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";
import { repoRoot } from "../support/service-process.js";

/** kubectl with its built-in kustomize (installed on these machines); undefined when absent. */
export const KUBECTL = ["/usr/bin/kubectl", "/usr/local/bin/kubectl"].find((p) => existsSync(p));

/** A rendered object: YAML, checked by the schema validator and the assertions. */
export type K8sObject = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- rendered YAML, read by assertions
  [k: string]: any;
};

/** `kubectl kustomize deploy/kubernetes/<dir>`, parsed: every object it renders. */
export function render(dir: string): K8sObject[] {
  const out = execFileSync(KUBECTL!, ["kustomize", join(repoRoot, "deploy/kubernetes", dir)], {
    encoding: "utf8",
    timeout: 60_000,
  });
  return parseAllDocuments(out).map((d) => {
    if (d.errors.length) throw new Error(`kubectl kustomize ${dir}: ${d.errors[0]!.message}`);
    return d.toJS() as K8sObject;
  });
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sourceFiles(join(dir, e.name)) : e.name.endsWith(".ts") ? [join(dir, e.name)] : [],
  );
}

/**
 * Every environment variable name the server's configuration reads, from the source itself
 * (src/config.ts and src/config/**): `env.NAME`, `env["NAME"]` and `helper(env, "NAME", ...)`.
 * Derived, not listed, so a variable added or renamed in the code is seen here at once.
 */
export function envNamesReadByConfig(): Set<string> {
  const files = [join(repoRoot, "src/config.ts"), ...sourceFiles(join(repoRoot, "src/config"))];
  const names = new Set<string>();
  const patterns = [
    /\benv\.([A-Z][A-Z0-9_]*)\b/g,
    /\benv\[\s*"([A-Z][A-Z0-9_]*)"\s*\]/g,
    /\(\s*env\s*,\s*"([A-Z][A-Z0-9_]*)"/g,
  ];
  for (const file of files) {
    const text = readFileSync(file, "utf8");
    for (const re of patterns) for (const m of text.matchAll(re)) names.add(m[1]!);
  }
  return names;
}
