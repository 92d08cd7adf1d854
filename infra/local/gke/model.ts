/**
 * Container API v1 resources as they travel in proto3 JSON (camelCase field names, integer enums
 * because the official client asks for `enum-encoding=int`), the request schemas, and the pure
 * validation rules. No I/O here.
 */
import { z } from 'zod';
import { acceleratorProblems, gpuShapeOf } from './machines';

// ---- enums (values from google/container/v1/cluster_service.proto) ----

export const NodePoolStatus = {
  STATUS_UNSPECIFIED: 0,
  PROVISIONING: 1,
  RUNNING: 2,
  RUNNING_WITH_ERROR: 3,
  RECONCILING: 4,
  STOPPING: 5,
  ERROR: 6,
} as const;

export const OperationStatus = {
  STATUS_UNSPECIFIED: 0,
  PENDING: 1,
  RUNNING: 2,
  DONE: 3,
  ABORTING: 4,
} as const;

export const OperationType = {
  TYPE_UNSPECIFIED: 0,
  UPGRADE_NODES: 4,
  UPDATE_CLUSTER: 6,
  CREATE_NODE_POOL: 7,
  DELETE_NODE_POOL: 8,
  SET_NODE_POOL_MANAGEMENT: 9,
  SET_NODE_POOL_SIZE: 14,
} as const;

export const ClusterStatus = { RUNNING: 2 } as const;

const TaintEffect = { EFFECT_UNSPECIFIED: 0, NO_SCHEDULE: 1, PREFER_NO_SCHEDULE: 2, NO_EXECUTE: 3 } as const;
const LocationPolicy = { LOCATION_POLICY_UNSPECIFIED: 0, BALANCED: 1, ANY: 2 } as const;
const GpuSharingStrategy = { GPU_SHARING_STRATEGY_UNSPECIFIED: 0, TIME_SHARING: 1, MPS: 2 } as const;
const GpuDriverVersion = {
  GPU_DRIVER_VERSION_UNSPECIFIED: 0,
  INSTALLATION_DISABLED: 1,
  DEFAULT: 2,
  LATEST: 3,
} as const;

/** WorkloadMetadataConfig.Mode (cluster_service.proto). */
export const WorkloadMetadataMode = { MODE_UNSPECIFIED: 0, GCE_METADATA: 1, GKE_METADATA: 2 } as const;
/** BinaryAuthorization.EvaluationMode (cluster_service.proto). */
export const BinaryAuthorizationEvaluationMode = {
  EVALUATION_MODE_UNSPECIFIED: 0,
  DISABLED: 1,
  PROJECT_SINGLETON_POLICY_ENFORCE: 2,
  POLICY_BINDINGS: 5,
  POLICY_BINDINGS_AND_PROJECT_SINGLETON_POLICY_ENFORCE: 6,
} as const;

/**
 * An enum field: the official client sends integers, hand-written callers may send names. Both are
 * stored as the integer so responses always use the encoding the client asked for.
 */
function enumField(values: Record<string, number>) {
  const numbers = new Set(Object.values(values));
  return z.union([z.number().int(), z.string()]).transform((v, ctx) => {
    const n = typeof v === 'number' ? v : values[v];
    if (n === undefined || !numbers.has(n)) {
      ctx.addIssue({ code: 'custom', message: `unknown enum value ${JSON.stringify(v)}` });
      return z.NEVER;
    }
    return n;
  });
}

/** proto3 JSON carries int64 as a decimal string; numbers are accepted too. */
const int64 = z.union([z.number().int(), z.string().regex(/^-?\d+$/)]).transform((v) => Number(v));
const int32 = z.number().int();
const stringMap = z.record(z.string(), z.string());

// ---- schemas (loose: fields this server does not model are kept and echoed back) ----

const TaintSchema = z.looseObject({
  key: z.string().default(''),
  value: z.string().default(''),
  effect: enumField(TaintEffect).default(0),
});

