/**
 * Pod specifics of the apiserver: the defaults it adds to a new Pod, and graceful deletion. Pods
 * are stored objects; what runs them (scheduler, kubelet, ReplicaSets) is in controllers/.
 */
import { isObject, type JsonObject } from './json';

function setDefault(obj: JsonObject, field: string, value: unknown): void {
  if (obj[field] === undefined) obj[field] = value;
}

function quantities(v: unknown): Record<string, unknown> {
  return isObject(v) ? v : {};
}

/** Guaranteed when every container limits cpu and memory at its requests, BestEffort when none asks, else Burstable. */
export function qosClassOf(spec: JsonObject): string {
  const containers = Array.isArray(spec.containers) ? spec.containers.filter(isObject) : [];
  const resources = containers.map((c) => (isObject(c.resources) ? c.resources : {}));
  const any = resources.some(
    (r) => Object.keys(quantities(r.requests)).length > 0 || Object.keys(quantities(r.limits)).length > 0,
  );
  if (!any) return 'BestEffort';
  const guaranteed = resources.every((r) => {
    const limits = quantities(r.limits);
    const requests = { ...limits, ...quantities(r.requests) };
    return ['cpu', 'memory'].every(
      (k) => limits[k] !== undefined && String(requests[k]) === String(limits[k]),
    );
  });
  return guaranteed ? 'Guaranteed' : 'Burstable';
}

function imagePullPolicy(image: unknown): string {
  const ref = String(image ?? '');
  const tag = ref.includes('@') ? 'digest' : (ref.split('/').pop()?.split(':')[1] ?? 'latest');
  return tag === 'latest' ? 'Always' : 'IfNotPresent';
}

/** As the apiserver and its admission plugins default a Pod (ServiceAccount, DefaultTolerationSeconds). */
export function podDefaults(pod: JsonObject, previous: JsonObject | undefined): void {
  const spec = isObject(pod.spec) ? pod.spec : {};
  pod.spec = spec;
  setDefault(spec, 'restartPolicy', 'Always');
  setDefault(spec, 'terminationGracePeriodSeconds', 30);
  setDefault(spec, 'dnsPolicy', 'ClusterFirst');
  setDefault(spec, 'serviceAccountName', 'default');
  setDefault(spec, 'securityContext', {});
  setDefault(spec, 'schedulerName', 'default-scheduler');
  setDefault(spec, 'enableServiceLinks', true);
  setDefault(spec, 'priority', 0);
  setDefault(spec, 'preemptionPolicy', 'PreemptLowerPriority');
  for (const c of Array.isArray(spec.containers) ? spec.containers.filter(isObject) : []) {
    setDefault(c, 'resources', {});
    setDefault(c, 'terminationMessagePath', '/dev/termination-log');
    setDefault(c, 'terminationMessagePolicy', 'File');
    setDefault(c, 'imagePullPolicy', imagePullPolicy(c.image));
  }
  if (!previous) {
    const tolerations = Array.isArray(spec.tolerations) ? spec.tolerations.filter(isObject) : [];
    for (const key of ['node.kubernetes.io/not-ready', 'node.kubernetes.io/unreachable']) {
      if (!tolerations.some((t) => t.key === key)) {
        tolerations.push({ key, operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 });
      }
    }
    spec.tolerations = tolerations;
    pod.status = { phase: 'Pending', qosClass: qosClassOf(spec) };
  }
}

/**
 * Graceful deletion: a Pod bound to a node gets `deletionTimestamp` (now + grace period) and
 * `deletionGracePeriodSeconds`, and stays until its kubelet has stopped it. An unbound Pod, a
 * grace period of 0, or a second delete with 0 removes it at once (returns undefined).
 * @param nowMs the apiserver's clock
 * @param kubeletStops whether a kubelet will stop it (false: remove at once)
 */
export function gracefulPodDeletion(
  pod: JsonObject,
  options: JsonObject,
  nowMs: number,
  kubeletStops: boolean,
): JsonObject | undefined {
  const meta = isObject(pod.metadata) ? pod.metadata : {};
  const spec = isObject(pod.spec) ? pod.spec : {};
  const requested = typeof options.gracePeriodSeconds === 'number' ? options.gracePeriodSeconds : undefined;
  if (requested === 0 || !kubeletStops || typeof spec.nodeName !== 'string') return undefined;
  if (meta.deletionTimestamp !== undefined) return pod;
  const grace =
    requested ??
    (typeof spec.terminationGracePeriodSeconds === 'number' ? spec.terminationGracePeriodSeconds : 30);
  if (grace <= 0) return undefined;
  const at = `${new Date(nowMs + grace * 1000).toISOString().slice(0, 19)}Z`;
  return { ...pod, metadata: { ...meta, deletionTimestamp: at, deletionGracePeriodSeconds: grace } };
}
