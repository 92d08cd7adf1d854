import type { protos } from '@google-cloud/container';

/**
 * One plan format for every actuator: node pools, Kubernetes objects and Triton models. A plan is
 * computed by pure deciders, checked as a whole against the guardrails, printed by dry-run /
 * `inferctl plan`, and only then applied action by action, in order.
 *
 * Everything in a plan is plain JSON data (it is logged, published and stored as is).
 */
export type NodePool = protos.google.container.v1.INodePool;
export type NodePoolAutoscaling = protos.google.container.v1.INodePoolAutoscaling;

/**
 * What a node pool may cost at worst: capacity is counted at the autoscaler's maximum, or at the
 * fixed size when autoscaling is off, because that is what the cluster autoscaler is allowed to buy.
 */
export interface PoolCapacity {
  pool: string;
  gpuClass: string;
  machineType: string;
  spot: boolean;
  gpusPerNode: number;
  maxNodes: number;
  nodeHourlyUsd: number;
}

export interface ObservedCapacity {
  pools: PoolCapacity[];
}

export interface NodePoolLabelsAndTaints {
  labels: Record<string, string>;
  taints: { key: string; value: string; effect: string }[];
}

/**
 * Any Kubernetes object with its identity; the rest of its fields travel along untyped (builders
 * return the precise @kubernetes/client-node types, which are structurally assignable to this).
 */
export interface KubernetesObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
}

interface ActionBase {
  /** Readable, stable id of what is changed, e.g. `nodePool/triton-l4` or `Deployment/ml/triton-l4`. */
  target: string;
  /** Estimated USD per hour this action adds (negative: saves), worst case, from the GPU catalog. */
  costDeltaPerHour: number;
  /** Why this action is in the plan (one short sentence for logs and dry-run output). */
  reason?: string;
}

/** Actions that change what a node pool may cost carry its capacity before and after. */
interface CapacityChange {
  capacityBefore: PoolCapacity | null;
  capacityAfter: PoolCapacity | null;
}

export interface CreateNodePoolAction extends ActionBase, CapacityChange {
  kind: 'createNodePool';
  before: null;
  after: NodePool;
  capacityAfter: PoolCapacity;
}

export interface SetNodePoolAutoscalingAction extends ActionBase, CapacityChange {
  kind: 'setNodePoolAutoscaling';
  before: NodePoolAutoscaling | null;
  after: NodePoolAutoscaling;
  capacityAfter: PoolCapacity;
}

export interface SetNodePoolSizeAction extends ActionBase, CapacityChange {
  kind: 'setNodePoolSize';
  /** `setSize` counts nodes per zone. */
  before: { nodeCountPerZone: number | null; zones: number };
  after: { nodeCountPerZone: number; zones: number };
  capacityAfter: PoolCapacity;
}

export interface UpdateNodePoolAction extends ActionBase {
  kind: 'updateNodePool';
  before: NodePoolLabelsAndTaints;
  after: NodePoolLabelsAndTaints;
}

/**
 * The zones a node pool runs in (UpdateNodePool `locations`); each new zone gets the pool's size
 * per zone. scaleOnAlert widens a pool this way when a zone has no capacity (a stockout).
 */
export interface SetNodePoolLocationsAction extends ActionBase, CapacityChange {
  kind: 'setNodePoolLocations';
  before: { locations: string[] };
  after: { locations: string[] };
  capacityAfter: PoolCapacity;
}

export interface DeleteNodePoolAction extends ActionBase, CapacityChange {
  kind: 'deleteNodePool';
  before: NodePool;
  after: null;
  capacityAfter: null;
}

export interface ApplyObjectAction extends ActionBase {
  kind: 'applyObject';
  before: KubernetesObject | null;
  after: KubernetesObject;
  /**
   * Server-side apply field manager; default `inferplane` (deployModel's). The scaling functions
   * apply only the HPA bounds as `inferplane-scaling`, so those fields have their own owner.
   */
  fieldManager?: string;
}

export interface DeleteObjectAction extends ActionBase {
  kind: 'deleteObject';
  before: KubernetesObject;
  after: null;
}