const AcceleratorSchema = z.looseObject({
  acceleratorCount: int64.default(0),
  acceleratorType: z.string().default(''),
  gpuPartitionSize: z.string().optional(),
  gpuSharingConfig: z
    .looseObject({
      maxSharedClientsPerGpu: int64.optional(),
      gpuSharingStrategy: enumField(GpuSharingStrategy).optional(),
    })
    .optional(),
  gpuDriverInstallationConfig: z
    .looseObject({ gpuDriverVersion: enumField(GpuDriverVersion).optional() })
    .optional(),
});

const NodeConfigSchema = z.looseObject({
  machineType: z.string().optional(),
  diskSizeGb: int32.optional(),
  diskType: z.string().optional(),
  imageType: z.string().optional(),
  labels: stringMap.optional(),
  resourceLabels: stringMap.optional(),
  taints: z.array(TaintSchema).optional(),
  accelerators: z.array(AcceleratorSchema).optional(),
  spot: z.boolean().optional(),
  preemptible: z.boolean().optional(),
  tags: z.array(z.string()).optional(),
  workloadMetadataConfig: z.looseObject({ mode: enumField(WorkloadMetadataMode).optional() }).optional(),
});

const AutoscalingSchema = z.looseObject({
  enabled: z.boolean().default(false),
  minNodeCount: int32.default(0),
  maxNodeCount: int32.default(0),
  autoprovisioned: z.boolean().default(false),
  locationPolicy: enumField(LocationPolicy).default(0),
  totalMinNodeCount: int32.default(0),
  totalMaxNodeCount: int32.default(0),
});

const ManagementSchema = z.looseObject({
  autoUpgrade: z.boolean().optional(),
  autoRepair: z.boolean().optional(),
});

const NodePoolInputSchema = z.looseObject({
  name: z.string().default(''),
  config: NodeConfigSchema.optional(),
  initialNodeCount: int32.default(0),
  locations: z.array(z.string()).optional(),
  autoscaling: AutoscalingSchema.optional(),
  management: ManagementSchema.optional(),
  upgradeSettings: z.record(z.string(), z.unknown()).optional(),
  maxPodsConstraint: z.record(z.string(), z.unknown()).optional(),
  placementPolicy: z.record(z.string(), z.unknown()).optional(),
  version: z.string().optional(),
});

export const CreateNodePoolRequestSchema = z.looseObject({ nodePool: NodePoolInputSchema.optional() });

export const UpdateNodePoolRequestSchema = z.looseObject({
  nodeVersion: z.string().optional(),
  imageType: z.string().optional(),
  locations: z.array(z.string()).optional(),
  labels: z.looseObject({ labels: stringMap.default({}) }).optional(),
  resourceLabels: z.looseObject({ labels: stringMap.default({}) }).optional(),
  taints: z.looseObject({ taints: z.array(TaintSchema).default([]) }).optional(),
  tags: z.looseObject({ tags: z.array(z.string()).default([]) }).optional(),
  accelerators: z.array(AcceleratorSchema).optional(),
  machineType: z.string().optional(),
  diskType: z.string().optional(),
  diskSizeGb: int64.optional(),
  upgradeSettings: z.record(z.string(), z.unknown()).optional(),
});

export const SetNodePoolSizeRequestSchema = z.looseObject({ nodeCount: int32.optional() });
export const SetNodePoolAutoscalingRequestSchema = z.looseObject({
  autoscaling: AutoscalingSchema.optional(),
});
export const SetNodePoolManagementRequestSchema = z.looseObject({ management: ManagementSchema.optional() });

export type NodeConfig = z.output<typeof NodeConfigSchema>;
export type NodePoolAutoscaling = z.output<typeof AutoscalingSchema>;
export type NodePoolInput = z.output<typeof NodePoolInputSchema>;
export type UpdateNodePoolRequest = z.output<typeof UpdateNodePoolRequestSchema>;
export type Accelerator = z.output<typeof AcceleratorSchema>;

