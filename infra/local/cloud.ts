/**
 * The whole local cloud in one process: Cloud Storage, GKE, Kubernetes, Cloud Monitoring and a
 * Triton per pod, each on its own loopback port, with state under one directory, wired as a GKE
 * cluster is: the GKE node pools' nodes are the apiserver's Nodes, pods run a Triton started from
 * their own args and are Ready when it is, the HPA controller reads External metrics from
 * Monitoring, and Monitoring scrapes the pods that PodMonitorings select. Tests start it
 * in-process; the sandbox and `npm run local-cloud` start it as a process.
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { LOCAL_ACCESS_TOKEN } from './credentials';
import { type GkeServer, startGkeServer } from './gke';
import { type KubernetesServer, SANDBOX_TIMINGS, startKubernetesServer } from './kubernetes';
import { type ExternalMetricSource, startHpaController } from './kubernetes/hpa-controller';
import { type MonitoringServer, scrapeTargetsFromPodMonitorings, startMonitoringServer } from './monitoring';
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
  /**
   * GKE node pools back the apiserver's Nodes: pods are scheduled onto them (Pending while no node
   * has room), and the cluster autoscaler grows and shrinks autoscaled pools. Off (the default for
   * tests of other things), every pod is bound at once to one roomy node.
   */
  nodes?: boolean;
  /**
   * Cluster timings: `instant` (default) makes nodes and pods follow at once; `sandbox` uses
   * watchable delays (GPU node start-up, container start, autoscaler).
   */
  timings?: 'instant' | 'sandbox';
  /** HPA controller sync period (the real one: 15 s). */
  hpaSyncPeriodMs?: number;
  /** Scrape interval for every PodMonitoring (Managed Prometheus default: 60 s). */
  scrapeIntervalMs?: number;
  ports?: { storage?: number; gke?: number; kubernetes?: number; triton?: number; monitoring?: number };
  /** The GKE cluster's node locations (default `<region>-a`): several zones for stockout tests. */
  gkeLocations?: readonly string[];
}