/** Scaling a workload's replicas directly (scheduled scale to zero and its restore). */
export interface ScaleWorkloadAction extends ActionBase {
  kind: 'scaleWorkload';
  /**
   * `resourceVersion`: the Deployment's when it was observed (a LIST or GET of it). The write is
   * then conditional on it without reading the Scale first (a change since is a 409: re-planned).
   */
  before: { replicas: number | null; resourceVersion?: string };
  after: { replicas: number };
}

/** Loading a model on one Triton pod (each replica loads on its own), then awaiting its readiness. */
export interface LoadModelAction extends ActionBase {
  kind: 'loadModel';
  /** The model on that pod as observed when planning (null: not loaded, or unknown). */
  before: { state: string | null; version?: string } | null;
  /**
   * `config` is Triton's ModelConfig JSON (shared/triton/model-config.ts); omitted: Triton reads
   * the repository's config.pbtxt. `readinessTimeoutSeconds` bounds the wait for READY.
   */
  after: {
    pool: string;
    pod: string;
    model: string;
    version?: number;
    config?: unknown;
    readinessTimeoutSeconds?: number;
  };
}

export interface UnloadModelAction extends ActionBase {
  kind: 'unloadModel';
  before: { pool: string; pod: string; model: string; state: string | null };
  after: null;
}

/** An object in a Cloud Storage bucket. */
export interface StorageObjectRef {
  bucket: string;
  name: string;
}

/**
 * A server-side copy into a bucket (no object bytes pass through the control plane). `before` is
 * the destination as observed (null: absent); the write is conditional on it.
 */
export interface CopyStorageObjectAction extends ActionBase {
  kind: 'copyStorageObject';
  before: { generation: string } | null;
  after: {
    source: StorageObjectRef & { generation: string };
    destination: StorageObjectRef;
    size: string;
    md5Hash?: string;
    crc32c?: string;
  };
}

/**
 * A small text object written whole (a config.pbtxt, a registry record, a directory marker),
 * conditional on the generation observed (null: only if absent).
 */
export interface WriteStorageObjectAction extends ActionBase {
  kind: 'writeStorageObject';
  before: { generation: string } | null;
  after: { object: StorageObjectRef; text: string; contentType: string };
  /**
   * The write's generation precondition is its only check, no read first: for a `before` the plan
   * was just made from (a change since is the write's 412: re-planned).
   */
  checkedByWrite?: true;
}

export interface DeleteStorageObjectAction extends ActionBase {
  kind: 'deleteStorageObject';
  before: StorageObjectRef & { generation: string };
  after: null;
}

export type PlanAction =
  | CreateNodePoolAction
  | SetNodePoolAutoscalingAction
  | SetNodePoolSizeAction
  | UpdateNodePoolAction
  | SetNodePoolLocationsAction
  | DeleteNodePoolAction
  | ApplyObjectAction
  | DeleteObjectAction
  | ScaleWorkloadAction
  | LoadModelAction
  | UnloadModelAction
  | CopyStorageObjectAction
  | WriteStorageObjectAction
  | DeleteStorageObjectAction;

export type PlanActionKind = PlanAction['kind'];

export interface Plan {
  id?: string;
  /** RFC 3339 timestamp, from the injected Clock. */
  createdAt: string;
  reason: string;
  actions: PlanAction[];
}

/** A plan stamped with the injected clock's time (decisions stay pure and testable). */
export function createPlan(
  clock: { nowMs(): number },
  reason: string,
  actions: PlanAction[],
  id?: string,
): Plan {
  return {
    ...(id === undefined ? {} : { id }),
    createdAt: new Date(clock.nowMs()).toISOString(),
    reason,
    actions,
  };
}

export function hasCapacityChange(action: PlanAction): action is PlanAction & CapacityChange {
  return 'capacityAfter' in action;
}

/** Worst-case hourly cost of a pool: every node the autoscaler may create, running. */
export function poolHourlyUsd(capacity: PoolCapacity | null): number {
  return capacity ? capacity.maxNodes * capacity.nodeHourlyUsd : 0;
}

export function costDelta(before: PoolCapacity | null, after: PoolCapacity | null): number {
  return roundUsd(poolHourlyUsd(after) - poolHourlyUsd(before));
}

/** Cents are meaningless here; 4 decimals keep sums stable in JSON and in the text output. */
export function roundUsd(usd: number): number {
  return Math.round(usd * 10_000) / 10_000;
}

