/**
 * The whole local cloud in one process: Cloud Storage, GKE, Kubernetes and Triton servers, each on
 * its own loopback port, with state under one directory. Tests start it in-process; the sandbox
 * and `npm run local-cloud` start it as a process.
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DEFAULT_ADMIN_HEADER } from '../../shared/cluster/triton';
import { type GkeServer, startGkeServer } from './gke';
import { type KubernetesServer, startKubernetesServer } from './kubernetes';
import { type StorageServer, startStorageServer } from './storage';
import { startTritonFleet, type TritonFleet } from './triton/fleet';

export interface LocalCloudOptions {
  dir?: string;
  project?: string;
  location?: string;
  cluster?: string;
  /** Bucket of the Triton model repositories (one folder per GPU pool under `models/`). */
  repositoryBucket?: string;
  /** How long each GKE operation phase (PENDING, RUNNING) lasts. */
  operationPhaseMs?: number;
  /** How long Triton keeps a model LOADING before READY. */
  tritonLoadDelayMs?: number;
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
  const repositoryBucket = options.repositoryBucket ?? 'local-triton-repo';
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
    // The control plane reaches this server through `createKubeConfig({ endpoint })`, which sends
    // no credentials; kubectl and localKubeConfig send a bearer token.
    anonymous: true,
  });
  const triton = await startTritonFleet({
    port: options.ports?.triton,
    storageUrl: storage.url,
    repositoryBucket,
    // As the Deployment starts Triton: the repository API is the control plane's alone.
    restrictedApiHeader: DEFAULT_ADMIN_HEADER,
    ...(options.tritonLoadDelayMs === undefined ? {} : { loadDelayMs: options.tritonLoadDelayMs }),
  });
  // Pods live as long as their Deployment runs them: a pod scaled away stops, and one started
  // later under the same name is a new Triton that loads the repository again.
  kubernetes.onChange(() => {
    void triton.retainPods(kubernetes.pods().map((p) => p.metadata.name));
  });
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
