import type {
  V1Container,
  V1Deployment,
  V1LabelSelector,
  V1ObjectMeta,
  V1PodDisruptionBudget,
  V1Secret,
  V1Service,
  V2HorizontalPodAutoscaler,
  V2MetricSpec,
} from '@kubernetes/client-node';
import { KEY_HEADERS, LEGACY_ADMIN_KEY_ID, POD_KEY_ANNOTATIONS } from '../domain/keys';
import type { GpuClass } from '../gpu/catalog';
import { ConfigurationError } from '../runtime/errors';
import { GKE_ACCELERATOR_LABEL, K8S_LABELS, LABEL_PREFIX, LABELS, labelValue, MANAGED_BY } from './names';

/**
 * Pure builders for the Triton serving stack: one instance (Deployment, Service, HPA, PDB,
 * NetworkPolicy, PodMonitoring) per GPU node pool. The objects are plain JSON, ready for
 * server-side apply; nothing here talks to a cluster.
 */

export const TRITON_PORTS = { http: 8000, grpc: 8001, metrics: 8002 } as const;
/** The header Triton checks before serving the model-repository API (load/unload/index). */
export const DEFAULT_ADMIN_HEADER = KEY_HEADERS.admin;
const ADMIN_KEY_ENV = 'TRITON_ADMIN_KEY';
const INFERENCE_KEY_ENV = 'TRITON_INFERENCE_KEY';
const TRITON_UID = 1000;

type Meta = V1ObjectMeta & { name: string; namespace: string; labels: Record<string, string> };
type Named<T> = T & { apiVersion: string; kind: string; metadata: Meta };

/** Model policy as written in the policy file (shape shared with shared/policy). */
export interface ModelPolicy {
  gpuClass: string;
  maxBatchSize: number;
  instanceCount: number;
  replicas: { min: number; max: number };
  autoscaling: { metric: 'queue-time' | 'gpu-duty-cycle'; target: number };
}

/** Replica bounds and the scaling signal of one Triton instance (all models of a pool share pods). */
export type PoolScaling = Pick<ModelPolicy, 'replicas' | 'autoscaling'>;

export interface TritonInstanceInput {
  cluster: { name: string; namespace: string; repositoryBucket: string; tritonImage: string };
  /** Node pool name (see `nodePoolName`); it also names the Triton instance. */
  pool: string;
  gpuClass: GpuClass;
  /** Defaults to the class's machine type. */
  machineType?: string;
  /** Defaults to every GPU of one machine: one Triton per node shares its GPUs across models. */
  gpusPerPod?: number;
  /**
   * Path inside the bucket holding this pool's models. Each pool gets its own, because
   * `--load-model=*` loads everything in the repository at start-up.
   */
  repositoryPrefix: string;
  /** Kubernetes service account bound to a Google service account (Workload Identity). */
  serviceAccountName?: string;
  adminKeySecret?: { name: string; key: string };
  adminHeader?: string;
  /**
   * The key ids (data keys of the admin Secret) this instance's pods run with: `admin` restricts
   * the repository API, `inference` (when set) the inference API. Recorded on each pod as an
   * annotation, so callers pick the key of the pod they talk to. Defaults to the legacy admin key.
   */
  keyIds?: { admin: string; inference?: string };
  /** Time allowed for the first model loads before the kubelet restarts the pod. */
  startupBudgetSeconds?: number;
  resources?: { cpu: string; memory: string };
  /** Scratch space for models Triton copies from GCS before loading. */
  scratchSizeLimit?: string;
  /**
   * Set only for an explicit scale (scheduled scale to zero and its restore). Left out otherwise
   * so that re-applying the Deployment never fights the HPA over `spec.replicas`.
   */
  replicas?: number;
  /**
   * Let Triton complete partial model configs. Off by default: the control plane writes full
   * configs; turn it on only for repositories that rely on Triton's auto-complete.
   */
  autoCompleteConfig?: boolean;
}

export function tritonInstanceName(input: Pick<TritonInstanceInput, 'pool'>): string {
  return input.pool;
}

/**
 * The container is named after the instance so the GPU duty-cycle metric (labelled with the
 * container name, not pod labels) can be selected per pool.
 */
export function tritonContainerName(input: Pick<TritonInstanceInput, 'pool'>): string {
  return tritonInstanceName(input);
}

