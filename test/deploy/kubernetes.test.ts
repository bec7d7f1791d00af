import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Deployment } from "kubernetes-models/apps/v1";
import { HorizontalPodAutoscaler } from "kubernetes-models/autoscaling/v2";
import { NetworkPolicy } from "kubernetes-models/networking.k8s.io/v1";
import { PodDisruptionBudget } from "kubernetes-models/policy/v1";
import { Namespace, Secret, Service } from "kubernetes-models/v1";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.js";
import { repoRoot } from "../support/service-process.js";
import { useTestApp } from "../support/test-app.js";
import { envNamesReadByConfig, KUBECTL, render, type K8sObject } from "./kubernetes-render.js";

/**
 * deploy/kubernetes: the base and the example overlay, rendered by `kubectl kustomize`, every
 * object validated against the Kubernetes OpenAPI schema (kubernetes-models: the schemas are bundled,
 * so it runs offline), and the parts that must match the code checked against the code: probe paths
 * against the running server, probe ports against the ports the manifest gives the server, the
 * container user against the Dockerfile, every env name against what src/config reads.
 */
if (!KUBECTL) console.log("kubernetes manifests: skipped, kubectl (with kustomize) not installed");

type Validatable = { validate(): void };
const MODELS: Record<string, new (data: never) => Validatable> = {
  "apps/v1/Deployment": Deployment,
  "v1/Service": Service,
  "v1/Secret": Secret,
  "v1/Namespace": Namespace,
  "policy/v1/PodDisruptionBudget": PodDisruptionBudget,
  "autoscaling/v2/HorizontalPodAutoscaler": HorizontalPodAutoscaler,
  "networking.k8s.io/v1/NetworkPolicy": NetworkPolicy,
};

function validate(obj: K8sObject): void {
  const Model = MODELS[`${obj.apiVersion}/${obj.kind}`];
  if (!Model) throw new Error(`no schema model for ${obj.apiVersion} ${obj.kind}: add it to MODELS`);
  new Model(obj as never).validate();
}

const one = (objs: K8sObject[], kind: string, name?: string): K8sObject => {
  const found = objs.filter((o) => o.kind === kind && (!name || o.metadata.name === name));
  expect(found, `${kind} ${name ?? ""}`).toHaveLength(1);
  return found[0]!;
};

const t = useTestApp();

