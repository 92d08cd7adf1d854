import {
  type CreateNodePoolAction,
  costDelta,
  type DeleteNodePoolAction,
  type NodePool,
  type NodePoolAutoscaling,
  type NodePoolLabelsAndTaints,
  nodePoolTarget,
  type ObservedCapacity,
  type PlanAction,
  type PoolCapacity,
} from '../domain/plan';
import {
  assertAcceleratorMachine,
  builtinClassForAcceleratorType,
  builtinClassForMachineType,
  type GpuClass,
  machineHourlyPrice,
} from '../gpu/catalog';
import { ConfigurationError, PermanentError } from '../runtime/errors';
import { LABEL_PREFIX, LABELS, labelValue, MANAGED_BY, rfc1035Name } from './names';

export const GPU_TAINT = { key: 'nvidia.com/gpu', value: 'present', effect: 'NO_SCHEDULE' } as const;
/** GKE caps node pool names at 40 characters. */
export const NODE_POOL_NAME_MAX = 40;

export type NodePoolSize =
  | { autoscaling: true; minNodes: number; maxNodes: number }
  /** Autoscaling off at a fixed size (scheduled scale to zero sets 0). `setSize` counts per zone. */
  | { autoscaling: false; nodeCountPerZone: number };

export interface GpuNodePoolInput {
  /** Effective class from `resolveGpuClass` (overrides applied). */
  gpuClass: GpuClass;
  /** Defaults to the class's machine type. */
  machineType?: string;
  /** Defaults to the class's spot setting. */
  spot?: boolean;
  /** Node counts are totals across the pool's zones when autoscaling. */
  size: NodePoolSize;
  /** Set when the pool is dedicated to one model. */
  model?: string;
  gpuDriverVersion?: 'LATEST' | 'DEFAULT';
  serviceAccount?: string;
  oauthScopes?: string[];
  locations?: string[];
  /** Zones the pool will span when `locations` is not given (regional cluster: usually 3). */
  zones?: number;
  autoRepair?: boolean;
  autoUpgrade?: boolean;
}

/** `triton-<class>[-spot]`, RFC 1035, at most 40 characters; the `-spot` suffix survives truncation. */
export function nodePoolName(gpuClassId: string, spot: boolean): string {
  const suffix = spot ? '-spot' : '';
  return `${rfc1035Name(`triton-${gpuClassId}`, NODE_POOL_NAME_MAX - suffix.length)}${suffix}`;
}

/** The desired GKE v1 NodePool, in the JSON shape `@google-cloud/container` sends. */
export function buildGpuNodePool(input: GpuNodePoolInput): NodePool {
  const cls = input.gpuClass;
  const machineType = input.machineType ?? cls.machineType;
  const spot = input.spot ?? cls.spot;
  const shape = cls.machineTypes[machineType];
  assertAcceleratorMachine(cls.acceleratorType, machineType, shape?.gpus);
  validateSize(input.size);
  const name = nodePoolName(cls.id, spot);
  const zones = input.locations?.length || input.zones || 1;

  const labels: Record<string, string> = {
    [LABELS.managedBy]: MANAGED_BY,
    [LABELS.gpuClass]: labelValue(cls.id),
    [LABELS.pool]: name,
  };
  if (input.model !== undefined) labels[LABELS.model] = labelValue(input.model);

  const pool: NodePool = {
    name,
    config: {
      machineType,
      accelerators: [
        {
          acceleratorCount: shape?.gpus ?? 1,
          acceleratorType: cls.acceleratorType,
          gpuDriverInstallationConfig: { gpuDriverVersion: input.gpuDriverVersion ?? 'LATEST' },
        },
      ],
      // Declared explicitly: GKE adds this taint by itself only when the cluster also has a
      // non-GPU pool, and without it CPU pods would land on (and keep alive) GPU nodes.
      taints: [{ ...GPU_TAINT }],
      labels,
      spot,
    },
    initialNodeCount: initialNodeCountPerZone(input.size, zones),
    autoscaling: desiredAutoscaling(input.size, spot),
    management: { autoRepair: input.autoRepair ?? true, autoUpgrade: input.autoUpgrade ?? true },
  };
  if (input.serviceAccount !== undefined) pool.config!.serviceAccount = input.serviceAccount;
  if (input.oauthScopes !== undefined) pool.config!.oauthScopes = [...input.oauthScopes];
  if (input.locations !== undefined) pool.locations = [...input.locations];
  return pool;
}