export function tritonSelectorLabels(input: Pick<TritonInstanceInput, 'pool'>): Record<string, string> {
  return { [K8S_LABELS.name]: 'triton', [K8S_LABELS.instance]: tritonInstanceName(input) };
}

export function tritonLabels(input: Pick<TritonInstanceInput, 'pool' | 'gpuClass'>): Record<string, string> {
  return {
    ...tritonSelectorLabels(input),
    [K8S_LABELS.component]: 'inference-server',
    [K8S_LABELS.managedBy]: MANAGED_BY,
    [LABELS.gpuClass]: labelValue(input.gpuClass.id),
    [LABELS.pool]: input.pool,
  };
}

export function tritonAdminSecretRef(input: TritonInstanceInput): { name: string; key: string } {
  return input.adminKeySecret ?? { name: `${tritonInstanceName(input)}-admin`, key: LEGACY_ADMIN_KEY_ID };
}

export function tritonRepositoryUri(bucket: string, prefix: string): string {
  const path = prefix.replace(/^\/+|\/+$/g, '');
  return path ? `gs://${bucket}/${path}` : `gs://${bucket}`;
}

function meta(input: TritonInstanceInput, name = tritonInstanceName(input)): Meta {
  return { name, namespace: input.cluster.namespace, labels: tritonLabels(input) };
}

function gpusPerPod(input: TritonInstanceInput): number {
  const machineType = input.machineType ?? input.gpuClass.machineType;
  const shape = input.gpuClass.machineTypes[machineType];
  if (!shape) {
    throw new ConfigurationError(
      'INCOMPATIBLE_MACHINE_TYPE',
      `GPU class "${input.gpuClass.id}" has no machine type "${machineType}"`,
    );
  }
  const gpus = input.gpusPerPod ?? shape.gpus;
  if (!Number.isInteger(gpus) || gpus < 1 || gpus > shape.gpus) {
    throw new ConfigurationError(
      'INVALID_GPUS_PER_POD',
      `gpusPerPod must be an integer in 1..${shape.gpus} for ${machineType}, got ${gpus}`,
    );
  }
  return gpus;
}

/**
 * CPU and memory requests sized to the pod's share of the machine, leaving a quarter for the
 * kubelet, system daemons and GKE's reservations so the pod still fits on its node.
 */
function defaultResources(input: TritonInstanceInput, gpus: number): { cpu: string; memory: string } {
  const machineType = input.machineType ?? input.gpuClass.machineType;
  const shape = input.gpuClass.machineTypes[machineType];
  if (!shape?.vcpus || !shape.memoryGb) return { cpu: '2', memory: '8Gi' };
  const share = gpus / shape.gpus;
  const cpu = Math.max(1, Math.floor(shape.vcpus * share * 0.75));
  const memoryGi = Math.max(2, Math.floor(shape.memoryGb * share * 0.75));
  return { cpu: String(cpu), memory: `${memoryGi}Gi` };
}

/**
 * Triton flags, and why:
 * - `--model-control-mode=explicit` with `--load-model=*`: new replicas load the pool's whole
 *   repository at start (so HPA scale-ups serve every model), and the control plane loads and
 *   unloads through the API afterwards. `poll` is documented as unsafe (half-written repository).
 * - `--disable-auto-complete-config` rather than `--strict-model-config=false` (a deprecated alias
 *   of auto-complete, which is on by default): the control plane ships a full config.pbtxt for
 *   every model, as Triton's production guide recommends, so Triton never guesses batching or shapes.
 * - `--exit-on-error=false`: one broken model must not crash-loop every model of the pool.
 * - The repository API (load/unload/index) is restricted on HTTP and gRPC to callers presenting the
 *   admin header: loading a model can run arbitrary code (Python backend). The value comes from a
 *   Secret through an env var that Kubernetes expands in args.
 */