describe.skipIf(!KUBECTL)("deploy/kubernetes", () => {
  const base = KUBECTL ? render("base") : [];
  const overlay = KUBECTL ? render("overlays/example") : [];
  const deployment = () => one(base, "Deployment");
  const container = () => deployment().spec.template.spec.containers[0];
  const env = (): Record<string, string | undefined> =>
    Object.fromEntries(container().env.map((e: { name: string; value?: string }) => [e.name, e.value]));

  it("renders the base and the overlay; every object is valid against the Kubernetes OpenAPI schema", () => {
    expect(base.map((o) => o.kind).sort()).toEqual([
      "Deployment",
      "HorizontalPodAutoscaler",
      "NetworkPolicy",
      "PodDisruptionBudget",
      "Service",
      "Service",
    ]);
    expect(overlay.length).toBe(base.length + 3); // + Namespace and the two Secrets
    for (const obj of [...base, ...overlay])
      expect(() => validate(obj), `${obj.kind} ${obj.metadata.name}`).not.toThrow();
  });

  it("the validator refuses what the schema refuses (so a pass means something)", () => {
    const broken = structuredClone(deployment());
    broken.spec.replicas = "three";
    expect(() => validate(broken)).toThrow(/replicas/);
    const noSelector = structuredClone(deployment());
    delete noSelector.spec.selector;
    expect(() => validate(noSelector)).toThrow(/selector/);
    const badProbe = structuredClone(deployment());
    badProbe.spec.template.spec.containers[0].readinessProbe.httpGet.path = 8080;
    expect(() => validate(badProbe)).toThrow(/path/);
  });

  it("every env name is one src/config reads, and the values load", () => {
    const read = envNamesReadByConfig();
    expect(read.has("PORT") && read.has("SHUTDOWN_TIMEOUT_MS"), "the scan finds the config's names").toBe(true);
    for (const objs of [base, overlay]) {
      const names: string[] = one(objs, "Deployment").spec.template.spec.containers.flatMap((c: K8sObject) =>
        (c.env ?? []).map((e: { name: string }) => e.name),
      );
      const unknown = names.filter((n) => !read.has(n));
      expect(unknown, "env names no code reads").toEqual([]);
    }
    // The values as the server would load them (Secret values replaced by a well-formed stand-in).
    const values = Object.fromEntries(
      overlay
        .filter((o) => o.kind === "Deployment")[0]!
        .spec.template.spec.containers[0].env.map((e: { name: string; value?: string }) => [
          e.name,
          e.value ?? "mongodb://mongo.example:27017/?replicaSet=rs0",
        ]),
    );
    expect(() => loadConfig(values)).not.toThrow();
  });

  it("the client cache's stream is served in production: a caller restriction, or WATCH_ALLOW_OPEN behind the NetworkPolicy", () => {
    const env = Object.fromEntries(
      one(overlay, "Deployment").spec.template.spec.containers[0].env.map((e: { name: string; value?: string }) => [
        e.name,
        e.value ?? "mongodb://mongo.example:27017/?replicaSet=rs0",
      ]),
    );
    const c = loadConfig({ ...env, NODE_ENV: "production" }); // the image's NODE_ENV
    const restricted = c.introspectCallerToken !== undefined || c.introspectRequireClientCert;
    expect(restricted || c.watchAllowOpen, "WatchInvalidations would be refused (docs/security.md)").toBe(true);
    if (!restricted) expect(one(overlay, "NetworkPolicy").spec.ingress.length).toBeGreaterThan(0);
  });

  it("probes: startup and liveness on /healthz, readiness on /readyz, on the ops port the server is told to open", async () => {
    const c = container();
    const portOf = (name: string | number) =>
      typeof name === "number" ? name : c.ports.find((p: { name: string }) => p.name === name)?.containerPort;
    expect(c.startupProbe.httpGet.path).toBe("/healthz");
    expect(c.livenessProbe.httpGet.path).toBe("/healthz");
    expect(c.readinessProbe.httpGet.path).toBe("/readyz");
    for (const probe of [c.startupProbe, c.livenessProbe, c.readinessProbe]) {
      expect(probe.httpGet.scheme ?? "HTTP").toBe("HTTP");
      expect(String(portOf(probe.httpGet.port))).toBe(env().OPS_PORT);
    }
    expect(String(portOf("api"))).toBe(env().PORT);
    // What the code serves at those paths (the ops port serves the same routes as the API port).
    const live = await fetch(`${t.baseUrl}/healthz`);
    expect(live.status).toBe(200);
    const ready = await fetch(`${t.baseUrl}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ status: "serving" });
    expect((await fetch(`${t.baseUrl}/metrics`)).status).toBe(200);
  });

  it("runs as the image's non-root user, read-only root, no capabilities, seccomp RuntimeDefault", () => {
    const user = /^USER (\d+):(\d+)$/m.exec(readFileSync(join(repoRoot, "Dockerfile"), "utf8"));
    expect(user, "Dockerfile: numeric USER uid:gid").not.toBeNull();
    const pod = deployment().spec.template.spec;
    expect(pod.securityContext).toMatchObject({
      runAsNonRoot: true,
      runAsUser: Number(user![1]),
      runAsGroup: Number(user![2]),
      seccompProfile: { type: "RuntimeDefault" },
    });
    expect(container().securityContext).toEqual({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      privileged: false,
      capabilities: { drop: ["ALL"] },
    });
    expect(pod.automountServiceAccountToken).toBe(false);
  });

  it("ADMIN_KEY_FILE is the read-only mount of the admin-key Secret; every Secret it names exists in the overlay", () => {
    const c = container();
    const pod = deployment().spec.template.spec;
    const file = env().ADMIN_KEY_FILE!;
    const mount = c.volumeMounts.find((m: { mountPath: string }) => file.startsWith(`${m.mountPath}/`));
    expect(mount, `a volume mounted above ${file}`).toBeDefined();
    expect(mount.readOnly).toBe(true);
    const volume = pod.volumes.find((v: { name: string }) => v.name === mount.name);
    expect(volume.secret.items).toEqual([{ key: "admin-key", path: file.slice(mount.mountPath.length + 1) }]);
    const secrets = overlay.filter((o) => o.kind === "Secret");
    const has = (name: string, key: string) =>
      secrets.some((s) => s.metadata.name === name && key in { ...s.data, ...s.stringData });
    expect(has(volume.secret.secretName, "admin-key")).toBe(true);
    for (const e of c.env.filter((x: K8sObject) => x.valueFrom?.secretKeyRef)) {
      expect(has(e.valueFrom.secretKeyRef.name, e.valueFrom.secretKeyRef.key), e.name).toBe(true);
    }
    expect(env().STORE).toBe("mongodb");
    expect(c.env.find((x: { name: string }) => x.name === "MONGODB_URI").valueFrom.secretKeyRef).toBeDefined();
  });

  it("terminationGracePeriodSeconds is above preStop plus the drain bound; rolling update keeps full capacity", () => {
    const d = deployment();
    const drainMs = loadConfig({ SHUTDOWN_TIMEOUT_MS: env().SHUTDOWN_TIMEOUT_MS ?? "" }).shutdownTimeoutMs;
    const preStopMs = container().lifecycle.preStop.sleep.seconds * 1000;
    expect(preStopMs).toBeGreaterThan(0);
    expect(d.spec.template.spec.terminationGracePeriodSeconds * 1000).toBeGreaterThan(preStopMs + drainMs);
    expect(d.spec.replicas).toBe(3);
    expect(d.spec.strategy.rollingUpdate).toEqual({ maxSurge: 1, maxUnavailable: 0 });
    const r = container().resources;
    for (const k of ["cpu", "memory"]) {
      expect(r.requests[k], `requests.${k}`).toBeDefined();
      expect(r.limits[k], `limits.${k}`).toBeDefined();
    }
  });

  it("Service, PDB, HPA and NetworkPolicy select the pods and name ports the container has", () => {
    const podLabels = deployment().spec.template.metadata.labels;
    const selects = (sel: Record<string, string>) => Object.entries(sel).every(([k, v]) => podLabels[k] === v);
    const portNames = container().ports.map((p: { name: string }) => p.name);
    const services = base.filter((o) => o.kind === "Service");
    for (const s of services) {
      expect(selects(s.spec.selector), s.metadata.name).toBe(true);
      for (const p of s.spec.ports) expect(portNames).toContain(p.targetPort);
    }
    const api = one(base, "Service", "warpflow-token-service").spec.ports;
    expect(api).toEqual([expect.objectContaining({ name: "api", appProtocol: "kubernetes.io/h2c" })]);
    const metrics = one(base, "Service", "warpflow-token-service-metrics");
    expect(metrics.metadata.labels).toMatchObject({
      "app.kubernetes.io/name": "warpflow-token-service",
      "app.kubernetes.io/component": "metrics",
    });
    expect(metrics.spec.ports).toEqual([expect.objectContaining({ name: "ops", targetPort: "ops" })]);
    expect(selects(one(base, "PodDisruptionBudget").spec.selector.matchLabels)).toBe(true);
    const hpa = one(base, "HorizontalPodAutoscaler").spec;
    expect(hpa.scaleTargetRef).toMatchObject({ kind: "Deployment", name: deployment().metadata.name });
    expect(hpa.minReplicas).toBe(deployment().spec.replicas);
    const np = one(base, "NetworkPolicy").spec;
    expect(selects(np.podSelector.matchLabels)).toBe(true);
    const allowed = np.ingress.flatMap((r: K8sObject) => r.ports.map((p: { port: string }) => p.port)).sort();
    expect(allowed).toEqual(["api", "api", "ops"]);
    for (const p of allowed) expect(portNames).toContain(p);
  });

  it("the overlay puts everything but the Namespace in its namespace and sets the image", () => {
    for (const o of overlay.filter((x) => x.kind !== "Namespace"))
      expect(o.metadata.namespace, o.kind).toBe("warpflow");
    expect(one(overlay, "Deployment").spec.template.spec.containers[0].image).toBe(
      "registry.example.com/warpflow/token-service:0.1.0",
    );
  });
});