function validateSize(size: NodePoolSize): void {
  const counts = size.autoscaling ? [size.minNodes, size.maxNodes] : [size.nodeCountPerZone];
  for (const n of counts) {
    if (!Number.isInteger(n) || n < 0) {
      throw new ConfigurationError('INVALID_NODE_COUNT', `node counts must be integers >= 0, got ${n}`);
    }
  }
  if (size.autoscaling && (size.maxNodes < 1 || size.minNodes > size.maxNodes)) {
    throw new ConfigurationError(
      'INVALID_NODE_COUNT',
      `autoscaling needs 0 <= minNodes <= maxNodes and maxNodes >= 1, got ${size.minNodes}..${size.maxNodes}`,
    );
  }
}

/**
 * Rounded down so the pool never starts above its total minimum (and so never above what the
 * guardrails approved); pending pods make the autoscaler add the rest.
 */
function initialNodeCountPerZone(size: NodePoolSize, zones: number): number {
  return size.autoscaling ? Math.floor(size.minNodes / zones) : size.nodeCountPerZone;
}

function desiredAutoscaling(size: NodePoolSize, spot: boolean): NodePoolAutoscaling {
  if (!size.autoscaling) return { enabled: false };
  return {
    enabled: true,
    // Totals, not the per-zone pair: guardrails count nodes across zones, and GKE rejects mixing both.
    totalMinNodeCount: size.minNodes,
    totalMaxNodeCount: size.maxNodes,
    // Spot capacity comes and goes per zone; ANY takes it wherever it exists.
    locationPolicy: spot ? 'ANY' : 'BALANCED',
  };
}

// ---------------------------------------------------------------------------------------------
// Normalisation: observed pools come back with int enums (`$alt=json;enum-encoding=int`), int64
// fields as strings, omitted empties and many server-only fields.

const TAINT_EFFECTS = ['EFFECT_UNSPECIFIED', 'NO_SCHEDULE', 'PREFER_NO_SCHEDULE', 'NO_EXECUTE'];
const LOCATION_POLICIES = ['LOCATION_POLICY_UNSPECIFIED', 'BALANCED', 'ANY'];

function enumName(value: unknown, names: readonly string[]): string {
  if (typeof value === 'number') return names[value] ?? String(value);
  if (typeof value === 'string' && /^\d+$/.test(value)) return names[Number(value)] ?? value;
  if (typeof value === 'string') return value;
  return names[0] ?? '';
}

function toInt(value: unknown): number {
  if (typeof value === 'number') return value;
  if (typeof value === 'string' && value.trim() !== '') return Number(value);
  // protobufjs Long
  if (value !== null && typeof value === 'object' && 'toNumber' in value) {
    const toNumber = (value as { toNumber: unknown }).toNumber;
    if (typeof toNumber === 'function') return Number(toNumber.call(value));
  }
  return 0;
}

interface NormalAutoscaling {
  enabled: boolean;
  totalMinNodeCount: number;
  totalMaxNodeCount: number;
  locationPolicy: string;
}

function normalAutoscaling(a: NodePoolAutoscaling | null | undefined): NormalAutoscaling {
  const enabled = a?.enabled === true;
  if (!enabled) {
    return { enabled: false, totalMinNodeCount: 0, totalMaxNodeCount: 0, locationPolicy: '' };
  }
  return {
    enabled,
    totalMinNodeCount: toInt(a?.totalMinNodeCount),
    totalMaxNodeCount: toInt(a?.totalMaxNodeCount),
    locationPolicy: enumName(a?.locationPolicy, LOCATION_POLICIES),
  };
}

function sameAutoscaling(a: NormalAutoscaling, b: NormalAutoscaling): boolean {
  return (
    a.enabled === b.enabled &&
    a.totalMinNodeCount === b.totalMinNodeCount &&
    a.totalMaxNodeCount === b.totalMaxNodeCount &&
    a.locationPolicy === b.locationPolicy
  );
}

