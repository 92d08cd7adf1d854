/**
 * Stockout fallback, last step, pure: a Spot pool GKE could not grow (in its zones and in the
 * region's others) gets an on-demand sibling pool for the scale-out, where the rule allows it
 * (`fallback.onDemand`) and within the guardrails, priced at on-demand rates.
 *
 * The sibling (`<pool>-od`, within GKE's 40 characters) has the Spot pool's machine type,
 * accelerators, taints and labels, the same `inferplane.dev/pool` label included, so the Triton
 * Deployment's nodeSelector matches its nodes and nothing else changes; it autoscales from 0 to
 * the nodes the scale-out asked the Spot pool for, so it costs nothing once the pods it took are
 * gone. It is recorded on the target (`scaleOutOnDemand`), and `planTarget` deletes it when the
 * target returns to baseline or enters a downtime. deployModel never plans it (it plans pools by
 * name), and the cluster reconcile reports it but never deletes it.
 */
import { checkGuardrails, type Guardrails, type GuardrailViolationDetail } from '../cluster/guardrails';
import { LABELS, rfc1035Name } from '../cluster/names';
import { capacityOfNodePool, NODE_POOL_NAME_MAX } from '../cluster/nodepool';
import {
  costDelta,
  type NodePool,
  nodePoolTarget,
  type ObservedCapacity,
  type PlanAction,
} from '../domain/plan';
import { type TargetRecord, type TargetSettings, withDecision } from '../domain/target';
import type { GpuClass } from '../gpu/catalog';
import type { AlertRule } from '../policy';
import type { ObservedTarget } from '../scaling/target';
import { FUNCTION_NAME } from './decide';
import { recordWrite } from './zones';

const SUFFIX = '-od';
/** On the sibling pool (and so its nodes): the Spot pool it stands in for. */
export const ON_DEMAND_FOR_LABEL = LABELS.onDemandFor;

/** `<pool>-od`, RFC 1035, at most 40 characters (a long name is shortened with a hash, then suffixed). */
export function onDemandPoolName(spotPool: string): string {
  return `${rfc1035Name(spotPool, NODE_POOL_NAME_MAX - SUFFIX.length)}${SUFFIX}`;
}

export function isSpotPool(pool: NodePool): boolean {
  return pool.config?.spot === true || pool.config?.preemptible === true;
}

/** Nodes a pool's settings allow: the autoscaling maximum, or the fixed size over its zones. */
export function settingsNodes(settings: TargetSettings['nodePool']): number {
  if (!settings) return 0;
  return settings.autoscaling.enabled
    ? settings.autoscaling.totalMaxNodeCount
    : (settings.nodeCountPerZone ?? 0) * settings.zones;
}

/** The on-demand sibling of a Spot pool: same machines, taints and labels; autoscaling 0..maxNodes. */
export function onDemandSibling(spot: NodePool, maxNodes: number): NodePool {
  const name = onDemandPoolName(spot.name ?? '');
  const c = spot.config ?? {};
  const labels: Record<string, string> = {};
  for (const [k, v] of Object.entries(c.labels ?? {})) labels[k] = String(v ?? '');
  labels[ON_DEMAND_FOR_LABEL] = spot.name ?? '';
  const config: NonNullable<NodePool['config']> = {
    machineType: c.machineType ?? null,
    accelerators: (c.accelerators ?? []).map((a) => ({
      acceleratorCount: a.acceleratorCount ?? null,
      acceleratorType: a.acceleratorType ?? null,
      ...(a.gpuDriverInstallationConfig
        ? { gpuDriverInstallationConfig: a.gpuDriverInstallationConfig }
        : {}),
    })),
    taints: (c.taints ?? []).map((t) => ({
      key: t.key ?? null,
      value: t.value ?? null,
      effect: t.effect ?? null,
    })),
    labels,
    spot: false,
  };
  if (c.serviceAccount) config.serviceAccount = c.serviceAccount;
  if (c.oauthScopes?.length) config.oauthScopes = [...c.oauthScopes];
  if (c.workloadMetadataConfig) config.workloadMetadataConfig = { ...c.workloadMetadataConfig };
  if (c.diskSizeGb) config.diskSizeGb = c.diskSizeGb;
  if (c.diskType) config.diskType = c.diskType;
  if (c.imageType) config.imageType = c.imageType;
  return {
    name,
    config,
    initialNodeCount: 0,
    ...(spot.locations?.length ? { locations: [...spot.locations] } : {}),
    // ANY: on-demand capacity wherever a zone of the pool has it.
    autoscaling: { enabled: true, totalMinNodeCount: 0, totalMaxNodeCount: maxNodes, locationPolicy: 'ANY' },
    management: {
      autoRepair: spot.management?.autoRepair ?? true,
      autoUpgrade: spot.management?.autoUpgrade ?? true,
    },
  };
}

