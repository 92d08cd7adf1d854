/**
 * One emulated GKE cluster: its node pools and the operations that change them. Operations move
 * PENDING -> RUNNING -> DONE by the clock (one `phaseMs` each) and are settled lazily whenever
 * state is read, so a ManualClock drives them deterministically and a restarted server picks up
 * where the persisted state left off. A change takes effect when its operation reaches DONE.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { clusterBusy, GkeApiError, invalidArgument, notFound } from './errors';
import { Capacity, OperationFaults } from './faults';
import {
  autoscalingProblems,
  BinaryAuthorizationEvaluationMode,
  ClusterStatus,
  clampToAutoscaling,
  effectiveAccelerators,
  isZone,
  locationProblems,
  type NodeConfig,
  type NodePool,
  type NodePoolAutoscaling,
  type NodePoolInput,
  NodePoolStatus,
  nodeConfigProblems,
  OperationStatus,
  OperationType,
  type PerZone,
  poolNameProblems,
  RpcCode,
  type StatusCondition,
  StatusConditionCode,
  type UpdateNodePoolRequest,
  WorkloadMetadataMode,
} from './model';

/** What the cluster needs of a clock (a `ManualClock` from the tests fits). */
export interface GkeClock {
  nowMs(): number;
}

/** The apiserver the cluster reports, as GKE does (`endpoint` is `host[:port]`, no scheme). */
export interface KubernetesEndpoint {
  endpoint: string;
  /** Base64 of the PEM of the cluster CA. */
  caCertificate: string;
  /** Also report `privateClusterConfig` with this private endpoint (`host[:port]`). */
  privateEndpoint?: string;
}

const API = 'https://container.googleapis.com/v1';
const NODE_VERSION = '1.31.5-gke.1233000';

type Effect =
  | { kind: 'create'; pool: string }
  | { kind: 'delete'; pool: string; previous: NodePool }
  | {
      kind: 'replace';
      pool: string;
      previous: NodePool;
      next: NodePool;
      /** setSize: the per-zone node count asked for. */
      size?: number;
    };

interface StoredOperation {
  id: string;
  operationType: number;
  targetLink: string;
  startMs: number;
  phaseMs: number;
  effect: Effect;
  /** Set once the effect was applied (DONE) or reverted (cancelled). */
  endMs?: number;
  error?: OperationError;
  /** A fault decided at start: the operation ends DONE with this error, its change rolled back. */
  failWith?: { code: number; message: string };
  nodepoolConditions?: StatusCondition[];
}

/**
 * google.rpc.Status. No `details`: the REST client decodes Any by type and knows no
 * error_details types, so an ErrorInfo there would make every read of the operation fail.
 */
interface OperationError {
  code: number;
  message: string;
}

interface State {
  version: 1;
  nodePools: NodePool[];
  operations: StoredOperation[];
}

const StateFileSchema = z.object({
  version: z.literal(1),
  nodePools: z.array(z.looseObject({ name: z.string() })),
  operations: z.array(z.looseObject({ id: z.string(), startMs: z.number() })),
});

/** The cluster's security settings GetCluster reports. */
export interface ClusterSecurity {
  /** `binaryAuthorization.evaluationMode`; default DISABLED (GKE's default). */
  binaryAuthorization?: keyof typeof BinaryAuthorizationEvaluationMode;
  /**
   * Workload Identity (`workloadIdentityConfig.workloadPool = <project>.svc.id.goog`); default on, as
   * infra/terraform creates the cluster. Node pools created while it is on default to
   * `workloadMetadataConfig.mode: GKE_METADATA`, as GKE does.
   */
  workloadIdentity?: boolean;
}

export interface ClusterOptions {
  dir: string;
  project: string;
  location: string;
  cluster: string;
  operationPhaseMs: number;
  clock: GkeClock;
  kubernetes?: KubernetesEndpoint;
  security?: ClusterSecurity;
  /** The cluster's node locations (GetCluster `locations`, where new pools go); default `<region>-a`. */
  locations?: readonly string[];
  /** Called after any change to a pool (create, resize, delete, status). */
  onChange?: () => void;
}