export interface LocalCloud {
  dir: string;
  storage: StorageServer;
  gke: GkeServer;
  kubernetes: KubernetesServer;
  triton: TritonFleet;
  monitoring: MonitoringServer;
  /** Base64 of the PEM of the apiserver's CA (GKE's `masterAuth.clusterCaCertificate`). */
  kubernetesCaCertificate: string;
  /**
   * How a client reaches the apiserver as GKE describes it: `endpoint` (host:port, no scheme, as
   * `cluster.endpoint`), the CA (base64 PEM) and a bearer token the apiserver accepts.
   */
  kubernetesAuth: { endpoint: string; caCertificate: string; token: string };
  /** The HPA controller (it syncs on its period; `sync()` runs one pass now). */
  hpa: { sync(): Promise<void> };
  /** Resolves once every pod change so far has reached its Triton and the pods' readiness. */
  settled(): Promise<void>;
  /**
   * `triton` is the per-pod URL template the control plane takes (INFERPLANE_TRITON_URL):
   * `{pool}` stands for the GPU pool's name, `{pod}` for a pod name served by `kubernetes`.
   */
  endpoints: {
    storage: string;
    gke: string;
    kubernetes: string;
    triton: string;
    monitoring: string;
    cluster: string;
  };
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
    ...(options.gkeLocations ? { locations: options.gkeLocations } : {}),
  });
  const triton = await startTritonFleet({
    port: options.ports?.triton,
    storageUrl: storage.url,
    ...(options.tritonLoadDelayMs === undefined ? {} : { loadDelayMs: options.tritonLoadDelayMs }),
    ...(options.tritonComputeMs === undefined ? {} : { computeMs: options.tritonComputeMs }),
  });
  const project = options.project ?? 'local-project';
  const cluster = options.cluster ?? 'inference';
  const kubernetes = await startKubernetesServer({
    dir: path.join(dir, 'kubernetes'),
    port: options.ports?.kubernetes,
    // As GKE's apiserver: a request without the bearer token gets 401. The control plane finds
    // this server through the GKE API and sends the token, as production sends ADC's.
    tokens: [LOCAL_ACCESS_TOKEN],
    controllers: {
      ...(options.nodes ? { nodePools: gke } : {}),
      cluster,
      project,
      // A pod is Ready when its Triton answers ready (the Deployment's readiness probe).
      readiness: (pod) => {
        const meta = pod.metadata as { uid?: string } | undefined;
        return triton.isReady(meta?.uid ?? '');
      },
      // Instant: readiness is asked on every pass, so a pod is Ready as soon as its Triton is.
      ...(options.timings === 'sandbox' ? SANDBOX_TIMINGS : { readinessPeriodMs: 0 }),
    },
  });
  // The GKE server needs the apiserver's address, and the apiserver the GKE node pools: the
  // cluster reports the apiserver from here on (endpoint host:port, CA as base64 PEM), as GKE does.
  gke.setKubernetesEndpoint({ endpoint: kubernetes.endpoint, caCertificate: kubernetes.caCertificateBase64 });
  // Each pod instance runs its own Triton, started from its container's args (the admin key
  // expanded from its Secret): a pod scaled away stops, and a new pod is a fresh Triton.
  const running = () =>
    kubernetes.pods().filter((p) => (p.status as { phase?: string } | undefined)?.phase === 'Running');
  let syncing = Promise.resolve();
  const syncTriton = () => {
    syncing = syncing
      .then(() => triton.sync(tritonProcesses(running(), (kind) => kubernetes.objects(kind))))
      .then(() => triton.idle())
      .then(() => kubernetes.reconcile())
      .catch(() => undefined);
    return syncing;
  };
  kubernetes.onChange(() => {
    void syncTriton();
  });
  await syncTriton();

  const poolOf = new Map<string, string>();
  const monitoring = await startMonitoringServer({
    port: options.ports?.monitoring,
    project,
    location: options.location ?? 'us-central1',
    cluster,
    ...(options.scrapeIntervalMs === undefined ? {} : { scrapeIntervalMs: options.scrapeIntervalMs }),
    targets: () => {
      for (const p of tritonProcesses(running(), (kind) => kubernetes.objects(kind)))
        poolOf.set(p.name, p.pool);
      return scrapeTargetsFromPodMonitorings(
        kubernetes.objects('PodMonitoring') as never,
        kubernetes.pods() as never,
        async (pod) => {
          const name = String((pod as { metadata?: { name?: string } }).metadata?.name ?? '');
          const url = triton.metricsUrlTemplate
            .replace('{pool}', poolOf.get(name) ?? '')
            .replace('{pod}', name);
          const res = await fetch(url);
          if (!res.ok) throw new Error(`scrape ${url}: HTTP ${res.status}`);
          return res.text();
        },
      );
    },
  });
  // The Custom Metrics Stackdriver Adapter's view: `prometheus.googleapis.com|m|kind` names,
  // `resource.labels.*` / `metric.labels.*` selectors.
  const metrics: ExternalMetricSource = {
    external: async ({ metricName, selector }) => {
      const resourceLabels: Record<string, string> = {};
      const metricLabels: Record<string, string> = {};
      for (const [k, v] of Object.entries(selector?.matchLabels ?? {})) {
        if (k.startsWith('resource.labels.')) resourceLabels[k.slice('resource.labels.'.length)] = v;
        else if (k.startsWith('metric.labels.')) metricLabels[k.slice('metric.labels.'.length)] = v;
      }
      const value = monitoring.latestValue({
        metricType: metricName.replaceAll('|', '/'),
        resourceLabels,
        metricLabels,
      });
      return value === undefined ? undefined : [value];
    },
  };
  const hpa = startHpaController({
    kubernetes,
    metrics,
    ...(options.hpaSyncPeriodMs === undefined ? {} : { syncPeriodMs: options.hpaSyncPeriodMs }),
  });
  return {
    dir,
    storage,
    gke,
    kubernetes,
    triton,
    monitoring,
    kubernetesCaCertificate: kubernetes.caCertificateBase64,
    kubernetesAuth: {
      endpoint: kubernetes.endpoint,
      caCertificate: kubernetes.caCertificateBase64,
      token: LOCAL_ACCESS_TOKEN,
    },
    hpa,
    settled: async () => {
      await syncTriton();
    },
    endpoints: {
      storage: storage.url,
      gke: gke.url,
      kubernetes: kubernetes.url,
      triton: triton.urlTemplate,
      monitoring: monitoring.url,
      cluster: gke.clusterName,
    },
    close: async () => {
      await hpa.stop();
      await Promise.all([
        monitoring.close(),
        triton.close(),
        kubernetes.close(),
        gke.close(),
        storage.close(),
      ]);
    },
  };
}