export function tritonArgs(input: TritonInstanceInput): string[] {
  const header = input.adminHeader ?? DEFAULT_ADMIN_HEADER;
  return [
    'tritonserver',
    `--model-repository=${tritonRepositoryUri(input.cluster.repositoryBucket, input.repositoryPrefix)}`,
    '--model-control-mode=explicit',
    '--load-model=*',
    ...(input.autoCompleteConfig ? [] : ['--disable-auto-complete-config']),
    '--exit-on-error=false',
    // Ready means the server serves, not that every model loaded: with the default (strict) one
    // model that fails to load would keep the pod unready and take every model of the pool down.
    // Per-model readiness is what the control plane polls after a load.
    '--strict-readiness=false',
    `--http-port=${TRITON_PORTS.http}`,
    `--grpc-port=${TRITON_PORTS.grpc}`,
    `--metrics-port=${TRITON_PORTS.metrics}`,
    `--http-restricted-api=model-repository:${header}=$(${ADMIN_KEY_ENV})`,
    `--grpc-restricted-protocol=model-repository:${header}=$(${ADMIN_KEY_ENV})`,
    // Each API may sit in one group only, so inference gets a group (and a key) of its own.
    ...(input.keyIds?.inference === undefined
      ? []
      : [
          `--http-restricted-api=inference:${KEY_HEADERS.inference}=$(${INFERENCE_KEY_ENV})`,
          `--grpc-restricted-protocol=inference:${KEY_HEADERS.inference}=$(${INFERENCE_KEY_ENV})`,
        ]),
  ];
}

/** Pod annotations naming the key ids a pod runs with (never the keys). */
export function tritonPodKeyAnnotations(input: TritonInstanceInput): Record<string, string> {
  const ids = input.keyIds ?? { admin: tritonAdminSecretRef(input).key };
  return {
    [POD_KEY_ANNOTATIONS.admin]: ids.admin,
    ...(ids.inference === undefined ? {} : { [POD_KEY_ANNOTATIONS.inference]: ids.inference }),
  };
}

export function buildTritonDeployment(input: TritonInstanceInput): Named<V1Deployment> {
  const gpus = gpusPerPod(input);
  const resources = input.resources ?? defaultResources(input, gpus);
  const startupBudgetSeconds = input.startupBudgetSeconds ?? 1800;
  const adminSecret = tritonAdminSecretRef(input);
  const labels = tritonLabels(input);

  const container: V1Container = {
    name: tritonContainerName(input),
    image: input.cluster.tritonImage,
    // Only args: the NGC image's entrypoint prepares the environment, then runs them.
    args: tritonArgs(input),
    env: [
      {
        name: ADMIN_KEY_ENV,
        valueFrom: { secretKeyRef: { name: adminSecret.name, key: input.keyIds?.admin ?? adminSecret.key } },
      },
      ...(input.keyIds?.inference === undefined
        ? []
        : [
            {
              name: INFERENCE_KEY_ENV,
              valueFrom: { secretKeyRef: { name: adminSecret.name, key: input.keyIds.inference } },
            },
          ]),
      // The root filesystem is read-only; anything that writes under $HOME goes to the scratch volume.
      { name: 'HOME', value: '/tmp' },
    ],
    ports: [
      { name: 'http', containerPort: TRITON_PORTS.http, protocol: 'TCP' },
      { name: 'grpc', containerPort: TRITON_PORTS.grpc, protocol: 'TCP' },
      { name: 'metrics', containerPort: TRITON_PORTS.metrics, protocol: 'TCP' },
    ],
    resources: {
      requests: { cpu: resources.cpu, memory: resources.memory, 'nvidia.com/gpu': String(gpus) },
      limits: { memory: resources.memory, 'nvidia.com/gpu': String(gpus) },
    },
    // Model loads from GCS can take many minutes; until the first ready the other probes wait.
    startupProbe: {
      httpGet: { path: '/v2/health/ready', port: 'http' },
      periodSeconds: 10,
      failureThreshold: Math.max(1, Math.ceil(startupBudgetSeconds / 10)),
    },
    livenessProbe: {
      httpGet: { path: '/v2/health/live', port: 'http' },
      periodSeconds: 10,
      timeoutSeconds: 5,
      failureThreshold: 3,
    },
    readinessProbe: {
      httpGet: { path: '/v2/health/ready', port: 'http' },
      periodSeconds: 5,
      timeoutSeconds: 5,
      failureThreshold: 3,
    },
    securityContext: {
      runAsNonRoot: true,
      runAsUser: TRITON_UID,
      runAsGroup: TRITON_UID,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
    },
    volumeMounts: [
      { name: 'tmp', mountPath: '/tmp' },
      { name: 'dshm', mountPath: '/dev/shm' },
    ],
  };

  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: meta(input),
    spec: {
      ...(input.replicas === undefined ? {} : { replicas: input.replicas }),
      selector: { matchLabels: tritonSelectorLabels(input) },
      // No surge: a surge pod needs a GPU beyond the node budget the guardrails approved. Triton
      // rollouts are rare (image changes); models change through the repository API, not rollouts.
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 0, maxUnavailable: 1 } },
      template: {
        // A new key id changes the template: that is the rolling restart a key rotation needs.
        metadata: { labels, annotations: tritonPodKeyAnnotations(input) },
        spec: {
          serviceAccountName: input.serviceAccountName ?? 'triton',
          // Spot VMs get 30 s notice; Triton drains in-flight requests on SIGTERM.
          terminationGracePeriodSeconds: 30,
          securityContext: {
            runAsNonRoot: true,
            runAsUser: TRITON_UID,
            runAsGroup: TRITON_UID,
            fsGroup: TRITON_UID,
            seccompProfile: { type: 'RuntimeDefault' },
          },
          nodeSelector: {
            [GKE_ACCELERATOR_LABEL]: input.gpuClass.acceleratorType,
            [LABELS.pool]: input.pool,
          },
          tolerations: [{ key: 'nvidia.com/gpu', operator: 'Equal', value: 'present', effect: 'NoSchedule' }],
          containers: [container],
          volumes: [
            { name: 'tmp', emptyDir: { sizeLimit: input.scratchSizeLimit ?? '50Gi' } },
            // Python-backend models and large tensors use shared memory; the default 64 MiB is too small.
            { name: 'dshm', emptyDir: { medium: 'Memory', sizeLimit: '1Gi' } },
          ],
        },
      },
    },
  };
}