function normalLabelsAndTaints(pool: NodePool | undefined): NodePoolLabelsAndTaints {
  const labels: Record<string, string> = {};
  for (const [k, v] of Object.entries(pool?.config?.labels ?? {}).sort(([a], [b]) => a.localeCompare(b))) {
    labels[k] = String(v ?? '');
  }
  const taints = (pool?.config?.taints ?? [])
    .map((t) => ({ key: t.key ?? '', value: t.value ?? '', effect: enumName(t.effect, TAINT_EFFECTS) }))
    .sort(compareTaints);
  return { labels, taints };
}

function compareTaints(a: { key: string; effect: string }, b: { key: string; effect: string }): number {
  return a.key.localeCompare(b.key) || a.effect.localeCompare(b.effect);
}

/**
 * Labels under our prefix and the GPU taint are ours: we set them exactly. Anything else on the
 * pool (added by an operator or another tool) is kept, because UpdateNodePool replaces the whole map.
 */
function isOwnedLabel(key: string): boolean {
  return key.startsWith(LABEL_PREFIX);
}

function isOwnedTaint(key: string): boolean {
  return key === GPU_TAINT.key || key.startsWith(LABEL_PREFIX);
}

function mergedLabelsAndTaints(
  observed: NodePoolLabelsAndTaints,
  desired: NodePoolLabelsAndTaints,
): NodePoolLabelsAndTaints {
  const labels: Record<string, string> = {};
  const merged: Record<string, string> = {};
  for (const [k, v] of Object.entries(observed.labels)) if (!isOwnedLabel(k)) merged[k] = v;
  Object.assign(merged, desired.labels);
  for (const k of Object.keys(merged).sort()) labels[k] = merged[k] ?? '';
  const taints = [...observed.taints.filter((t) => !isOwnedTaint(t.key)), ...desired.taints].sort(
    compareTaints,
  );
  return { labels, taints };
}

function sameLabelsAndTaints(a: NodePoolLabelsAndTaints, b: NodePoolLabelsAndTaints): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

// ---------------------------------------------------------------------------------------------
// Capacity

export interface CapacityOptions {
  /** Current nodes per zone, needed to count a pool whose autoscaling is off. */
  nodeCountPerZone?: number;
  /** Zones the pool spans when the pool object does not list them (regional clusters). */
  zones?: number;
}

/**
 * Worst-case capacity of a pool: at the autoscaler's maximum, or at its fixed size. `gpuClass`
 * supplies prices (with overrides); when it does not fit the pool's machine type the built-in class
 * of that machine type is used, so an observed pool of another class is still priced.
 */
export function capacityOfNodePool(
  pool: NodePool,
  gpuClass?: GpuClass,
  options: CapacityOptions = {},
): PoolCapacity {
  const machineType = pool.config?.machineType ?? '';
  const acceleratorType = pool.config?.accelerators?.[0]?.acceleratorType ?? '';
  const fits = gpuClass !== undefined && Object.hasOwn(gpuClass.machineTypes, machineType);
  const cls = fits
    ? gpuClass
    : (builtinClassForMachineType(machineType) ?? builtinClassForAcceleratorType(acceleratorType));
  if (!cls || !Object.hasOwn(cls.machineTypes, machineType)) {
    // Fail closed: an unpriced pool would slip past the dollar guardrail.
    throw new ConfigurationError(
      'UNKNOWN_MACHINE_TYPE',
      `node pool ${pool.name ?? '?'}: cannot price machine type "${machineType}"`,
      { details: { pool: pool.name, machineType } },
    );
  }
  const acceleratorGpus = (pool.config?.accelerators ?? []).reduce(
    (n, a) => n + toInt(a.acceleratorCount),
    0,
  );
  const zones = pool.locations?.length || options.zones || 1;
  const autoscaling = normalAutoscaling(pool.autoscaling);
  let maxNodes: number;
  if (autoscaling.enabled) {
    maxNodes =
      autoscaling.totalMaxNodeCount > 0
        ? autoscaling.totalMaxNodeCount
        : toInt(pool.autoscaling?.maxNodeCount) * zones;
  } else {
    maxNodes = (options.nodeCountPerZone ?? toInt(pool.initialNodeCount)) * zones;
  }
  const spot = pool.config?.spot === true || pool.config?.preemptible === true;
  const labelClass = pool.config?.labels?.[LABELS.gpuClass];
  return {
    pool: pool.name ?? '',
    gpuClass: fits ? cls.id : (labelClass ?? cls.id),
    machineType,
    spot,
    gpusPerNode: acceleratorGpus || (cls.machineTypes[machineType]?.gpus ?? 0),
    maxNodes,
    nodeHourlyUsd: machineHourlyPrice(cls, machineType, spot),
  };
}

