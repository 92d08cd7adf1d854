/**
 * inferctl plan [--policy FILE] [--json]
 *
 * Dry run of the whole control plane: observes the registry, the GKE node pools and the Kubernetes
 * objects, and prints what would change now to match the policy file. It touches nothing: the
 * dependencies below are typed down to read calls, so a write cannot even be expressed.
 */

import { connectCluster } from '../shared/adapters/cluster';
import { createStorageClient, GcsObjectStore } from '../shared/adapters/storage';
import {
  adminKeyOf,
  type ClusterReconcile,
  desiredServingPools,
  type PoolReport,
  planClusterReconcile,
  servingPools,
} from '../shared/cluster/reconcile';
import { clusterTargetOf } from '../shared/deploy/deps';
import { ModelRegistry } from '../shared/deploy/registry';
import { describePlan } from '../shared/domain/plan';
import type { ModelRecord } from '../shared/domain/registry';
import type { Policy } from '../shared/policy';
import { readPolicy } from '../shared/policy/source';
import type { KubeObjects, LiveObject } from '../shared/ports/kubernetes';
import type { NodePools } from '../shared/ports/nodepools';
import { type Clock, systemClock } from '../shared/runtime/clock';
import { type Config, type Env, loadConfig } from '../shared/runtime/config';
import { ControlPlaneError } from '../shared/runtime/errors';
import { type CommandSpec, EXIT_FAILURE, EXIT_OK, type OptionSpec, parseCommandLine } from './args';
import type { CliIo } from './io';
import { resolveTarget } from './sandbox-env';

const SPEC = {
  command: 'inferctl plan',
  description: `Shows what the control plane would change now to match the policy file and the model registry.
Changes nothing. Reads its configuration from the INFERPLANE_* environment variables.`,
  options: {
    policy: {
      type: 'string',
      value: 'FILE',
      expects: 'a policy file path or gs:// URI',
      description: 'the policy file (path or gs:// URI; default: INFERPLANE_POLICY)',
    },
    json: { type: 'boolean', description: 'print JSON only: {plan, guardrails, pools}' },
  },
  exitStatus: `Exit status: 0 nothing to do or the plan is acceptable, 3 the plan would be refused (guardrails,
or a node pool that only a delete and recreate could fix), 1 error, 2 usage error.`,
} satisfies CommandSpec<Record<string, OptionSpec>>;

/** Exit status of a plan the control plane would refuse to apply. */
export const EXIT_REFUSED = 3;

/** What `plan` may call: reads only. */
export interface PlanDeps {
  policy: Policy;
  registry: { list(): Promise<ModelRecord[]> };
  nodePools: Pick<NodePools, 'getCluster' | 'list' | 'nodeCountPerZone'>;
  kubeObjects: Pick<KubeObjects, 'get'>;
  clock: Clock;
  close(): Promise<void>;
}

/** The same production adapters (or local endpoints) deployModel uses, minus every writer. */
export async function buildPlanDeps(config: Config): Promise<PlanDeps> {
  const storage = createStorageClient({ projectId: config.project, endpoint: config.endpoints.storage });
  const objects = new GcsObjectStore(storage);
  const policy = await readPolicy(config, objects);
  const cluster = await connectCluster(clusterTargetOf(config));
  return {
    policy,
    registry: new ModelRegistry(objects, config.stateBucket),
    nodePools: cluster.nodePools,
    kubeObjects: cluster.kubeObjects,
    clock: systemClock,
    close: () => cluster.close(),
  };
}

function refOf(o: { apiVersion: string; kind: string; metadata: { name: string; namespace?: string } }) {
  return { apiVersion: o.apiVersion, kind: o.kind, name: o.metadata.name, namespace: o.metadata.namespace };
}

