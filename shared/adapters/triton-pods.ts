/**
 * The Triton pods of one GPU pool, found through the Kubernetes API. Each replica of a pool's
 * Deployment loads models on its own (the repository API is per server), so a new version must be
 * loaded on every ready pod, not on one behind the Service.
 */
import { type KeyRing, keyForPod } from '../domain/keys';
import type { KubeObjects, LiveObject } from '../ports/kubernetes';
import type { TritonPod } from '../ports/triton';
import { PermanentError, RetryableError } from '../runtime/errors';
import { TritonHttpClient } from './triton';

/** Pod IPs are routable from the VPC on VPC-native GKE (Cloud Run reaches them by Direct VPC egress). */
export const DEFAULT_TRITON_URL_TEMPLATE = 'http://{podIP}:8000';

export interface ReadyPod {
  name: string;
  podIP: string;
  /** The pod's annotations: which key ids its Triton runs with. */
  annotations: Record<string, string>;
}

function record(value: unknown): Record<string, unknown> {
  return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : {};
}

/**
 * Pods that can take repository calls now: Running, condition Ready=True, an IP, and not being
 * deleted (a terminating pod is about to lose its models anyway). Sorted by name.
 */
export function readyPods(pods: readonly LiveObject[]): ReadyPod[] {
  const out: ReadyPod[] = [];
  for (const pod of pods) {
    const status = record(pod.status);
    if (status.phase !== 'Running') continue;
    if (pod.metadata.deletionTimestamp) continue;
    const conditions = Array.isArray(status.conditions) ? status.conditions.map(record) : [];
    if (!conditions.some((c) => c.type === 'Ready' && c.status === 'True')) continue;
    if (typeof status.podIP !== 'string' || status.podIP === '') continue;
    out.push({ name: pod.metadata.name, podIP: status.podIP, annotations: { ...pod.metadata.annotations } });
  }
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** Fills `{pool}`, `{pod}` and `{podIP}` into a Triton URL template. */
export function tritonPodUrl(template: string, values: { pool: string; pod: string; podIP: string }): string {
  return template
    .replaceAll('{pool}', values.pool)
    .replaceAll('{pod}', values.pod)
    .replaceAll('{podIP}', values.podIP);
}

/** `key=value,...`, the list call's labelSelector. */
export function labelSelectorOf(labels: Readonly<Record<string, string>>): string {
  return Object.entries(labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
}

export interface TritonPodsOptions {
  kubeObjects: KubeObjects;
  /** INFERPLANE_TRITON_URL, or `DEFAULT_TRITON_URL_TEMPLATE`. */
  urlTemplate: string;
  /** The header Triton restricts the repository API with. */
  adminHeader: string;
}

/**
 * Builds `tritonPods`: the ready pods matching a selector, each with a Triton client carrying the
 * key that pod runs with (its annotation names the key id; the key comes from the pool's Secret),
 * so no call fails while a key rotation rolls the pods. Clients are reused per URL and key, so a
 * warm instance keeps its connections. A pod whose key the ring no longer holds is left out (it is
 * about to go: keys are retired only once no pod runs with them).
 * @throws RetryableError TRITON_NOT_READY when no pod is ready (e.g. the first one is starting).
 */
export function tritonPodsFinder(options: TritonPodsOptions) {
  const clients = new Map<string, TritonHttpClient>();
  return async (args: {
    pool: string;
    namespace: string;
    selector: Readonly<Record<string, string>>;
    /** The pool's key ring (read from its Secret). */
    keys: KeyRing;
  }): Promise<TritonPod[]> => {
    if (Object.keys(args.selector).length === 0) {
      // An empty selector would match every pod of the namespace.
      throw new PermanentError('EMPTY_POD_SELECTOR', `no pod selector for pool ${args.pool}`);
    }
    const live = await options.kubeObjects.list('v1', 'Pod', args.namespace, labelSelectorOf(args.selector));
    const ready = readyPods(live).filter((p) => keyForPod(args.keys, p.annotations) !== undefined);
    if (ready.length === 0) {
      throw new RetryableError(
        'TRITON_NOT_READY',
        `no ready Triton pod for pool ${args.pool} in namespace ${args.namespace} (${live.length} pod(s) found)`,
        { details: { pool: args.pool, pods: live.length } },
      );
    }
    return ready.map((p) => {
      const url = tritonPodUrl(options.urlTemplate, { pool: args.pool, pod: p.name, podIP: p.podIP });
      const key = keyForPod(args.keys, p.annotations) as string;
      let client = clients.get(url);
      if (!client || client.adminKey !== key) {
        client = new TritonHttpClient(url, { restrictedApiHeader: [options.adminHeader, key] });
        clients.set(url, client);
      }
      return { pod: p.name, triton: client };
    });
  };
}
