/**
 * What a kubelet would run for each pod's Triton container: the container's args with `$(VAR)`
 * references expanded from its `env` (`value`, `valueFrom.secretKeyRef`, `valueFrom.configMapKeyRef`,
 * read from the local apiserver's Secrets and ConfigMaps), as Kubernetes expands them. A pod whose
 * env refers to a Secret or ConfigMap key that does not exist is not started (the kubelet reports
 * CreateContainerConfigError and retries); it starts on a later sync once the object exists.
 * Imports nothing from the product.
 */
import type { KubeObject } from './kubernetes';
import type { TritonPodProcess } from './triton/fleet';

type Json = Record<string, unknown>;
const obj = (v: unknown): Json =>
  typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Json) : {};
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/** A container runs Triton when its command or args start `tritonserver` or pass a repository. */
function isTriton(container: Json): boolean {
  const words = [
    ...(Array.isArray(container.command) ? container.command : []),
    ...(Array.isArray(container.args) ? container.args : []),
  ].filter((w): w is string => typeof w === 'string');
  return words.some((w) => /(^|\/)tritonserver$/.test(w) || /^--model-(repository|store)[= ]/.test(w));
}

/** Kubernetes' `$(VAR)` expansion: `$$` escapes, unknown references stay as written. */
export function expandVars(text: string, env: ReadonlyMap<string, string>): string {
  return text.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (m, name: string | undefined) => {
    if (m === '$$') return '$';
    return env.has(name!) ? env.get(name!)! : m;
  });
}

/** The container's environment, or the reason the kubelet could not build it. */
export function containerEnv(
  container: Json,
  namespace: string,
  objects: (kind: string) => KubeObject[],
): { ok: true; env: Map<string, string> } | { ok: false; reason: string } {
  const env = new Map<string, string>();
  for (const raw of Array.isArray(container.env) ? container.env : []) {
    const e = obj(raw);
    const name = str(e.name);
    if (!name) continue;
    if (e.value !== undefined) {
      env.set(name, expandVars(String(e.value), env));
      continue;
    }
    const from = obj(e.valueFrom);
    for (const [field, kind] of [
      ['secretKeyRef', 'Secret'],
      ['configMapKeyRef', 'ConfigMap'],
    ] as const) {
      if (!from[field]) continue;
      const ref = obj(from[field]);
      const source = objects(kind).find(
        (o) => o.metadata.name === ref.name && (o.metadata.namespace ?? 'default') === namespace,
      );
      const data = obj(source?.data);
      const key = str(ref.key) ?? '';
      if (!source || !(key in data)) {
        if (ref.optional === true) break;
        return {
          ok: false,
          reason: source
            ? `couldn't find key ${key} in ${kind} ${namespace}/${String(ref.name)}`
            : `${kind.toLowerCase()} "${String(ref.name)}" not found`,
        };
      }
      const value = String(data[key]);
      env.set(name, kind === 'Secret' ? Buffer.from(value, 'base64').toString('utf8') : value);
    }
  }
  return { ok: true, env };
}

/** The Triton processes the pods run now (one per Triton container), for `fleet.sync`. */
export function tritonProcesses(
  pods: readonly KubeObject[],
  objects: (kind: string) => KubeObject[],
): TritonPodProcess[] {
  const out: TritonPodProcess[] = [];
  for (const pod of pods) {
    const spec = obj(pod.spec);
    const containers = (Array.isArray(spec.containers) ? spec.containers : []).map(obj);
    const triton = containers.find(isTriton);
    if (!triton) continue;
    const namespace = pod.metadata.namespace ?? 'default';
    const env = containerEnv(triton, namespace, objects);
    if (!env.ok) continue;
    const args = [
      ...(Array.isArray(triton.command) ? triton.command : []),
      ...(Array.isArray(triton.args) ? triton.args : []),
    ]
      .filter((w): w is string => typeof w === 'string')
      .map((w) => expandVars(w, env.env));
    const labels = pod.metadata.labels ?? {};
    // The pool is the Deployment's instance: its label, else the pod name minus `-<hash>-<i>`.
    const pool = labels['app.kubernetes.io/instance'] ?? pod.metadata.name.replace(/-[a-z0-9]+-[0-9]+$/, '');
    out.push({ uid: pod.metadata.uid, name: pod.metadata.name, namespace, pool, args });
  }
  return out;
}