/** Observes everything the plan depends on (reads only), then plans. */
export async function observeAndPlan(deps: PlanDeps): Promise<ClusterReconcile> {
  const { policy } = deps;
  const [registry, nodePools, cluster] = await Promise.all([
    deps.registry.list(),
    deps.nodePools.list(),
    deps.nodePools.getCluster(),
  ]);
  const zones = Math.max(1, cluster.locations.length);

  // Object identities do not depend on the admin keys, so a first pass with none says what to read.
  const serving = servingPools(policy, registry);
  const identities = desiredServingPools(policy, serving, {}, zones);
  const refs = new Map<string, ReturnType<typeof refOf>>();
  for (const object of identities.flatMap((p) => p.objects)) {
    const ref = refOf(object);
    refs.set(`${ref.apiVersion} ${ref.kind} ${ref.namespace ?? ''} ${ref.name}`, ref);
  }
  const live = await Promise.all([...refs.values()].map((ref) => deps.kubeObjects.get(ref)));
  const objects = live.filter((o): o is LiveObject => o !== undefined);

  const adminKeys: Record<string, string | undefined> = {};
  for (const pool of identities) {
    const secret = objects.find(
      (o) =>
        o.kind === 'Secret' &&
        o.metadata.name === pool.adminSecret.name &&
        o.metadata.namespace === policy.cluster.namespace,
    );
    adminKeys[pool.pool] = adminKeyOf(secret, pool.adminSecret.key);
  }

  const nodeCountPerZone: Record<string, number> = {};
  for (const pool of nodePools) {
    if (pool.autoscaling?.enabled || !pool.name) continue;
    const count = await deps.nodePools.nodeCountPerZone(pool);
    if (count !== undefined) nodeCountPerZone[pool.name] = count;
  }

  return planClusterReconcile({
    policy,
    registry,
    observed: { nodePools, objects, nodeCountPerZone },
    adminKeys,
    zones,
    clock: deps.clock,
  });
}

/** Whether the control plane would refuse to apply this result as it stands. */
export function isRefused(result: ClusterReconcile): boolean {
  const guardrailsRefuse = result.plan.actions.length > 0 && !result.guardrails.ok;
  return guardrailsRefuse || result.pools.some((p) => p.status === 'recreate-required');
}

function describePools(pools: readonly PoolReport[]): string {
  if (pools.length === 0) return 'Pools: none serves a model, none is managed.\n';
  let out = 'Pools:\n';
  for (const p of pools) {
    const models = p.models.length > 0 ? `models: ${p.models.join(', ')}` : 'no model';
    out += `  ${p.pool}  ${p.gpuClass || '?'}  ${p.status}  ${models}  ${p.actions.length} action(s)\n`;
    if (p.note) out += `    ${p.note}\n`;
  }
  return out;
}

function describeGuardrails(result: ClusterReconcile, policy: Policy): string {
  const g = result.guardrails;
  const t = g.totals;
  const limits = policy.guardrails;
  const totals =
    `${t.gpusTotal}/${limits.maxGpusTotal} GPUs, ${t.nodesTotal}/${limits.maxNodes} nodes, ` +
    `${t.dollarsPerHour.toFixed(2)}/${limits.maxDollarsPerHour.toFixed(2)} USD/h at most`;
  if (g.ok) return `Guardrails: OK (${totals})\n`;
  let out = `Guardrails: ${result.plan.actions.length > 0 ? 'REFUSED' : 'EXCEEDED by the cluster as it is'} (${totals})\n`;
  for (const v of g.violations) out += `  - ${v.message}\n`;
  return out;
}

export async function planCommand(args: string[], io: CliIo, env: Env = process.env): Promise<number> {
  const parsed = parseCommandLine(SPEC, args, io);
  if (typeof parsed === 'number') return parsed;
  const { json, policy: policyFlag } = parsed.values;

  let deps: PlanDeps | undefined;
  let result: ClusterReconcile;
  let policy: Policy;
  try {
    // Beside a running sandbox, with no INFERPLANE_PROJECT, the plan is the sandbox's.
    const found = env.INFERPLANE_PROJECT ? env : resolveTarget(env).env;
    const config = loadConfig(policyFlag === undefined ? found : { ...found, INFERPLANE_POLICY: policyFlag });
    deps = await buildPlanDeps(config);
    policy = deps.policy;
    result = await observeAndPlan(deps);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    if (json) {
      const reason = err instanceof ControlPlaneError ? err.reason : undefined;
      io.stdout.write(`${JSON.stringify({ error: message, ...(reason ? { reason } : {}) }, null, 2)}\n`);
    }
    io.stderr.write(`${SPEC.command}: ${message}\n`);
    return EXIT_FAILURE;
  } finally {
    await deps?.close().catch(() => undefined);
  }

  const { plan, guardrails, pools } = result;
  if (json) {
    io.stdout.write(`${JSON.stringify({ plan, guardrails, pools }, null, 2)}\n`);
  } else {
    io.stdout.write(`${describePlan(plan, result.observedCapacity)}\n\n`);
    io.stdout.write(describePools(pools));
    io.stdout.write(describeGuardrails(result, policy));
    io.stdout.write('Nothing was changed: this is a dry run.\n');
  }
  return isRefused(result) ? EXIT_REFUSED : EXIT_OK;
}