/** A node pool as stored and served. */
export interface NodePool {
  name: string;
  config: NodeConfig;
  /** Per-zone node count asked for at creation; never changes afterwards (as in the real API). */
  initialNodeCount: number;
  /**
   * Nodes in the pool across all its zones. Not a NodePool field of the v1 proto, so the
   * official client drops it; raw HTTP callers and `snapshot()` see it.
   */
  currentNodeCount: number;
  /**
   * Live nodes per zone, as the pool's instance groups hold them (a stockout may leave a zone
   * short). Internal: never served, as the real API does not serve it either.
   */
  nodeCountPerZone: PerZone;
  /**
   * What the instance groups were last asked for per zone; above `nodeCountPerZone` after a
   * stockout, until capacity comes back. Internal, like the live counts.
   */
  targetNodeCountPerZone?: PerZone;
  /** Why the pool is RUNNING_WITH_ERROR or ERROR (a real NodePool field). */
  conditions?: StatusCondition[];
  locations: string[];
  autoscaling?: NodePoolAutoscaling;
  management?: z.output<typeof ManagementSchema>;
  upgradeSettings?: Record<string, unknown>;
  maxPodsConstraint?: Record<string, unknown>;
  placementPolicy?: Record<string, unknown>;
  status: number;
  statusMessage?: string;
  selfLink: string;
  version: string;
  instanceGroupUrls: string[];
  etag: string;
  podIpv4CidrSize: number;
}

/** google.container.v1.StatusCondition, with integer enums as on the wire. */
export interface StatusCondition {
  /** StatusCondition.Code (deprecated by Google, still set): 1 GCE_STOCKOUT. */
  code: number;
  message: string;
  /** A google.rpc.Code: 8 RESOURCE_EXHAUSTED for a stockout. */
  canonicalCode: number;
}

export const StatusConditionCode = { UNKNOWN: 0, GCE_STOCKOUT: 1, GCE_QUOTA_EXCEEDED: 3 } as const;

/** google.rpc.Code values used here. */
export const RpcCode = { CANCELLED: 1, RESOURCE_EXHAUSTED: 8, UNAVAILABLE: 14 } as const;

// ---- validation (pure) ----

/** A problem with a request, phrased for the `message` of a 400 INVALID_ARGUMENT. */
export type Problems = string[];

const RFC1035 = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;

export function poolNameProblems(name: string): Problems {
  if (!name) return ['Node pool name must be set.'];
  if (name.length > 40) return [`Node pool name "${name}" is longer than 40 characters.`];
  if (!RFC1035.test(name)) {
    return [
      `Node pool name "${name}" is invalid: it must start with a lowercase letter, contain only ` +
        'lowercase letters, digits and hyphens, and not end with a hyphen (RFC 1035).',
    ];
  }
  return [];
}

export function autoscalingProblems(a: NodePoolAutoscaling | undefined): Problems {
  if (!a?.enabled) return [];
  const problems: Problems = [];
  const perZone = a.minNodeCount !== 0 || a.maxNodeCount !== 0;
  const total = a.totalMinNodeCount !== 0 || a.totalMaxNodeCount !== 0;
  if (perZone && total) {
    problems.push(
      'Autoscaling: min_node_count/max_node_count and total_min_node_count/total_max_node_count are mutually exclusive.',
    );
    return problems;
  }
  const [min, max, label] = total
    ? [a.totalMinNodeCount, a.totalMaxNodeCount, 'total_']
    : [a.minNodeCount, a.maxNodeCount, ''];
  if (min < 0) problems.push(`Autoscaling: ${label}min_node_count must be >= 0, got ${min}.`);
  if (max < 1) problems.push(`Autoscaling: ${label}max_node_count must be >= 1, got ${max}.`);
  if (min > max) {
    problems.push(`Autoscaling: ${label}min_node_count (${min}) must be <= ${label}max_node_count (${max}).`);
  }
  if (a.autoprovisioned) problems.push('Autoscaling: autoprovisioned is only set by node auto-provisioning.');
  return problems;
}