/** How the zone step of a stockout fallback ended. */
export type ZoneStepOutcome =
  /** The pool was widened and the new zones gave the nodes: nothing more to do. */
  | 'absorbed'
  /** Widened, but the new zones were short too. */
  | 'short-too'
  /** No zone of the cluster left to try. */
  | 'none-left'
  /** The guardrails refused the widening. */
  | 'refused'
  /** The rule does not allow other zones. */
  | 'not-allowed';

/**
 * Zones first, then on-demand: whether the on-demand step is due after the zone step, and why not.
 * Only a Spot pool has another provisioning model; the rule must allow it (`fallback.onDemand`).
 */
export function onDemandDue(input: {
  fallback: AlertRule['fallback'];
  spot: boolean;
  zones: ZoneStepOutcome;
}): { due: true } | { due: false; reason: 'ABSORBED' | 'NOT_SPOT' | 'POLICY_OFF'; message: string } {
  if (input.zones === 'absorbed') {
    return { due: false, reason: 'ABSORBED', message: 'the zones that were added have the capacity' };
  }
  if (!input.spot) {
    return { due: false, reason: 'NOT_SPOT', message: 'an on-demand pool has no other provisioning model' };
  }
  if (!input.fallback.onDemand) {
    return { due: false, reason: 'POLICY_OFF', message: 'the rule does not allow on-demand capacity' };
  }
  return { due: true };
}

export interface OnDemandInput {
  observed: ObservedTarget;
  record: TargetRecord;
  rule: Pick<AlertRule, 'name' | 'fallback'>;
  /** Zones GKE reported short for the Spot pool (the pool's own and any it was widened to). */
  short: readonly string[];
  /** The sibling as it exists now (null: none). */
  existing: NodePool | null;
  gpuClass: GpuClass | undefined;
  /** Every GPU pool, the target's Spot pool counted at the size its scale-out asked for. */
  capacity: ObservedCapacity;
  guardrails: Guardrails;
  at: { stateBucket: string; cluster: string; now: string };
}

export type OnDemandReason = 'POLICY_OFF' | 'NOT_SPOT' | 'NOT_SCALED_OUT' | 'IN_PLACE' | 'GUARDRAIL_REFUSED';

export type OnDemandDecision =
  | { ok: true; pool: string; maxNodes: number; actions: PlanAction[]; message: string }
  | { ok: false; reason: OnDemandReason; message: string; violations?: GuardrailViolationDetail[] };

/**
 * Whether and how to add on-demand capacity for a Spot target a stockout left short: the record
 * write (conditional on the generation observed) and the sibling's creation, or the raise of its
 * maximum when an earlier step made it already; or the reason not to, with the guardrails' numbers.
 */