export interface PlanCost {
  /** Net change in worst-case USD per hour. */
  deltaPerHour: number;
  increasePerHour: number;
  decreasePerHour: number;
}

export function estimatePlanCost(plan: Plan): PlanCost {
  let increase = 0;
  let decrease = 0;
  for (const action of plan.actions) {
    if (action.costDeltaPerHour > 0) increase += action.costDeltaPerHour;
    else decrease += action.costDeltaPerHour;
  }
  return {
    deltaPerHour: roundUsd(increase + decrease),
    increasePerHour: roundUsd(increase),
    decreasePerHour: roundUsd(decrease),
  };
}

export interface PoolTotals {
  gpuClass: string;
  gpus: number;
  nodes: number;
  dollarsPerHour: number;
}

export interface CapacityTotals {
  pools: Record<string, PoolTotals>;
  gpusTotal: number;
  nodesTotal: number;
  dollarsPerHour: number;
}

/** The capacity each pool ends with once every action of the plan has run, in order. */
export function capacityAfter(plan: Plan, observed: ObservedCapacity): PoolCapacity[] {
  const pools = new Map<string, PoolCapacity>();
  for (const pool of observed.pools) pools.set(pool.pool, pool);
  for (const action of plan.actions) {
    if (!hasCapacityChange(action)) continue;
    const name = action.capacityAfter?.pool ?? action.capacityBefore?.pool ?? poolNameOfTarget(action.target);
    if (action.capacityAfter) pools.set(name, action.capacityAfter);
    else pools.delete(name);
  }
  return [...pools.values()];
}

/** GPUs, nodes and dollars per hour after the plan, counted at max node counts (worst case). */
export function totalsAfter(plan: Plan, observed: ObservedCapacity): CapacityTotals {
  return totalsOf(capacityAfter(plan, observed));
}

export function totalsOf(pools: readonly PoolCapacity[]): CapacityTotals {
  const totals: CapacityTotals = { pools: {}, gpusTotal: 0, nodesTotal: 0, dollarsPerHour: 0 };
  for (const pool of pools) {
    const entry: PoolTotals = {
      gpuClass: pool.gpuClass,
      gpus: pool.maxNodes * pool.gpusPerNode,
      nodes: pool.maxNodes,
      dollarsPerHour: roundUsd(poolHourlyUsd(pool)),
    };
    totals.pools[pool.pool] = entry;
    totals.gpusTotal += entry.gpus;
    totals.nodesTotal += entry.nodes;
    totals.dollarsPerHour += entry.dollarsPerHour;
  }
  totals.dollarsPerHour = roundUsd(totals.dollarsPerHour);
  return totals;
}

export function storageTarget(ref: StorageObjectRef): string {
  return `gs://${ref.bucket}/${ref.name}`;
}

export function modelOnPodTarget(pod: string, model: string): string {
  return `triton/${pod}/${model}`;
}

export function nodePoolTarget(pool: string): string {
  return `nodePool/${pool}`;
}

function poolNameOfTarget(target: string): string {
  return target.startsWith('nodePool/') ? target.slice('nodePool/'.length) : target;
}

export function objectTarget(obj: Pick<KubernetesObject, 'kind' | 'metadata'>): string {
  const ns = obj.metadata.namespace;
  return ns ? `${obj.kind}/${ns}/${obj.metadata.name}` : `${obj.kind}/${obj.metadata.name}`;
}