export class EmulatedCluster {
  readonly project: string;
  readonly location: string;
  readonly cluster: string;
  readonly clusterName: string;
  readonly defaultZones: string[];
  phaseMs: number;
  kubernetes: KubernetesEndpoint | undefined;
  security: Required<ClusterSecurity>;
  readonly capacity: Capacity;
  readonly operationFaults = new OperationFaults();
  readonly #clock: GkeClock;
  readonly #onChange: () => void;
  readonly #file: string;
  #state: State;
  readonly #createdMs: number;

  constructor(o: ClusterOptions) {
    this.project = o.project;
    this.location = o.location;
    this.cluster = o.cluster;
    this.clusterName = `projects/${o.project}/locations/${o.location}/clusters/${o.cluster}`;
    this.defaultZones =
      o.locations && o.locations.length > 0
        ? [...o.locations]
        : isZone(o.location)
          ? [o.location]
          : [`${o.location}-a`];
    this.phaseMs = o.operationPhaseMs;
    this.#clock = o.clock;
    this.kubernetes = o.kubernetes;
    this.security = {
      binaryAuthorization: o.security?.binaryAuthorization ?? 'DISABLED',
      workloadIdentity: o.security?.workloadIdentity ?? true,
    };
    this.#onChange = o.onChange ?? (() => {});
    this.capacity = new Capacity(() => this.#retryShortPools());
    this.#createdMs = o.clock.nowMs();
    mkdirSync(o.dir, { recursive: true });
    this.#file = join(o.dir, `gke-${o.project}-${o.location}-${o.cluster}.json`);
    this.#state = this.#load();
  }

  // ---- reads ----

  getCluster(): Record<string, unknown> {
    this.settle();
    const pools = this.#state.nodePools.map((p) => this.#wire(p));
    return {
      name: this.cluster,
      description: 'local emulated GKE cluster',
      location: this.location,
      zone: this.location,
      locations: this.defaultZones,
      status: ClusterStatus.RUNNING,
      selfLink: `${API}/${this.clusterName}`,
      endpoint: this.kubernetes?.endpoint ?? '127.0.0.1',
      ...(this.kubernetes
        ? { masterAuth: { clusterCaCertificate: this.kubernetes.caCertificate } }
        : { masterAuth: {} }),
      ...(this.kubernetes?.privateEndpoint
        ? {
            privateClusterConfig: {
              enablePrivateNodes: true,
              privateEndpoint: this.kubernetes.privateEndpoint,
              publicEndpoint: this.kubernetes.endpoint,
            },
          }
        : {}),
      binaryAuthorization: {
        evaluationMode: BinaryAuthorizationEvaluationMode[this.security.binaryAuthorization],
      },
      ...(this.security.workloadIdentity
        ? { workloadIdentityConfig: { workloadPool: `${this.project}.svc.id.goog` } }
        : {}),
      initialClusterVersion: NODE_VERSION,
      currentMasterVersion: NODE_VERSION,
      currentNodeVersion: NODE_VERSION,
      createTime: new Date(this.#createdMs).toISOString(),
      currentNodeCount: this.#state.nodePools.reduce((n, p) => n + p.currentNodeCount, 0),
      nodePools: pools,
      network: 'default',
      subnetwork: 'default',
      id: 'local0000000000000000000000000000000000000000000000000000000000',
    };
  }

  listNodePools(): Record<string, unknown>[] {
    this.settle();
    return this.#state.nodePools.map((p) => this.#wire(p));
  }

  getNodePool(name: string): Record<string, unknown> {
    this.settle();
    return this.#wire(this.#pool(name));
  }

  snapshotPools(): NodePool[] {
    this.settle();
    return structuredClone(this.#state.nodePools);
  }

  /** Milliseconds until the next in-flight operation is due, or undefined when none runs. */
  nextDueInMs(): number | undefined {
    const now = this.#clock.nowMs();
    const due = this.#state.operations
      .filter((o) => o.endMs === undefined)
      .map((o) => o.startMs + 2 * Math.max(0, o.phaseMs) - now);
    return due.length === 0 ? undefined : Math.max(0, Math.min(...due));
  }

  getOperation(id: string): Record<string, unknown> {
    this.settle();
    return this.#wireOperation(this.#operation(id));
  }

  listOperations(): Record<string, unknown>[] {
    this.settle();
    return this.#state.operations.map((o) => this.#wireOperation(o));
  }

  // ---- mutations: each validates, checks the one-operation rule, then starts an operation ----

  createNodePool(input: NodePoolInput | undefined): Record<string, unknown> {
    this.settle();
    if (!input) throw invalidArgument(['nodePool must be set.']);
    const config = this.#normalizeConfig(input.config ?? {});
    const locations =
      input.locations && input.locations.length > 0 ? [...input.locations] : this.defaultZones;
    const problems = [
      ...poolNameProblems(input.name),
      ...(input.initialNodeCount < 0
        ? [`initial_node_count must be >= 0, got ${input.initialNodeCount}.`]
        : []),
      ...nodeConfigProblems(config),
      ...locationProblems(locations, this.location),
      ...autoscalingProblems(input.autoscaling),
    ];
    if (problems.length > 0) throw invalidArgument(problems);
    if (this.#state.nodePools.some((p) => p.name === input.name)) {
      throw new GkeApiError('ALREADY_EXISTS', `Already exists: ${this.#poolPath(input.name)}.`);
    }
    this.#assertIdle();
    const pool: NodePool = {
      name: input.name,
      config,
      initialNodeCount: input.initialNodeCount,
      currentNodeCount: 0,
      nodeCountPerZone: {},
      locations,
      ...(input.autoscaling ? { autoscaling: normalizeAutoscaling(input.autoscaling) } : {}),
      management: input.management ?? { autoUpgrade: true, autoRepair: true },
      ...(input.upgradeSettings
        ? { upgradeSettings: input.upgradeSettings }
        : { upgradeSettings: { maxSurge: 1 } }),
      ...(input.maxPodsConstraint ? { maxPodsConstraint: input.maxPodsConstraint } : {}),
      ...(input.placementPolicy ? { placementPolicy: input.placementPolicy } : {}),
      status: NodePoolStatus.PROVISIONING,
      selfLink: `${API}/${this.#poolPath(input.name)}`,
      version: input.version || NODE_VERSION,
      instanceGroupUrls: [],
      etag: newEtag(),
      podIpv4CidrSize: 24,
    };
    this.#state.nodePools.push(pool);
    return this.#start(OperationType.CREATE_NODE_POOL, { kind: 'create', pool: pool.name });
  }

  updateNodePool(name: string, req: UpdateNodePoolRequest): Record<string, unknown> {
    this.settle();
    const current = this.#pool(name);
    const next = structuredClone(current);
    const config: NodeConfig = next.config;
    if (req.labels) config.labels = { ...req.labels.labels };
    if (req.resourceLabels) config.resourceLabels = { ...req.resourceLabels.labels };
    if (req.taints) config.taints = req.taints.taints.map((t) => ({ ...t }));
    if (req.tags) config.tags = [...req.tags.tags];
    if (req.imageType && req.imageType !== '-') config.imageType = req.imageType;
    if (req.diskType) config.diskType = req.diskType;
    if (req.diskSizeGb) config.diskSizeGb = req.diskSizeGb;
    if (req.machineType) {
      config.machineType = req.machineType;
      // A new machine family brings its own GPUs unless the request names accelerators.
      if (!req.accelerators) config.accelerators = effectiveAccelerators(req.machineType, []);
    }
    if (req.accelerators)
      config.accelerators = effectiveAccelerators(config.machineType ?? '', req.accelerators);
    if (req.locations && req.locations.length > 0) next.locations = [...req.locations];
    if (req.nodeVersion && req.nodeVersion !== '-') next.version = req.nodeVersion;
    if (req.upgradeSettings) next.upgradeSettings = req.upgradeSettings;
    const problems = [...nodeConfigProblems(config), ...locationProblems(next.locations, this.location)];
    if (problems.length > 0) throw invalidArgument(problems);
    this.#assertAvailable(current);
    return this.#replace(OperationType.UPGRADE_NODES, current, next);
  }

  setNodePoolSize(name: string, nodeCount: number | undefined): Record<string, unknown> {
    this.settle();
    const current = this.#pool(name);
    if (nodeCount === undefined || nodeCount < 0) {
      throw invalidArgument([`node_count must be >= 0, got ${nodeCount ?? 'nothing'}.`]);
    }
    this.#assertAvailable(current);
    return this.#replace(OperationType.SET_NODE_POOL_SIZE, current, current, nodeCount);
  }

  setNodePoolAutoscaling(
    name: string,
    autoscaling: NodePoolAutoscaling | undefined,
  ): Record<string, unknown> {
    this.settle();
    const current = this.#pool(name);
    if (!autoscaling) throw invalidArgument(['autoscaling must be set.']);
    const problems = autoscalingProblems(autoscaling);
    if (problems.length > 0) throw invalidArgument(problems);
    this.#assertAvailable(current);
    const next = { ...current, autoscaling: normalizeAutoscaling(autoscaling) };
    return this.#replace(OperationType.UPDATE_CLUSTER, current, next);
  }

  setNodePoolManagement(name: string, management: NodePool['management']): Record<string, unknown> {
    this.settle();
    const current = this.#pool(name);
    if (!management) throw invalidArgument(['management must be set.']);
    this.#assertAvailable(current);
    return this.#replace(OperationType.SET_NODE_POOL_MANAGEMENT, current, { ...current, management });
  }

  deleteNodePool(name: string): Record<string, unknown> {
    this.settle();
    const current = this.#pool(name);
    this.#assertAvailable(current);
    const previous = structuredClone(current);
    current.status = NodePoolStatus.STOPPING;
    return this.#start(OperationType.DELETE_NODE_POOL, { kind: 'delete', pool: name, previous });
  }

  /** Cancels a running operation; the change is rolled back and the operation ends with CANCELLED. */
  cancelOperation(id: string): void {
    this.settle();
    const op = this.#operation(id);
    if (op.endMs !== undefined) {
      throw new GkeApiError(
        'FAILED_PRECONDITION',
        `Operation ${id} is already done and cannot be cancelled.`,
      );
    }
    this.#revert(op.effect);
    op.endMs = this.#clock.nowMs();
    op.error = { code: RpcCode.CANCELLED, message: 'Operation was cancelled.' };
    this.#save();
    this.#onChange();
  }

  /**
   * The cluster autoscaler's resize: live nodes per zone (zones left out keep their count),
   * clamped to the pool's autoscaling bounds and to each zone's capacity. No operation, as the
   * autoscaler resizes instance groups directly.
   */
  autoscale(name: string, nodeCountPerZone: PerZone): void {
    this.settle();
    const pool = this.#state.nodePools.find((p) => p.name === name);
    if (!pool) throw new Error(`autoscale: no node pool "${name}"`);
    if (!pool.autoscaling?.enabled)
      throw new Error(`autoscale: node pool "${name}" has no autoscaling enabled`);
    if (pool.status === NodePoolStatus.PROVISIONING || pool.status === NodePoolStatus.STOPPING) {
      throw new Error(`autoscale: node pool "${name}" is being created or deleted`);
    }
    for (const [zone, n] of Object.entries(nodeCountPerZone)) {
      if (!pool.locations.includes(zone))
        throw new Error(`autoscale: "${zone}" is not a zone of node pool "${name}"`);
      if (!Number.isInteger(n) || n < 0)
        throw new Error(`autoscale: node count for ${zone} must be an integer >= 0, got ${n}`);
    }
    const wanted = clampToAutoscaling(
      { ...pool.nodeCountPerZone, ...nodeCountPerZone },
      pool.locations,
      pool.autoscaling,
    );
    const { live } = this.#grant(pool, wanted);
    // The autoscaler gives up on nodes a zone cannot give (it does not leave the target raised).
    const targetMoved = !sameCounts(live, pool.targetNodeCountPerZone ?? {}, pool.locations);
    pool.targetNodeCountPerZone = live;
    if (sameCounts(live, pool.nodeCountPerZone, pool.locations)) {
      if (targetMoved) this.#save();
      return;
    }
    pool.nodeCountPerZone = live;
    pool.currentNodeCount = sumOf(live);
    this.#save();
    this.#onChange();
  }

  /** Applies every operation whose time has come. Idempotent; called before every read. */
  settle(): void {
    const now = this.#clock.nowMs();
    let changed = false;
    for (const op of this.#state.operations) {
      if (op.endMs !== undefined || this.#statusOf(op, now) !== OperationStatus.DONE) continue;
      op.endMs = op.startMs + 2 * Math.max(0, op.phaseMs);
      if (op.failWith) {
        this.#revert(op.effect);
        op.error = { ...op.failWith };
      } else {
        this.#apply(op);
      }
      changed = true;
    }
    if (changed) {
      this.#save();
      this.#onChange();
    }
  }

  // ---- internals ----

  #apply(op: StoredOperation): void {
    const e = op.effect;
    if (e.kind === 'delete') {
      this.#state.nodePools = this.#state.nodePools.filter((p) => p.name !== e.pool);
      return;
    }
    const stored = this.#state.nodePools.find((p) => p.name === e.pool);
    const base = e.kind === 'create' ? stored : e.next;
    if (!base || !stored) return;
    // Live counts come from the pool as it is now (the autoscaler may have moved it meanwhile),
    // not from the snapshot taken when the operation started.
    const live = stored.nodeCountPerZone;
    const target = stored.targetNodeCountPerZone ?? live;
    const fill = Math.max(0, ...base.locations.map((z) => live[z] ?? 0));
    const asked: PerZone = {};
    for (const z of base.locations) {
      asked[z] =
        e.kind === 'create'
          ? base.initialNodeCount
          : e.kind === 'replace' && e.size !== undefined
            ? e.size
            : (target[z] ?? live[z] ?? (Object.keys(live).length > 0 ? fill : base.initialNodeCount));
    }
    const wanted = clampToAutoscaling(asked, base.locations, base.autoscaling);
    const granted = this.#grant({ ...base, nodeCountPerZone: live }, wanted);
    const stockout = granted.short.length > 0 ? this.#stockout(base, wanted, granted, op.phaseMs) : undefined;
    const total = sumOf(granted.live);
    this.#put({
      ...base,
      status: stockout
        ? total === 0
          ? NodePoolStatus.ERROR
          : NodePoolStatus.RUNNING_WITH_ERROR
        : NodePoolStatus.RUNNING,
      nodeCountPerZone: granted.live,
      targetNodeCountPerZone: wanted,
      currentNodeCount: total,
      instanceGroupUrls: base.locations.map(
        (z) =>
          `https://www.googleapis.com/compute/v1/projects/${this.project}/zones/${z}/instanceGroupManagers/gke-${this.cluster}-${base.name}-grp`,
      ),
      etag: newEtag(),
      ...(stockout ? { statusMessage: stockout.message, conditions: [stockout.condition] } : {}),
    });
    if (!stockout) {
      const put = this.#pool(base.name);
      delete put.statusMessage;
      delete put.conditions;
      return;
    }
    op.error = stockout.error;
    op.nodepoolConditions = [stockout.condition];
  }

  /**
   * The instance groups keep trying to create the VMs a stockout refused: when capacity rules
   * change, pools left short get what the zones give now, and leave the error state once full.
   */
  #retryShortPools(): void {
    this.settle();
    let changed = false;
    for (const pool of this.#state.nodePools) {
      const short = pool.status === NodePoolStatus.ERROR || pool.status === NodePoolStatus.RUNNING_WITH_ERROR;
      if (!short || !pool.targetNodeCountPerZone) continue;
      const granted = this.#grant(pool, pool.targetNodeCountPerZone);
      if (!sameCounts(granted.live, pool.nodeCountPerZone, pool.locations)) {
        pool.nodeCountPerZone = granted.live;
        pool.currentNodeCount = sumOf(granted.live);
        changed = true;
      }
      if (granted.short.length === 0) {
        pool.status = NodePoolStatus.RUNNING;
        delete pool.statusMessage;
        delete pool.conditions;
        changed = true;
      } else if (sumOf(granted.live) > 0 && pool.status === NodePoolStatus.ERROR) {
        pool.status = NodePoolStatus.RUNNING_WITH_ERROR;
        changed = true;
      }
    }
    if (changed) {
      this.#save();
      this.#onChange();
    }
  }

