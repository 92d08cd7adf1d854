/**
 * rotateSecurity's decision, pure: from what was observed and the policy (or the bundle in force),
 * one plan and the findings of the posture checks.
 *
 * Plan order, and why:
 * 1. the NetworkPolicy set (only what differs): the new set stands before anything is removed;
 * 2. exposure repairs (apply what differs, delete managed objects of the other mode);
 * 3. per pool, the key Secret (new key added and active, or replaced keys retired), then the
 *    Deployment naming the new key ids (a rolling restart): pods find the key in the Secret first;
 * 4. the record of the bundle in force (a bundle trigger only);
 * 5. last, the prune of managed NetworkPolicies not in the set. A failure anywhere before it
 *    leaves the old set in place alongside the new one; the next tick prunes.
 */
import { placementFor, tritonInstanceFor } from '../cluster/desired';
import { LABELS } from '../cluster/names';
import { planObjectChanges } from '../cluster/objects';
import { buildTritonDeployment, tritonAdminSecretRef } from '../cluster/triton';
import { createPlan, type KubernetesObject, objectTarget, type Plan, type PlanAction } from '../domain/plan';
import type { Policy } from '../policy';
import type { LiveObject } from '../ports/kubernetes';
import { errorMessage } from '../runtime/errors';
import type { ActiveBundleRecord, SecurityBundle } from './bundle';
import { buildExposure, exposureDrift } from './exposure';
import { type Finding, sortFindings } from './findings';
import { buildKeySecret, decidePoolKeys, type FreshKeys } from './keys';
import { buildNetworkPolicySet, GOOGLE_HEALTH_CHECK_CIDRS, planNetworkPolicies } from './network';
import {
  binaryAuthorizationFindings,
  imageFindings,
  nodePoolFindings,
  type ObservedCluster,
  type ObservedNodePool,
  rolloutRefusals,
  secretAgeFindings,
  workloadIdentityFindings,
} from './posture';

export interface SecurityObservation {
  /** Triton Deployments this product manages (one per pool). */
  deployments: readonly LiveObject[];
  /** Every pod of the namespace. */
  pods: readonly LiveObject[];
  /** Every Deployment of the namespace, managed or not (their images are checked too). */
  allDeployments?: readonly LiveObject[];
  /** The key Secret of each pool (by pool), undefined when absent. */
  secrets: Readonly<Record<string, LiveObject | undefined>>;
  /** Every NetworkPolicy of the namespace. */
  networkPolicies: readonly LiveObject[];
  /** Live objects of the exposure kinds in the namespace. */
  exposure: readonly LiveObject[];
  serviceAccounts: readonly LiveObject[];
  nodePools: readonly ObservedNodePool[];
  cluster: ObservedCluster;
}

export interface SecurityDecisionInput {
  policy: Policy;
  observed: SecurityObservation;
  /** The bundle in force (the trigger's, or the recorded one), if any. */
  bundle?: { source: string; spec: SecurityBundle };
  /** A bundle being applied now: its record is written after the set. */
  recordBundle?: {
    object: { bucket: string; name: string };
    before: { generation: string } | null;
    record: ActiveBundleRecord;
  };
  nowMs: number;
  /** Fresh keys per pool, used only where a rotation starts. */
  fresh: (pool: string) => FreshKeys;
  force: boolean;
  planId?: string;
}

export interface PoolKeysSummary {
  pool: string;
  secretName: string;
  activeKeyIds: string[];
  /** Replaced keys the Secret still holds (pods may run with them). */
  previousKeyIds: string[];
  rotated: string[];
  retired: string[];
  rolls: boolean;
  note: string;
}

export interface SecurityDecision {
  plan: Plan;
  findings: Finding[];
  networkPolicySet: string;
  networkPolicies: string[];
  pruned: string[];
  keys: PoolKeysSummary[];
  exposureRepairs: string[];
  /** The Secret objects of the plan with their values (for `secretValuesOf`; never logged). */
  secretObjects: KubernetesObject[];
  notes: string[];
}