export interface TritonServiceOptions {
  /** `InternalLoadBalancer` lets Cloud Run functions reach Triton over the VPC. */
  exposure?: 'ClusterIP' | 'InternalLoadBalancer';
}

export function buildTritonService(
  input: TritonInstanceInput,
  options: TritonServiceOptions = {},
): Named<V1Service> {
  const internal = options.exposure === 'InternalLoadBalancer';
  const metadata = meta(input);
  if (internal) metadata.annotations = { 'networking.gke.io/load-balancer-type': 'Internal' };
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata,
    spec: {
      type: internal ? 'LoadBalancer' : 'ClusterIP',
      selector: tritonSelectorLabels(input),
      ports: [
        { name: 'http', port: TRITON_PORTS.http, targetPort: 'http', protocol: 'TCP' },
        { name: 'grpc', port: TRITON_PORTS.grpc, targetPort: 'grpc', protocol: 'TCP', appProtocol: 'grpc' },
      ],
    },
  };
}

export const QUEUE_TIME_METRIC = 'prometheus.googleapis.com|nv_inference_queue_duration_us|counter';
export const GPU_DUTY_CYCLE_METRIC = 'kubernetes.io|container|accelerator|duty_cycle';

/** A Kubernetes quantity for a metric target; fractions travel as milli-units. */
export function toQuantity(value: number): string {
  if (!Number.isFinite(value) || value < 0) {
    throw new ConfigurationError('INVALID_SCALING_TARGET', `autoscaling target must be >= 0, got ${value}`);
  }
  if (Number.isInteger(value)) return String(value);
  return `${Math.round(value * 1000)}m`;
}

/**
 * External metric for the HPA. Queue time is the rate of `nv_inference_queue_duration_us` as Managed
 * Prometheus exports it (microseconds spent queueing per second), selected by this instance's
 * PodMonitoring job; the target is that rate per pod. Duty cycle follows NVIDIA's GKE chart
 * (AverageValue, 85 by default), selected by the per-instance container name.
 */
export function tritonHpaMetric(
  input: TritonInstanceInput,
  autoscaling: PoolScaling['autoscaling'],
): V2MetricSpec {
  if (autoscaling.metric === 'queue-time') {
    return {
      type: 'External',
      external: {
        metric: {
          name: QUEUE_TIME_METRIC,
          selector: {
            matchLabels: {
              'resource.labels.cluster': input.cluster.name,
              'resource.labels.namespace': input.cluster.namespace,
              'resource.labels.job': tritonInstanceName(input),
            },
          },
        },
        target: { type: 'AverageValue', averageValue: toQuantity(autoscaling.target) },
      },
    };
  }
  return {
    type: 'External',
    external: {
      metric: {
        name: GPU_DUTY_CYCLE_METRIC,
        selector: {
          matchLabels: {
            'resource.labels.cluster_name': input.cluster.name,
            'resource.labels.namespace_name': input.cluster.namespace,
            'resource.labels.container_name': tritonContainerName(input),
          },
        },
      },
      target: { type: 'AverageValue', averageValue: toQuantity(autoscaling.target) },
    },
  };
}