export function taintProblems(taints: NodeConfig['taints']): Problems {
  const problems: Problems = [];
  for (const t of taints ?? []) {
    if (!t.key) problems.push('Taint key must be set.');
    if (t.effect === 0) problems.push(`Taint "${t.key}" must have an effect.`);
  }
  return problems;
}

/** Zones must belong to the cluster's region (or be the cluster's zone). */
export function locationProblems(locations: readonly string[], clusterLocation: string): Problems {
  const region = isZone(clusterLocation) ? clusterLocation.replace(/-[a-z]$/, '') : clusterLocation;
  return locations
    .filter((z) => !(isZone(z) && z.startsWith(`${region}-`)))
    .map((z) => `Location "${z}" is not a zone of region "${region}".`);
}

export function isZone(location: string): boolean {
  return /^[a-z]+-[a-z]+\d+-[a-z]$/.test(location);
}

/**
 * The accelerators a machine type runs with: GKE fills in the built-in GPUs of G2/A2/A3 machines
 * when the request leaves them out.
 */
export function effectiveAccelerators(machineType: string, requested: readonly Accelerator[]): Accelerator[] {
  if (requested.length > 0) return requested.map((a) => ({ ...a }));
  const shape = gpuShapeOf(machineType);
  return shape ? [{ acceleratorType: shape.acceleratorType, acceleratorCount: shape.acceleratorCount }] : [];
}

export function nodeConfigProblems(config: NodeConfig): Problems {
  const machineType = config.machineType ?? '';
  return [
    ...(config.diskSizeGb !== undefined && config.diskSizeGb !== 0 && config.diskSizeGb < 10
      ? [`Disk size must be at least 10 GB, got ${config.diskSizeGb}.`]
      : []),
    ...acceleratorProblems(machineType, config.accelerators ?? []),
    ...taintProblems(config.taints),
    ...(config.spot && config.preemptible ? ['spot and preemptible are mutually exclusive.'] : []),
  ];
}

/** Nodes per zone, keyed by zone name. */
export type PerZone = Record<string, number>;

/**
 * Where the cluster autoscaler keeps a pool: each zone within `[minNodeCount, maxNodeCount]`, or
 * the total within `[totalMinNodeCount, totalMaxNodeCount]` (nodes added to the smallest zones and
 * removed from the largest, as BALANCED does). A pool without autoscaling is left as asked.
 */
export function clampToAutoscaling(
  counts: PerZone,
  zones: readonly string[],
  a: NodePoolAutoscaling | undefined,
): PerZone {
  const out: PerZone = {};
  for (const z of zones) out[z] = Math.max(0, counts[z] ?? 0);
  if (!a?.enabled || zones.length === 0) return out;
  const total = a.totalMinNodeCount !== 0 || a.totalMaxNodeCount !== 0;
  if (!total) {
    for (const z of zones) out[z] = Math.min(Math.max(out[z] ?? 0, a.minNodeCount), a.maxNodeCount);
    return out;
  }
  const sum = () => zones.reduce((n, z) => n + (out[z] ?? 0), 0);
  const pick = (better: (x: number, y: number) => boolean) =>
    zones.reduce((best, z) => (better(out[z] ?? 0, out[best] ?? 0) ? z : best), zones[0] as string);
  while (sum() < a.totalMinNodeCount) {
    const z = pick((x, y) => x < y);
    out[z] = (out[z] ?? 0) + 1;
  }
  while (sum() > a.totalMaxNodeCount) {
    const z = pick((x, y) => x > y);
    out[z] = (out[z] ?? 0) - 1;
  }
  return out;
}

/** Turns a zod error into one readable line per issue, with the request field path. */
export function zodProblems(error: z.ZodError): Problems {
  return error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`);
}