const label = (o: LiveObject, key: string): string | undefined => o.metadata.labels?.[key];

export function decideSecurity(input: SecurityDecisionInput): SecurityDecision {
  const { policy, observed } = input;
  const namespace = policy.cluster.namespace;
  const security = policy.security;
  const notes: string[] = [];
  const findings: Finding[] = [];

  // --- network policies: the bundle's spec when one is in force, else the policy file's.
  const set = buildNetworkPolicySet({
    namespace,
    spec: input.bundle?.spec.networkPolicy ?? security.networkPolicy,
    ...(security.exposure.mode === 'gateway' ? { healthCheckCidrs: GOOGLE_HEALTH_CHECK_CIDRS } : {}),
    source: input.bundle?.source ?? 'policy',
  });
  const networkActions = planNetworkPolicies(set, observed.networkPolicies);
  const applies = networkActions.filter((a) => a.kind === 'applyObject');
  const prunes = networkActions.filter((a) => a.kind === 'deleteObject');

  // --- pools, from the live Deployments
  const pools: Array<{
    pool: string;
    deployment: LiveObject;
    instance: ReturnType<typeof tritonInstanceFor>;
  }> = [];
  for (const deployment of [...observed.deployments].sort((a, b) =>
    a.metadata.name.localeCompare(b.metadata.name),
  )) {
    const pool = label(deployment, LABELS.pool);
    const gpuClass = label(deployment, LABELS.gpuClass);
    if (!pool || !gpuClass) continue;
    try {
      const placement = placementFor(policy, gpuClass);
      if (placement.pool !== pool) {
        notes.push(
          `Deployment ${deployment.metadata.name}: pool label ${pool} is not the policy's pool ${placement.pool}; left alone`,
        );
        continue;
      }
      pools.push({ pool, deployment, instance: tritonInstanceFor(policy, placement) });
    } catch (err) {
      notes.push(
        `Deployment ${deployment.metadata.name}: GPU class ${gpuClass} is not in the policy (${errorMessage(err)}); left alone`,
      );
    }
  }

  // --- exposure
  const desiredExposure = unique(pools.flatMap((p) => buildExposure(p.instance, security.exposure)));
  const exposure = exposureDrift({
    desired: desiredExposure,
    live: observed.exposure,
    policy: security.exposure,
    pools: pools.map((p) => p.pool),
  });
  findings.push(...exposure.findings);

  // --- keys, per pool
  const keyActions: PlanAction[] = [];
  const keys: PoolKeysSummary[] = [];
  const secretObjects: KubernetesObject[] = [];
  for (const { pool, deployment, instance } of pools) {
    const ref = tritonAdminSecretRef(instance);
    const secret = observed.secrets[pool];
    const poolPods = observed.pods.filter((p) => label(p, LABELS.pool) === pool);
    const decision = decidePoolKeys({
      pool,
      secret,
      deployment,
      pods: poolPods,
      policy: security.apiKeys,
      nowMs: input.nowMs,
      fresh: input.fresh(pool),
      force: input.force,
    });
    if (!decision.change) {
      keys.push({
        pool,
        secretName: ref.name,
        activeKeyIds: activeIds(decision.ring?.active),
        previousKeyIds: previousIds(decision.ring),
        rotated: [],
        retired: [],
        rolls: false,
        note: decision.reason,
      });
      continue;
    }
    const desiredDeployment = buildTritonDeployment({ ...instance, keyIds: decision.ring.active });
    const refusals = decision.rolls ? rolloutRefusals(desiredDeployment, security.posture) : [];
    if (refusals.length > 0) {
      findings.push({
        check: 'ROLLOUT_REFUSED',
        severity: 'error',
        target: objectTarget(desiredDeployment),
        message: `key rotation of pool ${pool} refused: the rollout would run images the posture policy forbids (${refusals.join('; ')})`,
      });
      keys.push({
        pool,
        secretName: ref.name,
        activeKeyIds: activeIds(decision.ring.active),
        previousKeyIds: previousIds(decision.ring),
        rotated: [],
        retired: [],
        rolls: false,
        note: 'rollout refused by the posture policy',
      });
      continue;
    }
    const secretObject = buildKeySecret(ref.name, namespace, decision.ring);
    secretObjects.push(secretObject);
    const live = [secret, deployment].filter((o): o is LiveObject => o !== undefined);
    const changes = planObjectChanges(
      [secretObject, ...(decision.rolls ? [desiredDeployment] : [])],
      live,
    ).map((a) => ({ ...a, reason: `${decision.reason}: ${a.reason}` }));
    keyActions.push(...changes);
    keys.push({
      pool,
      secretName: ref.name,
      activeKeyIds: activeIds(decision.ring.active),
      previousKeyIds: previousIds(decision.ring),
      rotated: decision.rotated.map((p) => decision.ring.active[p] ?? p),
      retired: decision.retired,
      rolls: decision.rolls,
      note: decision.reason,
    });
  }

  // --- posture
  findings.push(
    ...imageFindings(
      [...(observed.allDeployments ?? observed.deployments), ...observed.pods],
      security.posture,
    ),
    ...workloadIdentityFindings(
      observed.serviceAccounts,
      pools.map((p) => p.instance.serviceAccountName ?? 'triton'),
      namespace,
      security.posture,
    ),
    ...nodePoolFindings(observed.nodePools),
    ...binaryAuthorizationFindings(observed.cluster, security.posture),
    ...secretAgeFindings(
      Object.values(observed.secrets).filter((s): s is LiveObject => s !== undefined),
      security.apiKeys.rotateEveryDays,
      input.nowMs,
    ),
  );

  const record: PlanAction[] = input.recordBundle
    ? [
        {
          kind: 'writeStorageObject',
          target: `gs://${input.recordBundle.object.bucket}/${input.recordBundle.object.name}`,
          costDeltaPerHour: 0,
          reason: `security bundle ${input.bundle?.source ?? ''} is in force`,
          before: input.recordBundle.before,
          after: {
            object: input.recordBundle.object,
            text: `${JSON.stringify(input.recordBundle.record)}\n`,
            contentType: 'application/json',
          },
        },
      ]
    : [];
  const actions = [...applies, ...exposure.actions, ...keyActions, ...record, ...prunes];
  const reason =
    `security tick for namespace ${namespace}: network policy set ${set.version}` +
    `${input.bundle ? ` from ${input.bundle.source}` : ''}, ${pools.length} pool(s), ${findings.length} finding(s)`;
  return {
    plan: createPlan({ nowMs: () => input.nowMs }, reason, actions, input.planId),
    findings: sortFindings(findings),
    networkPolicySet: set.version,
    networkPolicies: set.objects.map((o) => o.metadata.name),
    pruned: prunes.map((a) => a.target),
    keys,
    exposureRepairs: exposure.actions.map((a) => a.target),
    secretObjects,
    notes,
  };
}

function activeIds(active: { admin: string; inference?: string } | undefined): string[] {
  if (!active) return [];
  return [active.admin, ...(active.inference === undefined ? [] : [active.inference])];
}

function previousIds(
  ring: { keys: Readonly<Record<string, string>>; active: { admin: string; inference?: string } } | undefined,
): string[] {
  if (!ring) return [];
  const active = activeIds(ring.active);
  return Object.keys(ring.keys)
    .filter((id) => !active.includes(id))
    .sort();
}

function unique(objects: readonly KubernetesObject[]): KubernetesObject[] {
  const seen = new Set<string>();
  return objects.filter((o) => {
    const t = objectTarget(o);
    if (seen.has(t)) return false;
    seen.add(t);
    return true;
  });
}
