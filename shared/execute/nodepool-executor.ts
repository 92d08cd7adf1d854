/**
 * Applies node pool actions to GKE safely. GKE runs one mutating operation per cluster, operations
 * take minutes, and a Cloud Run function may die at any point; so every step starts from observed
 * state: a re-run after a crash resumes where the last one stopped, without duplicate pools or
 * duplicate operations.
 */

import type {
  CreateNodePoolAction,
  DeleteNodePoolAction,
  NodePoolAutoscaling,
  NodePoolLabelsAndTaints,
  PlanAction,
  SetNodePoolAutoscalingAction,
  SetNodePoolLocationsAction,
  SetNodePoolSizeAction,
  UpdateNodePoolAction,
} from '../domain/plan';
import {
  ClusterBusyError,
  type ClusterOperation,
  type NodePool,
  NodePoolNotFoundError,
  NodePoolStockoutError,
  type NodePools,
  stockoutOf,
} from '../ports/nodepools';
import { type Backoff, backoffDelayMs, withJitter } from '../runtime/backoff';
import { type Clock, systemClock } from '../runtime/clock';
import { type ControlPlaneError, PermanentError, RetryableError } from '../runtime/errors';
import type { Logger } from '../runtime/log';
import { type ActionRunner, type Precondition, StaleStateError } from './executor';

export type NodePoolAction =
  | CreateNodePoolAction
  | SetNodePoolAutoscalingAction
  | SetNodePoolSizeAction
  | UpdateNodePoolAction
  | SetNodePoolLocationsAction
  | DeleteNodePoolAction;

const NODE_POOL_KINDS = new Set<string>([
  'createNodePool',
  'setNodePoolAutoscaling',
  'setNodePoolSize',
  'updateNodePool',
  'setNodePoolLocations',
  'deleteNodePool',
]);

export function isNodePoolAction(action: PlanAction): action is NodePoolAction {
  return NODE_POOL_KINDS.has(action.kind);
}

// ---------------------------------------------------------------------------------------------
// Pure helpers

/** Operation polling in production: GPU pools take minutes, so 10 s between polls at most. */
export const PRODUCTION_POLL: Backoff = { initialMs: 1_000, factor: 1.5, maxMs: 10_000 };
/** Retry of a busy cluster; Terraform and gcloud users retry every ~10 s. */
export const PRODUCTION_BUSY_RETRY: Backoff = { initialMs: 2_000, factor: 1.5, maxMs: 10_000 };
/** Below the 9 minute limit of event-driven Cloud Run functions; a redelivery resumes the wait. */
export const DEFAULT_DEADLINE_MS = 8 * 60_000;

const TRANSIENT_OPERATION_CODES = new Set([4, 8, 10, 13, 14]);

export type OperationOutcome =
  | { state: 'running' }
  | { state: 'succeeded' }
  | { state: 'failed'; error: ControlPlaneError };

/** A DONE operation with an error or a status message failed; transient error codes may be retried. */
export function operationOutcome(op: ClusterOperation): OperationOutcome {
  if (op.status !== 'DONE') return { state: 'running' };
  if (!op.error && !op.statusMessage) return { state: 'succeeded' };
  const message = op.error?.message || op.statusMessage;
  const code = op.error?.code ?? 0;
  const details = { operation: op.name, operationType: op.operationType, pool: op.pool, code };
  const text = `operation ${op.name} (${op.operationType}${op.pool ? ` on node pool ${op.pool}` : ''}) failed: ${message}`;
  const stockout = stockoutOf(message);
  if (stockout)
    return { state: 'failed', error: new NodePoolStockoutError(text, stockout.zones, { details }) };
  const error = TRANSIENT_OPERATION_CODES.has(code)
    ? new RetryableError('OPERATION_FAILED', text, { details })
    : new PermanentError('OPERATION_FAILED', text, { details });
  return { state: 'failed', error };
}

const LOCATION_POLICIES = ['LOCATION_POLICY_UNSPECIFIED', 'BALANCED', 'ANY'];
const TAINT_EFFECTS = ['EFFECT_UNSPECIFIED', 'NO_SCHEDULE', 'PREFER_NO_SCHEDULE', 'NO_EXECUTE'];