/**
 * HPA over the Triton Deployment. `minReplicas` is at least 1 (the HPA cannot go to 0); a policy
 * minimum of 0 is served by scaling the Deployment itself (scheduled scale to zero), which pauses
 * the HPA until replicas are restored.
 */
export function buildTritonHpa(
  input: TritonInstanceInput,
  scaling: PoolScaling,
): Named<V2HorizontalPodAutoscaler> {
  const { min, max } = scaling.replicas;
  if (!Number.isInteger(min) || !Number.isInteger(max) || min < 0 || max < 1 || min > max) {
    throw new ConfigurationError(
      'INVALID_REPLICAS',
      `replicas must satisfy 0 <= min <= max and max >= 1, got ${min}..${max}`,
    );
  }
  return {
    apiVersion: 'autoscaling/v2',
    kind: 'HorizontalPodAutoscaler',
    metadata: meta(input),
    spec: {
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: tritonInstanceName(input) },
      minReplicas: Math.max(1, min),
      maxReplicas: max,
      metrics: [tritonHpaMetric(input, scaling.autoscaling)],
      behavior: {
        // React at once: a new GPU node already takes 4-9 minutes to become schedulable.
        scaleUp: {
          stabilizationWindowSeconds: 0,
          selectPolicy: 'Max',
          policies: [
            { type: 'Pods', value: 4, periodSeconds: 15 },
            { type: 'Percent', value: 100, periodSeconds: 15 },
          ],
        },
        // Leave slowly: each pod removed may release a GPU node that is slow and costly to get back.
        scaleDown: {
          stabilizationWindowSeconds: 300,
          selectPolicy: 'Max',
          policies: [{ type: 'Percent', value: 50, periodSeconds: 60 }],
        },
      },
    },
  };
}

/**
 * One scaling setting for the pods a pool's models share: replica bounds cover the most demanding
 * model, and queue time wins over duty cycle (it tracks what clients feel) with the lowest target,
 * so the pool scales for the most latency-sensitive model.
 */
export function poolScalingFromModels(models: readonly ModelPolicy[]): PoolScaling {
  if (models.length === 0)
    throw new ConfigurationError('NO_MODELS', 'a pool needs at least one model policy');
  const min = Math.max(...models.map((m) => m.replicas.min));
  const max = Math.max(...models.map((m) => m.replicas.max));
  const queue = models.filter((m) => m.autoscaling.metric === 'queue-time');
  const chosen = queue.length > 0 ? queue : models;
  const metric = chosen[0]?.autoscaling.metric ?? 'gpu-duty-cycle';
  const target = Math.min(...chosen.map((m) => m.autoscaling.target));
  return { replicas: { min, max }, autoscaling: { metric, target } };
}

/**
 * `maxUnavailable: 1` rather than `minAvailable: 1`: with a single replica `minAvailable: 1` forbids
 * every voluntary eviction, which blocks node upgrades, cluster-autoscaler scale-down (an idle GPU
 * node is kept and billed) and drains. With several replicas it still keeps all but one serving.
 * Unhealthy pods (e.g. a model that never became ready) may always be evicted.
 */
export function buildTritonPdb(input: TritonInstanceInput): Named<V1PodDisruptionBudget> {
  return {
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata: meta(input),
    spec: {
      maxUnavailable: 1,
      selector: { matchLabels: tritonSelectorLabels(input) },
      unhealthyPodEvictionPolicy: 'AlwaysAllow',
    },
  };
}

/**
 * Own type rather than client-node's V1NetworkPolicy: that one renames `from` to `_from` (its
 * serializer maps it back), and these objects are sent as plain JSON.
 */
export interface NetworkPolicyPeer {
  namespaceSelector?: V1LabelSelector;
  podSelector?: V1LabelSelector;
  ipBlock?: { cidr: string; except?: string[] };
}

export interface NetworkPolicyIngressRule {
  from: NetworkPolicyPeer[];
  ports: { protocol: 'TCP' | 'UDP'; port: number }[];
}

export interface NetworkPolicy {
  apiVersion: 'networking.k8s.io/v1';
  kind: 'NetworkPolicy';
  metadata: Meta;
  spec: {
    podSelector: V1LabelSelector;
    policyTypes: ('Ingress' | 'Egress')[];
    ingress: NetworkPolicyIngressRule[];
  };
}

