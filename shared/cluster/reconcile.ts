/**
 * What the control plane would change now so the cluster matches the policy file and the model
 * registry: every GPU pool that serves a model (node pool and Triton serving stack), planned as one
 * whole and checked against the guardrails. Pure: `inferctl plan` observes, calls this, and prints.
 *
 * Pools are only ever created or adjusted here, never deleted: a managed pool that no longer serves
 * any model is reported, because deleting it (and every node on it) is a human decision.
 */

import {
  createPlan,
  type KubernetesObject,
  type NodePool,
  nodePoolTarget,
  type ObservedCapacity,
  objectTarget,
  type Plan,
  type PlanAction,
} from '../domain/plan';
import type { ModelRecord } from '../domain/registry';
import { type ModelPolicy, type Policy, resolveModelPolicy } from '../policy';
import type { LiveObject } from '../ports/kubernetes';
import { desiredPool, type PoolDesired, placementFor } from './desired';
import { checkGuardrails, type GuardrailResult } from './guardrails';
import { LABELS, MANAGED_BY } from './names';
import { type ImmutableDifference, observedCapacityOf, planNodePoolChanges } from './nodepool';
import { planObjectChanges } from './objects';

/**
 * Stands in for an admin key that does not exist yet. It only feeds the Secret's digest in the plan
 * (Secret values are redacted before they reach a plan); apply generates the real key.
 */
export const NEW_ADMIN_KEY_PLACEHOLDER = 'generated-at-apply';

/** A GPU pool the registry says serves models: its class and the models' effective policies. */
export interface ServingPool {
  pool: string;
  gpuClassId: string;
  models: Array<ModelPolicy & { name: string }>;
}

export type PoolStatus =
  /** Serving models; its actions are in the plan. */
  | 'serving'
  /** Serving models, but its node pool differs in a field GKE cannot change in place. */
  | 'recreate-required'
  /** A managed pool that serves no model: reported, not deleted. */
  | 'unused';

export interface PoolReport {
  pool: string;
  gpuClass: string;
  status: PoolStatus;
  /** Models the registry says this pool serves (sorted). */
  models: string[];
  /** Targets of this pool's actions in the plan. */
  actions: string[];
  /** Why a pool needs attention that the plan does not give it. */
  note?: string;
  differences?: ImmutableDifference[];
}

export interface ClusterReconcileInput {
  policy: Policy;
  registry: readonly ModelRecord[];
  observed: {
    nodePools: readonly NodePool[];
    /** Live objects (those that exist) among the desired ones; others are simply absent. */
    objects: readonly LiveObject[];
    /** Live nodes per zone of fixed-size pools, by pool name (autoscaled pools need none). */
    nodeCountPerZone?: Readonly<Record<string, number>>;
  };
  /** The live Triton admin key of each pool; undefined: the Secret would be created. */
  adminKeys: Readonly<Record<string, string | undefined>>;
  /** Zones a GPU pool spans (1 for a zonal cluster). */
  zones?: number;
  clock: { nowMs(): number };
}

export interface ClusterReconcile {
  plan: Plan;
  guardrails: GuardrailResult;
  pools: PoolReport[];
  /** The guardrails' `observed` side; `describePlan` prints totals after the plan from it. */
  observedCapacity: ObservedCapacity;
}

/**
 * The pools the registry's serving versions need, by GPU class of the serving version (the class
 * the model was deployed to, which stays until it is redeployed, whatever the policy says now).
 */
export function servingPools(policy: Policy, registry: readonly ModelRecord[]): ServingPool[] {
  const byPool = new Map<string, ServingPool>();
  const sorted = [...registry].sort((a, b) => a.model.localeCompare(b.model));
  for (const record of sorted) {
    if (record.serving === undefined) continue;
    const version = record.versions[String(record.serving)];
    if (!version) continue;
    const placement = placementFor(policy, version.gpuClass);
    const entry = byPool.get(placement.pool) ?? {
      pool: placement.pool,
      gpuClassId: placement.gpuClass.id,
      models: [],
    };
    entry.models.push(resolveModelPolicy(policy, record.model));
    byPool.set(placement.pool, entry);
  }
  return [...byPool.values()].sort((a, b) => a.pool.localeCompare(b.pool));
}

/** The desired state of every serving pool; unknown admin keys get the placeholder. */
export function desiredServingPools(
  policy: Policy,
  serving: readonly ServingPool[],
  adminKeys: Readonly<Record<string, string | undefined>>,
  zones?: number,
): PoolDesired[] {
  return serving.map((s) =>
    desiredPool({
      policy,
      gpuClassId: s.gpuClassId,
      models: s.models,
      adminKey: adminKeys[s.pool] ?? NEW_ADMIN_KEY_PLACEHOLDER,
      ...(zones === undefined ? {} : { zones }),
    }),
  );
}

/** The plaintext admin key held by a live Triton admin Secret, if any. */
export function adminKeyOf(secret: unknown, key: string): string | undefined {
  if (typeof secret !== 'object' || secret === null || !('data' in secret)) return undefined;
  const data = secret.data;
  if (typeof data !== 'object' || data === null) return undefined;
  const value: unknown = (data as Record<string, unknown>)[key];
  return typeof value === 'string' && value !== ''
    ? Buffer.from(value, 'base64').toString('utf8')
    : undefined;
}