export interface ObservedCapacityOptions {
  /** Prices (with overrides) for a pool; default: the built-in class of its machine type. */
  gpuClassFor?: (pool: NodePool) => GpuClass | undefined;
  /** Current nodes per zone by pool name, for pools whose autoscaling is off. */
  nodeCountPerZone?: Readonly<Record<string, number>>;
  zones?: number;
}

/**
 * Capacity of every GPU pool of a cluster, the `observed` side of the guardrail check. Pools
 * without accelerators are left out: the guardrails limit GPU spend, and the catalog cannot price
 * CPU machines.
 */
export function observedCapacityOf(
  pools: readonly NodePool[],
  options: ObservedCapacityOptions = {},
): ObservedCapacity {
  return {
    pools: pools
      .filter((pool) => (pool.config?.accelerators ?? []).some((a) => toInt(a.acceleratorCount) > 0))
      .map((pool) => {
        const count = pool.name ? options.nodeCountPerZone?.[pool.name] : undefined;
        return capacityOfNodePool(pool, options.gpuClassFor?.(pool), {
          ...(count === undefined ? {} : { nodeCountPerZone: count }),
          ...(options.zones === undefined ? {} : { zones: options.zones }),
        });
      }),
  };
}

// ---------------------------------------------------------------------------------------------
// Planner

export interface ImmutableDifference {
  field: string;
  observed: string;
  desired: string;
}

export type NodePoolChanges =
  | { status: 'ok'; actions: PlanAction[] }
  | {
      status: 'recreate-required';
      pool: string;
      differences: ImmutableDifference[];
      /** Delete then create; only for callers that were explicitly allowed to recreate. */
      actions: [DeleteNodePoolAction, CreateNodePoolAction];
    };

export interface PlanNodePoolOptions {
  /** Prices and shapes for the desired pool (overrides applied). */
  gpuClass: GpuClass;
  /** Current nodes per zone of the observed pool; without it a fixed-size pool always gets setSize. */
  observedNodeCountPerZone?: number;
  /** Zones of a regional cluster when neither pool lists them. */
  zones?: number;
}

/**
 * Ordered actions that turn `observed` into `desired`: [] when they already match. Fields GKE
 * cannot change in place (machine type, accelerator, spot, service account) yield
 * `recreate-required`, which callers must refuse unless explicitly allowed: deleting a pool drops
 * every model it serves.
 */
