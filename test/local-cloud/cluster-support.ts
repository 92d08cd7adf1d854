/**
 * Test double of the GKE server's node pools (the LocalNodePoolSource interface the node
 * controller and cluster autoscaler consume), and a local cluster on ManualTimers, so tests move
 * time themselves and never wait on the wall clock.
 */
import {
  AppsV1Api,
  CoreV1Api,
  type KubeConfig,
  type V1Deployment,
  type V1Pod,
} from '@kubernetes/client-node';
import { localKubeConfig } from '../../infra/local/kubernetes/client';
import {
  type ControllerOptions,
  type KubernetesServer,
  type LocalNodePoolSource,
  type LocalNodePoolView,
  ManualTimers,
  startKubernetesServer,
} from '../../infra/local/kubernetes/index';

export class FakeNodePools implements LocalNodePoolSource {
  readonly pools = new Map<string, LocalNodePoolView>();
  readonly resizes: { pool: string; nodeCountPerZone: Record<string, number> }[] = [];
  readonly #listeners = new Set<() => void>();

  nodePools(): LocalNodePoolView[] {
    return [...this.pools.values()].map((p) => structuredClone(p));
  }

  onChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** When true, autoscale() resizes are held until `flush()` (a slow resize). */
  deferResizes = false;
  readonly #held: { pool: string; nodeCountPerZone: Record<string, number> }[] = [];

  autoscale(pool: string, nodeCountPerZone: Record<string, number>): void {
    this.resizes.push({ pool, nodeCountPerZone: { ...nodeCountPerZone } });
    if (this.deferResizes) this.#held.push({ pool, nodeCountPerZone: { ...nodeCountPerZone } });
    else this.set(pool, { nodeCountPerZone: { ...nodeCountPerZone } });
  }

  flush(): void {
    for (const r of this.#held.splice(0)) this.set(r.pool, { nodeCountPerZone: r.nodeCountPerZone });
  }

  /** Adds or changes a pool (as a GKE create/resize would) and notifies listeners. */
  set(name: string, change: Partial<LocalNodePoolView>): void {
    const base: LocalNodePoolView = this.pools.get(name) ?? {
      name,
      zones: ['us-central1-a'],
      nodeCountPerZone: { 'us-central1-a': 0 },
      machineType: 'e2-standard-4',
      labels: {},
      taints: [],
      spot: false,
      status: 'RUNNING',
    };
    this.pools.set(name, { ...base, ...change });
    for (const l of this.#listeners) l();
  }

  delete(name: string): void {
    this.pools.delete(name);
    for (const l of this.#listeners) l();
  }
}

/** An L4 GPU pool as deployModel creates it: one g2-standard-8 per node, one zone. */
export function l4Pool(nodes: number, extra: Partial<LocalNodePoolView> = {}): Partial<LocalNodePoolView> {
  return {
    zones: ['us-central1-a'],
    nodeCountPerZone: { 'us-central1-a': nodes },
    machineType: 'g2-standard-8',
    accelerator: { type: 'nvidia-l4', count: 1 },
    labels: { 'inferplane.dev/gpu-class': 'l4' },
    ...extra,
  };
}

export interface TestCluster {
  server: KubernetesServer;
  timers: ManualTimers;
  pools: FakeNodePools;
  kc: KubeConfig;
  core: CoreV1Api;
  apps: AppsV1Api;
  close(): Promise<void>;
}

export async function startTestCluster(
  opts: Omit<ControllerOptions, 'nodePools' | 'timers'> = {},
): Promise<TestCluster> {
  const timers = new ManualTimers();
  const pools = new FakeNodePools();
  const server = await startKubernetesServer({
    port: 0,
    controllers: { cluster: 'inference', ...opts, nodePools: pools, timers },
  });
  const kc = localKubeConfig(server);
  return {
    server,
    timers,
    pools,
    kc,
    core: kc.makeApiClient(CoreV1Api),
    apps: kc.makeApiClient(AppsV1Api),
    close: () => server.close(),
  };
}

/** A Deployment of `image` asking one GPU, tolerating the GPU taint, pinned to `pool`. */
export function gpuDeployment(
  name: string,
  pool: string,
  replicas: number,
  image = 'triton:1',
): V1Deployment {
  const labels = { app: name };
  return {
    metadata: { name },
    spec: {
      replicas,
      selector: { matchLabels: labels },
      template: {
        metadata: { labels },
        spec: {
          nodeSelector: { 'cloud.google.com/gke-nodepool': pool },
          tolerations: [{ key: 'nvidia.com/gpu', operator: 'Equal', value: 'present', effect: 'NoSchedule' }],
          containers: [
            {
              name: 'triton',
              image,
              resources: { requests: { cpu: '1', memory: '4Gi' }, limits: { 'nvidia.com/gpu': '1' } },
            },
          ],
        },
      },
    },
  };
}

export function isReady(pod: V1Pod): boolean {
  return pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true;
}

export function podScheduled(pod: V1Pod) {
  return pod.status?.conditions?.find((c) => c.type === 'PodScheduled');
}
