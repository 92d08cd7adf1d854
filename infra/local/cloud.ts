/**
 * The whole local cloud in one process: Cloud Storage, GKE, Kubernetes and Triton servers, each on
 * its own loopback port, with state under one directory. Tests start it in-process; the sandbox
 * and `npm run local-cloud` start it as a process.
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type GkeServer, startGkeServer } from './gke';
import { type KubernetesServer, startKubernetesServer } from './kubernetes';
import { tritonProcesses } from './pod-triton';
import { type StorageServer, startStorageServer } from './storage';
import { startTritonFleet, type TritonFleet } from './triton/fleet';

export interface LocalCloudOptions {
  dir?: string;
  project?: string;
  location?: string;
  cluster?: string;
  /**
   * Bucket of the Triton model repositories. Unused by the servers since each pod's Triton reads
   * the repository its `--model-repository` names; kept so callers need not change.
   */
  repositoryBucket?: string;
  /** How long each GKE operation phase (PENDING, RUNNING) lasts. */
  operationPhaseMs?: number;
  /** How long Triton keeps a model LOADING before READY. */
  tritonLoadDelayMs?: number;
  /** Simulated compute time of one Triton execution, in ms (default 5). */
  tritonComputeMs?: number;
  ports?: { storage?: number; gke?: number; kubernetes?: number; triton?: number };
}

export interface LocalCloud {
  dir: string;
  storage: StorageServer;
  gke: GkeServer;
  kubernetes: KubernetesServer;
  triton: TritonFleet;
  /**
   * `triton` is the per-pod URL template the control plane takes (INFERPLANE_TRITON_URL):
   * `{pool}` stands for the GPU pool's name, `{pod}` for a pod name served by `kubernetes`.
   */
  endpoints: { storage: string; gke: string; kubernetes: string; triton: string; cluster: string };
  close(): Promise<void>;
}

export async function startLocalCloud(options: LocalCloudOptions = {}): Promise<LocalCloud> {
  const dir = options.dir ?? (await mkdtemp(path.join(tmpdir(), 'inferplane-cloud-')));
  const storage = await startStorageServer({ dir: path.join(dir, 'storage'), port: options.ports?.storage });
  const gke = await startGkeServer({
    dir: path.join(dir, 'gke'),
    port: options.ports?.gke,
    project: options.project ?? 'local-project',
    location: options.location ?? 'us-central1',
    cluster: options.cluster ?? 'inference',
    ...(options.operationPhaseMs === undefined ? {} : { operationPhaseMs: options.operationPhaseMs }),
  });
  const kubernetes = await startKubernetesServer({
    dir: path.join(dir, 'kubernetes'),
    port: options.ports?.kubernetes,
  });
  const triton = await startTritonFleet({
    port: options.ports?.triton,
    storageUrl: storage.url,
    ...(options.tritonLoadDelayMs === undefined ? {} : { loadDelayMs: options.tritonLoadDelayMs }),
    ...(options.tritonComputeMs === undefined ? {} : { computeMs: options.tritonComputeMs }),
  });
  // Each pod instance runs its own Triton, started from its container's args (the admin key
  // expanded from its Secret): a pod scaled away stops, and a new pod is a fresh Triton.
  const syncTriton = () =>
    triton.sync(tritonProcesses(kubernetes.pods(), (kind) => kubernetes.objects(kind)));
  kubernetes.onChange(() => {
    void syncTriton();
  });
  await syncTriton();
  return {
    dir,
    storage,
    gke,
    kubernetes,
    triton,
    endpoints: {
      storage: storage.url,
      gke: gke.url,
      kubernetes: kubernetes.url,
      triton: triton.urlTemplate,
      cluster: gke.clusterName,
    },
    close: async () => {
      await Promise.all([triton.close(), kubernetes.close(), gke.close(), storage.close()]);
    },
  };
}