export function planOnDemand(input: OnDemandInput): OnDemandDecision {
  const { observed, record, rule } = input;
  const spot = observed.nodePool;
  if (!rule.fallback.onDemand) {
    return {
      ok: false,
      reason: 'POLICY_OFF',
      message: `rule ${rule.name} does not allow on-demand capacity`,
    };
  }
  if (!spot || !isSpotPool(spot)) {
    return {
      ok: false,
      reason: 'NOT_SPOT',
      message: `${observed.pool} is an on-demand pool: there is no other provisioning model to fall back to`,
    };
  }
  const claim = record.scaleOut;
  const base = record.baseline?.settings.nodePool ?? null;
  const maxNodes = claim
    ? settingsNodes(overlayNodePool(base, claim.settings.nodePool)) - settingsNodes(base)
    : 0;
  if (!claim || maxNodes <= 0) {
    return {
      ok: false,
      reason: 'NOT_SCALED_OUT',
      message: `${observed.pool} asks for no nodes above its baseline`,
    };
  }
  const name = onDemandPoolName(spot.name ?? observed.pool);
  const current = input.existing ? Number(input.existing.autoscaling?.totalMaxNodeCount ?? 0) : 0;
  if (input.existing && current >= maxNodes) {
    return {
      ok: false,
      reason: 'IN_PLACE',
      message: `on-demand pool ${name} is in place (up to ${current} nodes)`,
    };
  }
  const next = withDecision(
    {
      ...record,
      // Zones the widening found short too: a restore that asks them again is told so once more.
      scaleOutZones: record.scaleOutZones
        ? {
            ...record.scaleOutZones,
            short: [...new Set([...record.scaleOutZones.short, ...input.short])].sort(),
          }
        : null,
      scaleOutOnDemand: {
        pool: name,
        maxNodes,
        short: [...new Set([...(record.scaleOutOnDemand?.short ?? []), ...input.short])].sort(),
        at: input.at.now,
      },
    },
    {
      time: input.at.now,
      function: FUNCTION_NAME,
      action: 'fallback',
      reason: `stockout of Spot pool ${observed.pool} in ${input.short.join(', ') || 'unnamed zones'}: on-demand pool ${name} for up to ${maxNodes} node(s)`,
    },
  );
  const why = `Spot capacity short in ${input.short.join(', ') || 'unnamed zones'}: on-demand for up to ${maxNodes} node(s) of ${observed.pool}`;
  const desired = onDemandSibling(spot, maxNodes);
  const capacityAfter = capacityOfNodePool(desired, input.gpuClass, { zones: observed.zones });
  let change: PlanAction;
  if (input.existing) {
    const capacityBefore = capacityOfNodePool(input.existing, input.gpuClass, { zones: observed.zones });
    change = {
      kind: 'setNodePoolAutoscaling',
      target: nodePoolTarget(name),
      before: input.existing.autoscaling ?? null,
      after: desired.autoscaling ?? { enabled: true },
      capacityBefore,
      capacityAfter,
      costDeltaPerHour: costDelta(capacityBefore, capacityAfter),
      reason: why,
    };
  } else {
    change = {
      kind: 'createNodePool',
      target: nodePoolTarget(name),
      before: null,
      after: desired,
      capacityBefore: null,
      capacityAfter,
      costDeltaPerHour: costDelta(null, capacityAfter),
      reason: why,
    };
  }
  const actions: PlanAction[] = [recordWrite(observed, next, input.at, 'on-demand fallback'), change];
  const checked = checkGuardrails(
    { createdAt: input.at.now, reason: why, actions },
    input.capacity,
    input.guardrails,
  );
  if (!checked.ok) {
    return {
      ok: false,
      reason: 'GUARDRAIL_REFUSED',
      message: `on-demand pool ${name} (up to ${maxNodes} node(s) at on-demand prices) refused by the guardrails: ${checked.violations.map((v) => v.message).join('; ')}`,
      violations: checked.violations,
    };
  }
  return {
    ok: true,
    pool: name,
    maxNodes,
    actions,
    message: `on-demand pool ${name} ${input.existing ? 'raised' : 'added'} for up to ${maxNodes} node(s)`,
  };
}

function overlayNodePool(
  base: TargetSettings['nodePool'],
  claim: TargetSettings['nodePool'],
): TargetSettings['nodePool'] {
  if (!claim) return base;
  return { ...claim, nodeCountPerZone: claim.nodeCountPerZone ?? base?.nodeCountPerZone ?? null };
}