export interface TritonNetworkPolicyOptions {
  /** Namespaces whose pods may call inference (and the control plane, if it runs in-cluster). */
  allowedNamespaces?: readonly string[];
  /** CIDRs allowed to call (e.g. the Serverless VPC connector of the Cloud Run functions). */
  allowedCidrs?: readonly string[];
  /** Managed Prometheus collectors run in `gmp-system`. */
  monitoringNamespace?: string;
}

/**
 * Ingress to 8000/8001 only from the allowed namespaces and CIDRs, 8002 only from the monitoring
 * namespace; everything else is denied by listing Ingress in policyTypes. A rule with ports and
 * no peers would allow everyone, so the serving rule is left out when no peer is allowed.
 */
export function buildTritonNetworkPolicy(
  input: TritonInstanceInput,
  options: TritonNetworkPolicyOptions = {},
): NetworkPolicy {
  const peers: NetworkPolicyPeer[] = [];
  const namespaces = [...new Set(options.allowedNamespaces ?? [])].sort();
  if (namespaces.length > 0) {
    peers.push({
      namespaceSelector: {
        matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'In', values: namespaces }],
      },
    });
  }
  for (const cidr of [...new Set(options.allowedCidrs ?? [])].sort()) peers.push({ ipBlock: { cidr } });

  const ingress: NetworkPolicyIngressRule[] = [];
  if (peers.length > 0) {
    ingress.push({
      from: peers,
      ports: [
        { protocol: 'TCP', port: TRITON_PORTS.http },
        { protocol: 'TCP', port: TRITON_PORTS.grpc },
      ],
    });
  }
  ingress.push({
    from: [
      {
        namespaceSelector: {
          matchLabels: { 'kubernetes.io/metadata.name': options.monitoringNamespace ?? 'gmp-system' },
        },
      },
    ],
    ports: [{ protocol: 'TCP', port: TRITON_PORTS.metrics }],
  });

  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: meta(input),
    spec: {
      podSelector: { matchLabels: tritonSelectorLabels(input) },
      policyTypes: ['Ingress'],
      ingress,
    },
  };
}

export interface PodMonitoring {
  apiVersion: 'monitoring.googleapis.com/v1';
  kind: 'PodMonitoring';
  metadata: Meta;
  spec: {
    selector: { matchLabels: Record<string, string> };
    endpoints: { port: string; path: string; interval: string }[];
  };
}

/**
 * Managed Prometheus scrape config (it does not read `prometheus.io` annotations). Its name becomes
 * the `job` label the queue-time HPA metric selects on.
 */
export function buildTritonPodMonitoring(input: TritonInstanceInput): PodMonitoring {
  return {
    apiVersion: 'monitoring.googleapis.com/v1',
    kind: 'PodMonitoring',
    metadata: meta(input),
    spec: {
      selector: { matchLabels: tritonSelectorLabels(input) },
      endpoints: [{ port: 'metrics', path: '/metrics', interval: '15s' }],
    },
  };
}

const SECRET_KEY_ID = /^[-._a-zA-Z0-9]+$/;
export const KEY_IDS_ANNOTATION = `${LABEL_PREFIX}key-ids`;

/**
 * An Opaque Secret holding API keys under their key ids. The ids (never the values) are also listed
 * in an annotation, so logs, plans and `kubectl describe` can say which keys exist.
 */
export function buildApiKeySecret(
  name: string,
  keys: Readonly<Record<string, string>>,
  options: { namespace: string; labels?: Record<string, string>; annotations?: Record<string, string> },
): Named<V1Secret> & { type: 'Opaque'; data: Record<string, string> } {
  const ids = Object.keys(keys).sort();
  const data: Record<string, string> = {};
  for (const id of ids) {
    const value = keys[id] ?? '';
    if (!SECRET_KEY_ID.test(id)) {
      throw new ConfigurationError('INVALID_KEY_ID', `API key id "${id}" must match ${SECRET_KEY_ID.source}`);
    }
    if (value === '') throw new ConfigurationError('INVALID_KEY', `API key "${id}" is empty`);
    data[id] = Buffer.from(value, 'utf8').toString('base64');
  }
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'Opaque',
    metadata: {
      name,
      namespace: options.namespace,
      labels: { ...options.labels, [K8S_LABELS.managedBy]: MANAGED_BY },
      annotations: { ...options.annotations, [KEY_IDS_ANNOTATION]: ids.join(',') },
    },
    data,
  };
}