function enumName(value: unknown, names: readonly string[]): string {
  if (typeof value === 'number') return names[value] ?? String(value);
  if (typeof value === 'string' && /^\d+$/.test(value)) return names[Number(value)] ?? value;
  return typeof value === 'string' ? value : (names[0] ?? '');
}

function autoscalingKey(a: NodePoolAutoscaling | null | undefined): string {
  if (!a?.enabled) return 'off';
  return [
    Number(a.totalMinNodeCount ?? 0),
    Number(a.totalMaxNodeCount ?? 0),
    enumName(a.locationPolicy, LOCATION_POLICIES),
  ].join('/');
}

function labelsAndTaintsKey(meta: NodePoolLabelsAndTaints): string {
  const labels = Object.entries(meta.labels).sort(([a], [b]) => a.localeCompare(b));
  const taints = meta.taints
    .map((t) => `${t.key}=${t.value}:${enumName(t.effect, TAINT_EFFECTS)}`)
    .sort((a, b) => a.localeCompare(b));
  return JSON.stringify({ labels, taints });
}

function observedLabelsAndTaints(pool: NodePool): NodePoolLabelsAndTaints {
  return {
    labels: Object.fromEntries(
      Object.entries(pool.config?.labels ?? {}).map(([k, v]) => [k, String(v ?? '')]),
    ),
    taints: (pool.config?.taints ?? []).map((t) => ({
      key: t.key ?? '',
      value: t.value ?? '',
      effect: enumName(t.effect, TAINT_EFFECTS),
    })),
  };
}

/**
 * Whether observed state already has what the action asks for, so a re-run after a crash skips
 * it. A pool that exists satisfies a create even if it differs: the next reconcile plans the rest.
 */
export function isActionSatisfied(
  action: NodePoolAction,
  observed: NodePool | undefined,
  nodeCountPerZone: number | undefined,
): boolean {
  switch (action.kind) {
    case 'createNodePool':
      return observed !== undefined;
    case 'deleteNodePool':
      return observed === undefined;
    case 'setNodePoolAutoscaling':
      return observed !== undefined && autoscalingKey(observed.autoscaling) === autoscalingKey(action.after);
    case 'setNodePoolSize':
      return (
        observed !== undefined &&
        !observed.autoscaling?.enabled &&
        nodeCountPerZone === action.after.nodeCountPerZone
      );
    case 'updateNodePool':
      return (
        observed !== undefined &&
        labelsAndTaintsKey(observedLabelsAndTaints(observed)) === labelsAndTaintsKey(action.after)
      );
    case 'setNodePoolLocations':
      return (
        observed !== undefined && locationsKey(observed.locations) === locationsKey(action.after.locations)
      );
  }
}

function locationsKey(locations: readonly string[] | null | undefined): string {
  return [...(locations ?? [])].sort().join(',');
}

/** Whether observed state is still what the action was planned against (its `before`). */
export function matchesBefore(
  action: NodePoolAction,
  observed: NodePool | undefined,
  nodeCountPerZone: number | undefined,
): boolean {
  switch (action.kind) {
    case 'createNodePool':
      return observed === undefined;
    case 'deleteNodePool':
      return observed !== undefined;
    case 'setNodePoolAutoscaling':
      return observed !== undefined && autoscalingKey(observed.autoscaling) === autoscalingKey(action.before);
    case 'setNodePoolSize':
      // An unknown count (the v1 NodePool does not carry it) was planned as unknown.
      return (
        observed !== undefined &&
        (action.before.nodeCountPerZone === null ||
          nodeCountPerZone === undefined ||
          nodeCountPerZone === action.before.nodeCountPerZone)
      );
    case 'updateNodePool':
      return (
        observed !== undefined &&
        labelsAndTaintsKey(observedLabelsAndTaints(observed)) === labelsAndTaintsKey(action.before)
      );
    case 'setNodePoolLocations':
      return (
        observed !== undefined && locationsKey(observed.locations) === locationsKey(action.before.locations)
      );
  }
}

export function poolOfAction(action: NodePoolAction): string {
  if (action.kind === 'createNodePool' && action.after.name) return action.after.name;
  return action.target.startsWith('nodePool/') ? action.target.slice('nodePool/'.length) : action.target;
}