/** A human-readable, table-like rendering for dry-run output and `inferctl plan`. */
export function describePlan(plan: Plan, observed?: ObservedCapacity): string {
  const lines: string[] = [];
  lines.push(`Plan${plan.id ? ` ${plan.id}` : ''} created ${plan.createdAt}`);
  lines.push(`Reason: ${plan.reason}`);
  if (plan.actions.length === 0) {
    lines.push('No changes: observed state already matches the desired state.');
    return lines.join('\n');
  }
  const rows = plan.actions.map((action, i) => [
    String(i + 1),
    action.kind,
    action.target,
    summarizeAction(action),
    formatUsdDelta(action.costDeltaPerHour),
  ]);
  const header = ['#', 'ACTION', 'TARGET', 'CHANGE', 'USD/H'];
  const widths = header.map((h, col) => Math.max(h.length, ...rows.map((r) => (r[col] ?? '').length)));
  const render = (cells: string[]) =>
    cells
      .map((cell, col) =>
        col === cells.length - 1 ? cell.padStart(widths[col] ?? 0) : cell.padEnd(widths[col] ?? 0),
      )
      .join('  ')
      .trimEnd();
  lines.push(render(header));
  for (const row of rows) lines.push(render(row));
  const cost = estimatePlanCost(plan);
  lines.push(
    `Estimated cost change (worst case, nodes at autoscaler max): ${formatUsdDelta(cost.deltaPerHour)} USD/h`,
  );
  if (observed) {
    const after = totalsAfter(plan, observed);
    lines.push(
      `After the plan: ${after.gpusTotal} GPUs, ${after.nodesTotal} nodes, ` +
        `${after.dollarsPerHour.toFixed(2)} USD/h at most`,
    );
  }
  return lines.join('\n');
}

function formatUsdDelta(usd: number): string {
  if (usd === 0) return '0.00';
  return `${usd > 0 ? '+' : '-'}${Math.abs(usd).toFixed(2)}`;
}

function describeCapacity(c: PoolCapacity): string {
  return `${c.maxNodes} x ${c.machineType}${c.spot ? ' spot' : ''} (${c.maxNodes * c.gpusPerNode} GPUs max)`;
}

function summarizeAction(action: PlanAction): string {
  switch (action.kind) {
    case 'createNodePool':
      return `create, ${describeCapacity(action.capacityAfter)}`;
    case 'setNodePoolAutoscaling': {
      const b = action.before;
      const a = action.after;
      const range = (x: NodePoolAutoscaling | null) =>
        x?.enabled ? `${x.totalMinNodeCount ?? 0}..${x.totalMaxNodeCount ?? 0}` : 'off';
      return `autoscaling ${range(b)} -> ${range(a)}${a.enabled ? ` ${String(a.locationPolicy ?? '')}` : ''}`.trimEnd();
    }
    case 'setNodePoolSize':
      return `nodes per zone ${action.before.nodeCountPerZone ?? '?'} -> ${action.after.nodeCountPerZone} (${action.after.zones} zone(s))`;
    case 'updateNodePool': {
      const changed = diffKeys(action.before.labels, action.after.labels);
      const taintsChanged =
        JSON.stringify(action.before.taints) !== JSON.stringify(action.after.taints) ? ', taints' : '';
      return `labels ${changed.length ? changed.join(',') : '-'}${taintsChanged}`;
    }
    case 'setNodePoolLocations':
      return `zones ${action.before.locations.join(',') || '-'} -> ${action.after.locations.join(',')}`;
    case 'deleteNodePool':
      return action.capacityBefore ? `delete, was ${describeCapacity(action.capacityBefore)}` : 'delete';
    case 'applyObject':
      return action.before ? 'update (server-side apply)' : 'create (server-side apply)';
    case 'deleteObject':
      return 'delete';
    case 'scaleWorkload':
      return `replicas ${action.before.replicas ?? '?'} -> ${action.after.replicas}`;
    case 'loadModel':
      return `load ${action.after.model}${action.after.version === undefined ? '' : ` v${action.after.version}`} on ${action.after.pod}${action.after.config === undefined ? ' (repository config)' : ' (with config)'}`;
    case 'unloadModel':
      return `unload ${action.before.model} from ${action.before.pod}`;
    case 'copyStorageObject':
      return `copy from gs://${action.after.source.bucket}/${action.after.source.name}#${action.after.source.generation}${action.before ? ' (replaces)' : ''}`;
    case 'writeStorageObject':
      return `${action.before ? 'rewrite' : 'create'} (${Buffer.byteLength(action.after.text)} bytes, ${action.after.contentType.split(';')[0]})`;
    case 'deleteStorageObject':
      return `delete generation ${action.before.generation}`;
  }
}

function diffKeys(before: Record<string, string>, after: Record<string, string>): string[] {
  const keys = new Set([...Object.keys(before), ...Object.keys(after)]);
  return [...keys].filter((k) => before[k] !== after[k]).sort();
}