  /** Rolls an operation's change back (cancel, injected failure). */
  #revert(e: Effect): void {
    if (e.kind === 'create') {
      this.#state.nodePools = this.#state.nodePools.filter((p) => p.name !== e.pool);
    } else {
      const now = this.#state.nodePools.find((p) => p.name === e.pool);
      this.#put({
        ...e.previous,
        status: e.previous.status,
        ...(now
          ? {
              nodeCountPerZone: now.nodeCountPerZone,
              currentNodeCount: now.currentNodeCount,
              ...(now.targetNodeCountPerZone ? { targetNodeCountPerZone: now.targetNodeCountPerZone } : {}),
            }
          : {}),
      });
    }
  }

  /**
   * What the zones give: shrinking always works; growing gets at most what each zone's capacity
   * rules leave, counting every pool's nodes there. Nodes already running are never taken away.
   */
  #grant(pool: NodePool, wanted: PerZone): { live: PerZone; short: string[] } {
    const live: PerZone = {};
    const short: string[] = [];
    const machineType = pool.config.machineType ?? '';
    const spot = isSpotPool(pool);
    for (const z of pool.locations) {
      const want = wanted[z] ?? 0;
      const have = pool.nodeCountPerZone[z] ?? 0;
      if (want <= have) {
        live[z] = want;
        continue;
      }
      let room = Number.POSITIVE_INFINITY;
      for (const rule of this.capacity.limitsFor(z, machineType, spot)) {
        const used = this.#state.nodePools
          .filter((p) => p.name !== pool.name)
          .filter((p) => rule.machineType === undefined || p.config.machineType === rule.machineType)
          .filter((p) => rule.spot === undefined || isSpotPool(p) === rule.spot)
          .reduce((n, p) => n + (p.nodeCountPerZone[z] ?? 0), have);
        room = Math.min(room, rule.limit - used);
      }
      const add = Math.max(0, Math.min(want - have, room));
      live[z] = have + add;
      if (live[z] < want) short.push(z);
    }
    return { live, short };
  }

  /**
   * A stockout as GKE reports it: the instance groups could not create every VM, the operation
   * ends DONE with RESOURCE_EXHAUSTED and a GCE_STOCKOUT condition naming each short zone, in the
   * wording of the Compute Engine error GKE passes on.
   */
  #stockout(
    pool: NodePool,
    wanted: PerZone,
    granted: { live: PerZone; short: string[] },
    phaseMs: number,
  ): { message: string; condition: StatusCondition; error: OperationError } {
    const expected = sumOf(wanted);
    const running = sumOf(granted.live);
    const zones = granted.short
      .map(
        (z) =>
          `The zone 'projects/${this.project}/zones/${z}' does not have enough resources available to fulfill the request.  '(resource type:compute)'.`,
      )
      .join(' ');
    const instance = `gke-${this.cluster}-${pool.name}-${randomBytes(4).toString('hex')}-${randomBytes(2).toString('hex')}`;
    const message =
      `Google Compute Engine: Not all instances running in IGM after ${(2 * Math.max(0, phaseMs)) / 1000}s. ` +
      `Expected ${expected}, running ${running}, transitioning ${expected - running}. ` +
      `Current errors: [GCE_STOCKOUT]: Instance '${instance}' creation failed: ${zones}`;
    return {
      message,
      condition: {
        code: StatusConditionCode.GCE_STOCKOUT,
        message,
        canonicalCode: RpcCode.RESOURCE_EXHAUSTED,
      },
      error: {
        code: RpcCode.RESOURCE_EXHAUSTED,
        message,
      },
    };
  }

  #replace(type: number, current: NodePool, next: NodePool, size?: number): Record<string, unknown> {
    const previous = structuredClone(current);
    const copy = structuredClone(next);
    current.status = NodePoolStatus.RECONCILING;
    return this.#start(type, {
      kind: 'replace',
      pool: current.name,
      previous,
      next: copy,
      ...(size === undefined ? {} : { size }),
    });
  }

  #start(operationType: number, effect: Effect): Record<string, unknown> {
    const now = this.#clock.nowMs();
    const fault = this.operationFaults.take(operationType, this.phaseMs);
    const op: StoredOperation = {
      id: `operation-${now}-${randomBytes(4).toString('hex')}`,
      operationType,
      targetLink: `${API}/${this.#poolPath(effect.pool)}`,
      startMs: now,
      phaseMs: fault.phaseMs,
      effect,
      ...(fault.error ? { failWith: fault.error } : {}),
    };
    this.#state.operations.push(op);
    // Completed operations are kept for GetOperation, but not forever.
    if (this.#state.operations.length > 500)
      this.#state.operations.splice(0, this.#state.operations.length - 500);
    this.settle();
    this.#save();
    this.#onChange();
    return this.#wireOperation(op);
  }

  #assertIdle(): void {
    const running = this.#state.operations.find((o) => o.endMs === undefined);
    if (running) throw clusterBusy(running.id, this.clusterName);
  }

  #assertAvailable(pool: NodePool): void {
    this.#assertIdle();
    if (pool.status === NodePoolStatus.STOPPING || pool.status === NodePoolStatus.PROVISIONING) {
      throw new GkeApiError('FAILED_PRECONDITION', `Node pool "${pool.name}" is not ready for this change.`);
    }
  }

  #statusOf(op: StoredOperation, now: number): number {
    if (op.endMs !== undefined || op.phaseMs <= 0) return OperationStatus.DONE;
    const elapsed = now - op.startMs;
    if (elapsed < op.phaseMs) return OperationStatus.PENDING;
    if (elapsed < 2 * op.phaseMs) return OperationStatus.RUNNING;
    return OperationStatus.DONE;
  }

  #wireOperation(op: StoredOperation): Record<string, unknown> {
    // DONE only once settled: on the system clock time moves between settle() and here, and a
    // DONE without its change applied (or its endTime) would mislead the caller.
    const due = this.#statusOf(op, this.#clock.nowMs());
    const status = op.endMs === undefined && due === OperationStatus.DONE ? OperationStatus.RUNNING : due;
    const path = `projects/${this.project}/locations/${this.location}/operations/${op.id}`;
    return {
      name: op.id,
      zone: this.location,
      location: this.location,
      operationType: op.operationType,
      status,
      selfLink: `${API}/${path}`,
      targetLink: op.targetLink,
      startTime: new Date(op.startMs).toISOString(),
      ...(op.endMs !== undefined ? { endTime: new Date(op.endMs).toISOString() } : {}),
      progress: { status },
      ...(op.error ? { error: op.error, statusMessage: op.error.message, detail: op.error.message } : {}),
      ...(op.nodepoolConditions ? { nodepoolConditions: op.nodepoolConditions } : {}),
    };
  }

  #wire(pool: NodePool): Record<string, unknown> {
    const { nodeCountPerZone: _live, targetNodeCountPerZone: _target, ...served } = structuredClone(pool);
    return served as unknown as Record<string, unknown>;
  }

  #pool(name: string): NodePool {
    const pool = this.#state.nodePools.find((p) => p.name === name);
    if (!pool) throw notFound(this.#poolPath(name));
    return pool;
  }

  #put(pool: NodePool): void {
    const i = this.#state.nodePools.findIndex((p) => p.name === pool.name);
    if (i >= 0) this.#state.nodePools[i] = pool;
    else this.#state.nodePools.push(pool);
  }

  #operation(id: string): StoredOperation {
    const op = this.#state.operations.find((o) => o.id === id);
    if (!op) throw notFound(`projects/${this.project}/locations/${this.location}/operations/${id}`);
    return op;
  }

  #poolPath(name: string): string {
    return `${this.clusterName}/nodePools/${name}`;
  }

  #normalizeConfig(config: NodeConfig): NodeConfig {
    const machineType = config.machineType || 'e2-medium';
    return {
      diskSizeGb: 100,
      diskType: 'pd-balanced',
      imageType: 'COS_CONTAINERD',
      // With Workload Identity on the cluster, new pools run the GKE metadata server by default.
      ...(this.security.workloadIdentity
        ? { workloadMetadataConfig: { mode: WorkloadMetadataMode.GKE_METADATA } }
        : {}),
      ...config,
      machineType,
      accelerators: effectiveAccelerators(machineType, config.accelerators ?? []),
    };
  }

  #load(): State {
    let text: string;
    try {
      text = readFileSync(this.#file, 'utf8');
    } catch {
      return { version: 1, nodePools: [], operations: [] };
    }
    // The file is ours; the schema only guards against a truncated or foreign file.
    const state = StateFileSchema.parse(JSON.parse(text)) as unknown as State;
    // Files written before live counts were kept: the per-zone size was in initialNodeCount.
    for (const p of state.nodePools) {
      if (p.nodeCountPerZone) continue;
      const perZone = p.locations.length > 0 ? Math.round(p.currentNodeCount / p.locations.length) : 0;
      p.nodeCountPerZone = Object.fromEntries(p.locations.map((z) => [z, perZone]));
    }
    return state;
  }

  #save(): void {
    const tmp = `${this.#file}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(this.#state, null, 2));
    renameSync(tmp, this.#file);
  }
}

function normalizeAutoscaling(a: NodePoolAutoscaling): NodePoolAutoscaling {
  // The real API drops the bounds when autoscaling is turned off.
  return a.enabled
    ? { ...a }
    : { ...a, minNodeCount: 0, maxNodeCount: 0, totalMinNodeCount: 0, totalMaxNodeCount: 0 };
}

function sumOf(counts: PerZone): number {
  return Object.values(counts).reduce((n, c) => n + c, 0);
}

function sameCounts(a: PerZone, b: PerZone, zones: readonly string[]): boolean {
  return zones.every((z) => (a[z] ?? 0) === (b[z] ?? 0));
}

function newEtag(): string {
  return randomBytes(8).toString('hex');
}

/** Spot and preemptible VMs come from Compute Engine's Spot capacity, the others from on-demand. */
function isSpotPool(pool: NodePool): boolean {
  return pool.config.spot === true || pool.config.preemptible === true;
}