const TRANSITIONAL_POOL_STATUSES = new Set(['PROVISIONING', 'RECONCILING', 'STOPPING']);

// ---------------------------------------------------------------------------------------------
// Per-cluster mutex: two reconciles in one instance (concurrent events) never interleave.

const clusterLocks = new Map<string, Promise<void>>();

export async function withClusterLock<T>(cluster: string, fn: () => Promise<T>): Promise<T> {
  const previous = clusterLocks.get(cluster) ?? Promise.resolve();
  let release: () => void = () => {};
  const held = new Promise<void>((resolve) => {
    release = resolve;
  });
  const tail = previous.then(() => held);
  clusterLocks.set(cluster, tail);
  await previous;
  try {
    return await fn();
  } finally {
    release();
    if (clusterLocks.get(cluster) === tail) clusterLocks.delete(cluster);
  }
}

// ---------------------------------------------------------------------------------------------
// Executor

export interface ExecutedStep {
  index: number;
  action: NodePoolAction;
  pool: string;
  /** `skipped`: observed state already satisfied the action. */
  outcome: 'applied' | 'skipped';
  operation?: ClusterOperation;
  /** GetOperation calls made while waiting. */
  polls: number;
  /** Mutations refused because the cluster was busy. */
  busyRetries: number;
}

export interface StepEvent {
  phase: 'started' | 'done';
  step: number;
  action: NodePoolAction;
  operation: ClusterOperation;
}

export interface NodePoolExecutorOptions {
  nodePools: NodePools;
  log: Logger;
  clock?: Clock;
  poll?: Backoff;
  busyRetry?: Backoff;
  /** Budget for one reconcile/apply call, waits included. */
  deadlineMs?: number;
  random?: () => number;
  /** Called after an operation started and after it finished; tests use it to simulate a crash. */
  onStep?: (event: StepEvent) => void | Promise<void>;
}

export class NodePoolExecutor {
  readonly #pools: NodePools;
  readonly #log: Logger;
  readonly #clock: Clock;
  readonly #poll: Backoff;
  readonly #busy: Backoff;
  readonly #deadlineMs: number;
  #applied = 0;
  readonly #random: () => number;
  readonly #onStep: NodePoolExecutorOptions['onStep'];

  constructor(o: NodePoolExecutorOptions) {
    this.#pools = o.nodePools;
    this.#log = o.log.child({ fields: { cluster: o.nodePools.clusterName } });
    this.#clock = o.clock ?? systemClock;
    this.#poll = o.poll ?? PRODUCTION_POLL;
    this.#busy = o.busyRetry ?? PRODUCTION_BUSY_RETRY;
    this.#deadlineMs = o.deadlineMs ?? DEFAULT_DEADLINE_MS;
    this.#random = o.random ?? Math.random;
    this.#onStep = o.onStep;
  }

  /**
   * Where live state stands against one planned action: already as `after` (done), as `before`
   * (ready), or changed since the plan (stale). Waits for an operation still running on the pool
   * first (one left by a crashed run), so its change is observed instead of requested twice.
   */
  async check(action: NodePoolAction): Promise<Precondition> {
    const deadline = this.#clock.nowMs() + this.#deadlineMs;
    const name = poolOfAction(action);
    const observed = await this.#waitUntilPoolIdle(name, deadline);
    const count = await this.#countFor(action, observed);
    if (isActionSatisfied(action, observed, count)) {
      return { state: 'done', reason: 'observed state already satisfies it' };
    }
    return matchesBefore(action, observed, count)
      ? { state: 'ready' }
      : { state: 'stale', reason: 'the node pool changed since the plan' };
  }

