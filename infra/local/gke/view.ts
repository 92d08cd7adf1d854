/**
 * The in-process view of the node pools that other local servers (the apiserver's Nodes, the
 * Triton fleet) build on: live node counts per zone and what a node of the pool looks like, with
 * names instead of the wire's integer enums. Pure: built from the stored pools.
 */
import { type NodePool, NodePoolStatus } from './model';

export type TaintEffectName = 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute';

export interface LocalNodePoolView {
  name: string;
  /** The pool's node locations. */
  zones: string[];
  /** Live nodes per zone (stockouts may leave it partial). */
  nodeCountPerZone: Record<string, number>;
  machineType: string;
  accelerator?: { type: string; count: number };
  labels: Record<string, string>;
  taints: { key: string; value: string; effect: TaintEffectName }[];
  spot: boolean;
  /** PROVISIONING | RUNNING | RUNNING_WITH_ERROR | RECONCILING | STOPPING | ERROR */
  status: string;
  autoscaling?: {
    enabled: boolean;
    minNodeCount?: number;
    maxNodeCount?: number;
    totalMinNodeCount?: number;
    totalMaxNodeCount?: number;
    locationPolicy?: string;
  };
}

const STATUS_NAMES = Object.fromEntries(Object.entries(NodePoolStatus).map(([k, v]) => [v, k])) as Record<
  number,
  string
>;
const EFFECT_NAMES: Record<number, TaintEffectName> = {
  1: 'NoSchedule',
  2: 'PreferNoSchedule',
  3: 'NoExecute',
};
const LOCATION_POLICY_NAMES: Record<number, string> = { 1: 'BALANCED', 2: 'ANY' };

/** The taint GKE puts on GPU nodes (the local cluster counts as having a CPU system pool). */
export const GPU_TAINT = { key: 'nvidia.com/gpu', value: 'present', effect: 'NoSchedule' } as const;

export function viewOf(pool: NodePool): LocalNodePoolView {
  const config = pool.config;
  const machineType = config.machineType ?? '';
  const gpu = (config.accelerators ?? []).find((a) => a.acceleratorCount > 0);
  const spot = config.spot === true;
  const taints = (config.taints ?? []).map((t) => ({
    key: t.key,
    value: t.value,
    effect: EFFECT_NAMES[t.effect] ?? 'NoSchedule',
  }));
  if (gpu && !taints.some((t) => t.key === GPU_TAINT.key && t.effect === GPU_TAINT.effect)) {
    taints.push({ ...GPU_TAINT });
  }
  // The labels GKE puts on every node of the pool, then the pool's own.
  const labels: Record<string, string> = {
    'cloud.google.com/gke-nodepool': pool.name,
    'node.kubernetes.io/instance-type': machineType,
    ...(gpu ? { 'cloud.google.com/gke-accelerator': gpu.acceleratorType } : {}),
    ...(spot ? { 'cloud.google.com/gke-spot': 'true' } : {}),
    ...(config.preemptible ? { 'cloud.google.com/gke-preemptible': 'true' } : {}),
    ...(config.labels ?? {}),
  };
  const a = pool.autoscaling;
  return {
    name: pool.name,
    zones: [...pool.locations],
    nodeCountPerZone: Object.fromEntries(pool.locations.map((z) => [z, pool.nodeCountPerZone[z] ?? 0])),
    machineType,
    ...(gpu ? { accelerator: { type: gpu.acceleratorType, count: gpu.acceleratorCount } } : {}),
    labels,
    taints,
    spot,
    status: STATUS_NAMES[pool.status] ?? 'STATUS_UNSPECIFIED',
    ...(a
      ? {
          autoscaling: {
            enabled: a.enabled,
            ...(a.minNodeCount || a.maxNodeCount
              ? { minNodeCount: a.minNodeCount, maxNodeCount: a.maxNodeCount }
              : {}),
            ...(a.totalMinNodeCount || a.totalMaxNodeCount
              ? { totalMinNodeCount: a.totalMinNodeCount, totalMaxNodeCount: a.totalMaxNodeCount }
              : {}),
            ...(LOCATION_POLICY_NAMES[a.locationPolicy]
              ? { locationPolicy: LOCATION_POLICY_NAMES[a.locationPolicy] }
              : {}),
          },
        }
      : {}),
  };
}
