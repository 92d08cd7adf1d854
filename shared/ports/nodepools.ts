/**
 * The node pool port: one GKE cluster's node pools and operations as plain data. The adapter
 * (shared/adapters/gke.ts) implements it over @google-cloud/container; nothing above the adapters
 * sees the client.
 */
import type { NodePool, NodePoolAutoscaling } from '../domain/plan';
import { PermanentError, RetryableError } from '../runtime/errors';

export type { NodePool, NodePoolAutoscaling } from '../domain/plan';

export type OperationStatus = 'STATUS_UNSPECIFIED' | 'PENDING' | 'RUNNING' | 'DONE' | 'ABORTING';

/** A GKE long-running operation, as plain data. */
export interface ClusterOperation {
  /** The operation id (`operation-...`), as GKE names it. */
  name: string;
  /** Full resource name for GetOperation: `projects/P/locations/L/operations/ID`. */
  path: string;
  operationType: string;
  status: OperationStatus;
  statusMessage: string;
  targetLink: string;
  /** The node pool the operation changes, when it targets one. */
  pool: string | undefined;
  error: { code: number; message: string } | undefined;
  startTime: string | undefined;
  endTime: string | undefined;
}

export interface ClusterInfo {
  name: string;
  location: string;
  locations: string[];
  status: string;
  currentNodeCount: number;
  /** `binaryAuthorization` as GetCluster reports it (evaluationMode by name), when present. */
  binaryAuthorization?: { evaluationMode: string; enabled: boolean };
}

export interface NodePoolUpdate {
  labels?: Record<string, string>;
  taints?: { key: string; value: string; effect: string }[];
  /** The pool's zones; each new one gets the pool's per-zone size. */
  locations?: string[];
}

export interface NodePools {
  /** `projects/P/locations/L/clusters/C` */
  readonly clusterName: string;
  getCluster(): Promise<ClusterInfo>;
  list(): Promise<NodePool[]>;
  /** undefined when the pool does not exist. */
  get(name: string): Promise<NodePool | undefined>;
  /**
   * Live nodes per zone of a pool, or undefined when it cannot be told. Needed to plan fixed-size
   * pools: the v1 NodePool does not carry its live size (see `NodeCountSource`).
   */
  nodeCountPerZone(pool: NodePool): Promise<number | undefined>;
  create(pool: NodePool): Promise<ClusterOperation>;
  setAutoscaling(name: string, autoscaling: NodePoolAutoscaling): Promise<ClusterOperation>;
  /** `nodeCount` is per zone. */
  setSize(name: string, nodeCount: number): Promise<ClusterOperation>;
  update(name: string, changes: NodePoolUpdate): Promise<ClusterOperation>;
  delete(name: string): Promise<ClusterOperation>;
  /** By id (`operation-...`) or full path. */
  getOperation(name: string): Promise<ClusterOperation>;
  /** Operations of this cluster that are not DONE yet (one left behind by a crashed run, say). */
  listRunningOperations(): Promise<ClusterOperation[]>;
}

export const CLUSTER_ALREADY_HAS_OPERATION = 'CLUSTER_ALREADY_HAS_OPERATION';

/** The cluster runs another mutating operation; retry later (GKE runs one at a time). */
export class ClusterBusyError extends RetryableError {
  override name = 'ClusterBusyError';
  /** The operation that holds the cluster, when the API names it. */
  readonly operation: string | undefined;

  constructor(
    message: string,
    options: { operation?: string; cause?: unknown; details?: Record<string, unknown> },
  ) {
    super(CLUSTER_ALREADY_HAS_OPERATION, message, options);
    this.operation = options.operation;
  }
}

export class NodePoolNotFoundError extends PermanentError {
  override name = 'NodePoolNotFoundError';
}

/**
 * A node pool operation that GKE could not fulfil for lack of capacity in some zones (a stockout:
 * `GCE_STOCKOUT`, `ZONE_RESOURCE_POOL_EXHAUSTED[_WITH_DETAILS]` in the operation's error). The pool
 * keeps what it got. Retrying at once asks the same zones again, so the executor does not: the
 * caller falls back (other zones) or the event is redelivered later.
 */
export class NodePoolStockoutError extends RetryableError {
  override name = 'NodePoolStockoutError';
  constructor(
    message: string,
    /** Zones the error names as short (`projects/P/zones/Z` -> `Z`). */
    readonly zones: readonly string[],
    options: { cause?: unknown; details?: Record<string, unknown> } = {},
  ) {
    super('STOCKOUT', message, { ...options, details: { ...options.details, zones: [...zones] } });
  }
}

const STOCKOUT_MARKERS = /GCE_STOCKOUT|ZONE_RESOURCE_POOL_EXHAUSTED|does not have enough resources available/;

/** Whether an operation's error text reports a stockout, and which zones it names. */
export function stockoutOf(message: string): { zones: string[] } | undefined {
  if (!STOCKOUT_MARKERS.test(message)) return undefined;
  const zones = new Set<string>();
  for (const m of message.matchAll(/zones\/([a-z]+-[a-z]+\d+-[a-z])/g)) zones.add(m[1] as string);
  // ZONE_RESOURCE_POOL_EXHAUSTED messages name the zone as "The zone 'projects/P/zones/Z'" too;
  // some only carry a bare zone name.
  if (zones.size === 0)
    for (const m of message.matchAll(/\b([a-z]+-[a-z]+\d+-[a-z])\b/g)) zones.add(m[1] as string);
  return { zones: [...zones].sort() };
}