export function planNodePoolChanges(
  observed: NodePool | undefined,
  desired: NodePool,
  options: PlanNodePoolOptions,
): NodePoolChanges {
  const name = desired.name ?? '';
  const target = nodePoolTarget(name);
  const zones = desired.locations?.length || observed?.locations?.length || options.zones || 1;
  const desiredAuto = normalAutoscaling(desired.autoscaling);
  const desiredCountPerZone = toInt(desired.initialNodeCount);
  const desiredCapacity = capacityOfNodePool(desired, options.gpuClass, {
    zones,
    nodeCountPerZone: desiredCountPerZone,
  });

  if (!observed) {
    const create: CreateNodePoolAction = {
      kind: 'createNodePool',
      target,
      before: null,
      after: desired,
      capacityBefore: null,
      capacityAfter: desiredCapacity,
      costDeltaPerHour: costDelta(null, desiredCapacity),
      reason: 'node pool does not exist',
    };
    return { status: 'ok', actions: [create] };
  }

  const observedCapacity = capacityOfNodePool(observed, options.gpuClass, {
    zones,
    ...(options.observedNodeCountPerZone === undefined
      ? {}
      : { nodeCountPerZone: options.observedNodeCountPerZone }),
  });

  const differences = immutableDifferences(observed, desired);
  if (differences.length > 0) {
    return {
      status: 'recreate-required',
      pool: name,
      differences,
      actions: [
        {
          kind: 'deleteNodePool',
          target,
          before: observed,
          after: null,
          capacityBefore: observedCapacity,
          capacityAfter: null,
          costDeltaPerHour: costDelta(observedCapacity, null),
          reason: `recreate: ${differences.map((d) => d.field).join(', ')} cannot change in place`,
        },
        {
          kind: 'createNodePool',
          target,
          before: null,
          after: desired,
          capacityBefore: null,
          capacityAfter: desiredCapacity,
          costDeltaPerHour: costDelta(null, desiredCapacity),
          reason: 'recreate with the new shape',
        },
      ],
    };
  }

  const actions: PlanAction[] = [];
  let current = observedCapacity;
  const observedAuto = normalAutoscaling(observed.autoscaling);
  if (!sameAutoscaling(observedAuto, desiredAuto)) {
    // Turning autoscaling off leaves the nodes that exist; setSize below then fixes the count.
    const next: PoolCapacity = desiredAuto.enabled
      ? desiredCapacity
      : {
          ...current,
          maxNodes:
            options.observedNodeCountPerZone === undefined
              ? current.maxNodes
              : options.observedNodeCountPerZone * zones,
        };
    actions.push({
      kind: 'setNodePoolAutoscaling',
      target,
      before: observed.autoscaling ?? null,
      after: desired.autoscaling ?? { enabled: false },
      capacityBefore: current,
      capacityAfter: next,
      costDeltaPerHour: costDelta(current, next),
      reason: 'autoscaling settings differ',
    });
    current = next;
  }
  if (!desiredAuto.enabled && options.observedNodeCountPerZone !== desiredCountPerZone) {
    actions.push({
      kind: 'setNodePoolSize',
      target,
      before: { nodeCountPerZone: options.observedNodeCountPerZone ?? null, zones },
      after: { nodeCountPerZone: desiredCountPerZone, zones },
      capacityBefore: current,
      capacityAfter: desiredCapacity,
      costDeltaPerHour: costDelta(current, desiredCapacity),
      reason:
        options.observedNodeCountPerZone === undefined
          ? 'fixed-size pool, current size unknown'
          : 'fixed-size pool has a different node count',
    });
    current = desiredCapacity;
  }
  const observedMeta = normalLabelsAndTaints(observed);
  const wantedMeta = mergedLabelsAndTaints(observedMeta, normalLabelsAndTaints(desired));
  if (!sameLabelsAndTaints(observedMeta, wantedMeta)) {
    actions.push({
      kind: 'updateNodePool',
      target,
      before: observedMeta,
      after: wantedMeta,
      costDeltaPerHour: 0,
      reason: 'labels or taints differ',
    });
  }
  return { status: 'ok', actions };
}

function immutableDifferences(observed: NodePool, desired: NodePool): ImmutableDifference[] {
  const diffs: ImmutableDifference[] = [];
  const check = (field: string, o: string, d: string) => {
    if (o !== d) diffs.push({ field, observed: o, desired: d });
  };
  const oc = observed.config ?? {};
  const dc = desired.config ?? {};
  check('config.machineType', oc.machineType ?? '', dc.machineType ?? '');
  const accel = (pool: NodePool) =>
    (pool.config?.accelerators ?? [])
      .map((a) => `${toInt(a.acceleratorCount)}x${a.acceleratorType ?? ''}`)
      .sort()
      .join(',');
  check('config.accelerators', accel(observed), accel(desired));
  check('config.spot', String(oc.spot === true), String(dc.spot === true));
  // Only when we ask for one: GKE reports "default" for pools created without it.
  if (dc.serviceAccount) check('config.serviceAccount', oc.serviceAccount ?? 'default', dc.serviceAccount);
  return diffs;
}

export class NodePoolRecreateRequired extends PermanentError {
  override name = 'NodePoolRecreateRequired';
  readonly differences: readonly ImmutableDifference[];

  constructor(pool: string, differences: readonly ImmutableDifference[]) {
    const list = differences.map((d) => `${d.field} ${d.observed} -> ${d.desired}`).join('; ');
    super(
      'NODE_POOL_RECREATE_REQUIRED',
      `node pool ${pool} must be deleted and recreated (${list}); refusing without explicit permission ` +
        'because deleting it stops every model it serves',
      { details: { pool, differences: differences.map((d) => ({ ...d })) } },
    );
    this.differences = differences;
  }
}

/** The actions to apply, or a PermanentError when a recreate is needed and not allowed. */
export function nodePoolActions(changes: NodePoolChanges, options: { allowRecreate: boolean }): PlanAction[] {
  if (changes.status === 'ok') return changes.actions;
  if (!options.allowRecreate) throw new NodePoolRecreateRequired(changes.pool, changes.differences);
  return changes.actions;
}