  /**
   * Applies one action of a plan already checked by the guardrails: starts its operation (retrying
   * a busy cluster and transient failures with jitter) and waits for it, within the deadline.
   */
  run(action: NodePoolAction): Promise<ExecutedStep> {
    const deadline = this.#clock.nowMs() + this.#deadlineMs;
    const name = poolOfAction(action);
    return withClusterLock(this.#pools.clusterName, async () => {
      for (let failures = 0; ; ) {
        try {
          const observed = await this.#waitUntilPoolIdle(name, deadline);
          // Checked again under the cluster lock: a concurrent run of this instance may have got
          // there first (then there is nothing to do) or changed the pool (then the plan is stale).
          const count = await this.#countFor(action, observed);
          if (isActionSatisfied(action, observed, count)) {
            this.#log.info('node pool action skipped', {
              action: action.kind,
              target: action.target,
              reason: 'observed state already satisfies it',
            });
            return { index: this.#applied, action, pool: name, outcome: 'skipped', polls: 0, busyRetries: 0 };
          }
          if (!matchesBefore(action, observed, count)) {
            throw new StaleStateError('NODE_POOL_CHANGED', `node pool ${name} changed since the plan`);
          }
          const step = await this.#applyAction(action, this.#applied, observed, deadline);
          this.#applied += 1;
          return step;
        } catch (err) {
          await this.#backOffOrThrow(err, failures++, deadline, name);
        }
      }
    });
  }

  /** Starts the action's operation (retrying a busy cluster) and waits for it. */
  async #applyAction(
    action: NodePoolAction,
    index: number,
    observed: NodePool | undefined,
    deadline: number,
  ): Promise<ExecutedStep> {
    const name = poolOfAction(action);
    if (action.kind !== 'createNodePool' && action.kind !== 'deleteNodePool' && !observed) {
      throw new PermanentError('NODE_POOL_NOT_FOUND', `${action.kind}: node pool ${name} does not exist`, {
        details: { pool: name, action: action.kind },
      });
    }
    let busyRetries = 0;
    let operation: ClusterOperation | undefined;
    for (;;) {
      try {
        operation = await this.#mutate(action, name);
        break;
      } catch (err) {
        if (err instanceof NodePoolNotFoundError && action.kind === 'deleteNodePool') {
          return { index, action, pool: name, outcome: 'skipped', polls: 0, busyRetries };
        }
        if (!(err instanceof ClusterBusyError)) throw err;
        const delay = withJitter(backoffDelayMs(this.#busy, busyRetries), this.#random);
        if (this.#clock.nowMs() + delay >= deadline) {
          throw new RetryableError(
            'OPERATION_TIMEOUT',
            `${action.kind} on node pool ${name}: cluster still busy at the deadline` +
              `${err.operation ? ` (operation ${err.operation})` : ''}`,
            { cause: err, details: { pool: name, action: action.kind, operation: err.operation } },
          );
        }
        busyRetries += 1;
        this.#log.info('cluster busy, retrying', {
          pool: name,
          action: action.kind,
          operation: err.operation,
          attempt: busyRetries,
          delayMs: delay,
        });
        await this.#clock.sleep(delay);
      }
    }
    await this.#onStep?.({ phase: 'started', step: index, action, operation });
    const { op, polls } = await this.#waitForOperation(operation, deadline);
    const outcome = operationOutcome(op);
    if (outcome.state === 'failed') throw outcome.error;
    this.#log.info('node pool action applied', {
      action: action.kind,
      target: action.target,
      reason: action.reason,
      before: action.before,
      // The whole desired pool is in the plan; its capacity is what a reader of the log needs.
      after: action.kind === 'createNodePool' ? action.capacityAfter : action.after,
      costDeltaPerHour: action.costDeltaPerHour,
      operation: op.name,
      operationType: op.operationType,
      polls,
      busyRetries,
    });
    await this.#onStep?.({ phase: 'done', step: index, action, operation: op });
    return { index, action, pool: name, outcome: 'applied', operation: op, polls, busyRetries };
  }

  async #mutate(action: NodePoolAction, name: string): Promise<ClusterOperation> {
    switch (action.kind) {
      case 'createNodePool':
        return this.#pools.create(action.after);
      case 'deleteNodePool':
        return this.#pools.delete(name);
      case 'setNodePoolAutoscaling':
        return this.#pools.setAutoscaling(name, action.after);
      case 'setNodePoolSize':
        return this.#pools.setSize(name, action.after.nodeCountPerZone);
      case 'updateNodePool':
        return this.#pools.update(name, { labels: action.after.labels, taints: action.after.taints });
      case 'setNodePoolLocations':
        return this.#pools.update(name, { locations: action.after.locations });
    }
  }

  /** Polls until DONE; a poll that fails transiently is just tried again. */
  async #waitForOperation(
    start: ClusterOperation,
    deadline: number,
  ): Promise<{ op: ClusterOperation; polls: number }> {
    let op = start;
    let polls = 0;
    while (op.status !== 'DONE') {
      const now = this.#clock.nowMs();
      if (now >= deadline) {
        throw new RetryableError(
          'OPERATION_TIMEOUT',
          `operation ${op.name} (${op.operationType}${op.pool ? ` on node pool ${op.pool}` : ''}) still ${op.status} at the deadline`,
          {
            details: {
              operation: op.name,
              operationType: op.operationType,
              pool: op.pool,
              status: op.status,
            },
          },
        );
      }
      await this.#clock.sleep(Math.min(backoffDelayMs(this.#poll, polls), deadline - now));
      polls += 1;
      try {
        op = await this.#pools.getOperation(op.path);
      } catch (err) {
        if (!(err instanceof RetryableError)) throw err;
        this.#log.warn('operation poll failed, polling again', { operation: op.name, error: err });
      }
    }
    return { op, polls };
  }

  /**
   * An operation on this pool that is still running (typically started by a run that crashed) is
   * waited for before anything is planned, so its change is observed instead of being requested twice.
   */
  /** The live node count, where the action depends on it (only a fixed size does). */
  async #countFor(action: NodePoolAction, observed: NodePool | undefined): Promise<number | undefined> {
    if (!observed || action.kind !== 'setNodePoolSize') return undefined;
    return this.#pools.nodeCountPerZone(observed);
  }

  /**
   * Waits for operations running on the pool and for a transitional status to pass; returns the
   * pool as then read (undefined: it does not exist).
   */
  async #waitUntilPoolIdle(name: string, deadline: number): Promise<NodePool | undefined> {
    const running = (await this.#pools.listRunningOperations()).filter((op) => op.pool === name);
    for (const op of running) {
      this.#log.info('waiting for an operation already running on the node pool', {
        pool: name,
        operation: op.name,
        operationType: op.operationType,
      });
      const { op: done } = await this.#waitForOperation(op, deadline);
      const outcome = operationOutcome(done);
      if (outcome.state === 'failed') {
        // Its change did not happen; planning from observed state requests it again if still needed.
        this.#log.warn('earlier operation on the node pool failed', { pool: name, error: outcome.error });
      }
    }
    // A pool can be in transition without a visible operation (an auto-repair, an auto-upgrade).
    for (let attempt = 0; ; attempt++) {
      const pool = await this.#pools.get(name);
      const status = String(pool?.status ?? '');
      if (!pool || !TRANSITIONAL_POOL_STATUSES.has(status)) return pool;
      const now = this.#clock.nowMs();
      if (now >= deadline) {
        throw new RetryableError('OPERATION_TIMEOUT', `node pool ${name} still ${status} at the deadline`, {
          details: { pool: name, status },
        });
      }
      await this.#clock.sleep(Math.min(backoffDelayMs(this.#poll, attempt), deadline - now));
    }
  }

  /** Transient failures are retried from freshly observed state until the deadline. */
  async #backOffOrThrow(err: unknown, attempt: number, deadline: number, pool: string): Promise<void> {
    if (
      !(err instanceof RetryableError) ||
      err instanceof StaleStateError ||
      err instanceof NodePoolStockoutError ||
      err.reason === 'OPERATION_TIMEOUT'
    )
      throw err;
    const delay = withJitter(backoffDelayMs(this.#busy, attempt), this.#random);
    if (this.#clock.nowMs() + delay >= deadline) throw err;
    this.#log.warn('node pool step failed, retrying from observed state', {
      pool,
      error: err,
      delayMs: delay,
    });
    await this.#clock.sleep(delay);
  }
}

/** The executor's runner for node pool actions. */
export class NodePoolRunner implements ActionRunner<NodePoolAction> {
  readonly kinds = [
    'createNodePool',
    'setNodePoolAutoscaling',
    'setNodePoolSize',
    'updateNodePool',
    'setNodePoolLocations',
    'deleteNodePool',
  ] as const;
  constructor(private readonly executor: NodePoolExecutor) {}
  check(action: NodePoolAction): Promise<Precondition> {
    return this.executor.check(action);
  }
  apply(action: NodePoolAction): Promise<ExecutedStep> {
    return this.executor.run(action);
  }
}
