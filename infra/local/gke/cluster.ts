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
import type { Clock } from '../../../shared/runtime/clock';
import { clusterBusy, GkeApiError, invalidArgument, notFound } from './errors';
import {
  autoscalingProblems,
  ClusterStatus,
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
  poolNameProblems,
  settledPerZoneCount,
  type UpdateNodePoolRequest,
} from './model';

const API = 'https://container.googleapis.com/v1';
const NODE_VERSION = '1.31.5-gke.1233000';

type Effect =
  | { kind: 'create'; pool: string }
  | { kind: 'delete'; pool: string; previous: NodePool }
  | { kind: 'replace'; pool: string; previous: NodePool; next: NodePool };

interface StoredOperation {
  id: string;
  operationType: number;
  targetLink: string;
  startMs: number;
  phaseMs: number;
  effect: Effect;
  /** Set once the effect was applied (DONE) or reverted (cancelled). */
  endMs?: number;
  error?: { code: number; message: string };
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

export interface ClusterOptions {
  dir: string;
  project: string;
  location: string;
  cluster: string;
  operationPhaseMs: number;
  clock: Clock;
}

export class EmulatedCluster {
  readonly project: string;
  readonly location: string;
  readonly cluster: string;
  readonly clusterName: string;
  readonly defaultZones: string[];
  phaseMs: number;
  readonly #clock: Clock;
  readonly #file: string;
  #state: State;
  readonly #createdMs: number;

  constructor(o: ClusterOptions) {
    this.project = o.project;
    this.location = o.location;
    this.cluster = o.cluster;
    this.clusterName = `projects/${o.project}/locations/${o.location}/clusters/${o.cluster}`;
    this.defaultZones = isZone(o.location) ? [o.location] : [`${o.location}-a`];
    this.phaseMs = o.operationPhaseMs;
    this.#clock = o.clock;
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
      endpoint: '127.0.0.1',
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
    return this.#replace(OperationType.SET_NODE_POOL_SIZE, current, {
      ...current,
      initialNodeCount: nodeCount,
    });
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
    const e = op.effect;
    if (e.kind === 'create') {
      this.#state.nodePools = this.#state.nodePools.filter((p) => p.name !== e.pool);
    } else {
      this.#put({ ...e.previous, status: NodePoolStatus.RUNNING });
    }
    op.endMs = this.#clock.nowMs();
    op.error = { code: 1, message: 'Operation was cancelled.' };
    this.#save();
  }

  /** Applies every operation whose time has come. Idempotent; called before every read. */
  settle(): void {
    const now = this.#clock.nowMs();
    let changed = false;
    for (const op of this.#state.operations) {
      if (op.endMs !== undefined || this.#statusOf(op, now) !== OperationStatus.DONE) continue;
      this.#apply(op.effect);
      op.endMs = op.startMs + 2 * op.phaseMs;
      changed = true;
    }
    if (changed) this.#save();
  }

  // ---- internals ----

  #apply(e: Effect): void {
    if (e.kind === 'delete') {
      this.#state.nodePools = this.#state.nodePools.filter((p) => p.name !== e.pool);
      return;
    }
    const base = e.kind === 'create' ? this.#state.nodePools.find((p) => p.name === e.pool) : e.next;
    if (!base) return;
    const perZone = settledPerZoneCount(base);
    this.#put({
      ...base,
      status: NodePoolStatus.RUNNING,
      initialNodeCount: perZone,
      currentNodeCount: perZone * base.locations.length,
      instanceGroupUrls: base.locations.map(
        (z) =>
          `https://www.googleapis.com/compute/v1/projects/${this.project}/zones/${z}/instanceGroupManagers/gke-${this.cluster}-${base.name}-grp`,
      ),
      etag: newEtag(),
    });
  }

  #replace(type: number, current: NodePool, next: NodePool): Record<string, unknown> {
    const previous = structuredClone(current);
    current.status = NodePoolStatus.RECONCILING;
    return this.#start(type, { kind: 'replace', pool: current.name, previous, next: structuredClone(next) });
  }

  #start(operationType: number, effect: Effect): Record<string, unknown> {
    const now = this.#clock.nowMs();
    const op: StoredOperation = {
      id: `operation-${now}-${randomBytes(4).toString('hex')}`,
      operationType,
      targetLink: `${API}/${this.#poolPath(effect.pool)}`,
      startMs: now,
      phaseMs: this.phaseMs,
      effect,
    };
    this.#state.operations.push(op);
    // Completed operations are kept for GetOperation, but not forever.
    if (this.#state.operations.length > 500)
      this.#state.operations.splice(0, this.#state.operations.length - 500);
    this.settle();
    this.#save();
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
    const status = this.#statusOf(op, this.#clock.nowMs());
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
      ...(op.error ? { error: op.error, statusMessage: op.error.message } : {}),
    };
  }

  #wire(pool: NodePool): Record<string, unknown> {
    return structuredClone(pool) as unknown as Record<string, unknown>;
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
    const parsed = StateFileSchema.parse(JSON.parse(text));
    return parsed as unknown as State;
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

function newEtag(): string {
  return randomBytes(8).toString('hex');
}