function isManaged(pool: NodePool): boolean {
  return pool.config?.labels?.[LABELS.managedBy] === MANAGED_BY;
}

/** Objects shared by pools (Namespace, ServiceAccount) are planned once: first builder wins. */
function uniqueObjects(pools: readonly PoolDesired[]): KubernetesObject[] {
  const seen = new Set<string>();
  const out: KubernetesObject[] = [];
  for (const pool of pools) {
    for (const object of pool.objects) {
      const target = objectTarget(object);
      if (seen.has(target)) continue;
      seen.add(target);
      out.push(object);
    }
  }
  return out;
}

/**
 * Node pool actions (every serving pool), then the Kubernetes objects in apply order. [] when the
 * cluster already matches. A pool that would need a recreate gets no action: the control plane
 * refuses to drop the models it serves on its own, so the report says what differs instead.
 */
export function planClusterReconcile(input: ClusterReconcileInput): ClusterReconcile {
  const { policy, observed } = input;
  const serving = servingPools(policy, input.registry);
  const desired = desiredServingPools(policy, serving, input.adminKeys, input.zones);
  const observedPools = new Map(observed.nodePools.map((p) => [p.name ?? '', p]));

  const reports: PoolReport[] = [];
  const poolActions: PlanAction[] = [];
  desired.forEach((pool, i) => {
    const models = (serving[i]?.models ?? []).map((m) => m.name);
    const count = observed.nodeCountPerZone?.[pool.pool];
    const changes = planNodePoolChanges(observedPools.get(pool.pool), pool.nodePool, {
      gpuClass: pool.gpuClass,
      ...(count === undefined ? {} : { observedNodeCountPerZone: count }),
      ...(input.zones === undefined ? {} : { zones: input.zones }),
    });
    if (changes.status === 'recreate-required') {
      reports.push({
        pool: pool.pool,
        gpuClass: pool.gpuClass.id,
        status: 'recreate-required',
        models,
        actions: [],
        note:
          `node pool must be deleted and recreated (${changes.differences.map((d) => d.field).join(', ')}); ` +
          'not planned: deleting it stops every model it serves, a human decision',
        differences: changes.differences,
      });
      return;
    }
    poolActions.push(...changes.actions);
    reports.push({
      pool: pool.pool,
      gpuClass: pool.gpuClass.id,
      status: 'serving',
      models,
      actions: changes.actions.map((a) => a.target),
    });
  });

  const objectActions = planObjectChanges(uniqueObjects(desired), observed.objects).map((action) => {
    const secret = desired.find((p) => action.target === adminSecretTarget(policy, p));
    if (secret && input.adminKeys[secret.pool] === undefined && action.before === null) {
      return { ...action, reason: 'Secret does not exist; the admin key is generated at apply time' };
    }
    return action;
  });
  for (const report of reports) {
    const pool = desired.find((p) => p.pool === report.pool);
    if (!pool) continue;
    const own = new Set(pool.objects.map(objectTarget));
    report.actions.push(...objectActions.filter((a) => own.has(a.target)).map((a) => a.target));
  }

  const desiredNames = new Set(desired.map((p) => p.pool));
  const unused = observed.nodePools
    // An on-demand pool scaleOnAlert added after a stockout is its to remove, not unused.
    .filter((p) => isManaged(p) && !desiredNames.has(p.name ?? '') && !p.config?.labels?.[LABELS.onDemandFor])
    .sort((a, b) => (a.name ?? '').localeCompare(b.name ?? ''));
  for (const pool of unused) {
    reports.push({
      pool: pool.name ?? '',
      gpuClass: pool.config?.labels?.[LABELS.gpuClass] ?? '',
      status: 'unused',
      models: [],
      actions: [],
      note: 'no serving model; not deleted: deleting a node pool is a human decision',
    });
  }

  const actions = [...poolActions, ...objectActions];
  const plan = createPlan(input.clock, planReason(policy, serving, reports), actions);
  const gpuClassOf = new Map(desired.map((p) => [p.pool, p.gpuClass]));
  const observedCapacity = observedCapacityOf(observed.nodePools, {
    gpuClassFor: (p) => gpuClassOf.get(p.name ?? ''),
    ...(observed.nodeCountPerZone === undefined ? {} : { nodeCountPerZone: observed.nodeCountPerZone }),
    ...(input.zones === undefined ? {} : { zones: input.zones }),
  });
  const guardrails = checkGuardrails(plan, observedCapacity, policy.guardrails);
  return { plan, guardrails, pools: reports, observedCapacity };
}

function adminSecretTarget(policy: Policy, pool: PoolDesired): string {
  return objectTarget({
    kind: 'Secret',
    metadata: { name: pool.adminSecret.name, namespace: policy.cluster.namespace },
  });
}

function planReason(policy: Policy, serving: readonly ServingPool[], reports: readonly PoolReport[]): string {
  const models = serving.reduce((n, s) => n + s.models.length, 0);
  let reason =
    `reconcile cluster ${policy.cluster.name} with the policy and the registry: ` +
    `${serving.length} pool(s) serving ${models} model(s)`;
  for (const r of reports) {
    if (r.status === 'unused') reason += `; ${nodePoolTarget(r.pool)} serves no model: reported, not deleted`;
    if (r.status === 'recreate-required')
      reason += `; ${nodePoolTarget(r.pool)} needs a recreate: not planned`;
  }
  return reason;
}
