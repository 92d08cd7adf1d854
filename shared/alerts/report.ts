/**
 * Pure helpers between scaleOnAlert's decisions and the outside: the capacity the guardrails count
 * from, the changes an applied plan reports, and the outbound events.
 */
import { buildOutboundEvent, type OutboundEventData } from '../../events/outbound';
import type { GuardrailViolationDetail } from '../cluster/guardrails';
import { LABELS } from '../cluster/names';
import { observedCapacityOf } from '../cluster/nodepool';
import type { NodePool, ObservedCapacity, PlanAction } from '../domain/plan';
import { type GpuClass, resolveGpuClass } from '../gpu/catalog';
import type { Policy } from '../policy';
import type { OutboundCloudEvent } from '../runtime/events';
import type { AlertAction, AlertSkipReason } from './decide';
import type { SkipReasonCode } from './parse';

/** A pool's GPU class (its `inferplane.dev/gpu-class` label), priced with the policy's overrides. */
export function gpuClassForPolicy(policy: Policy): (pool: NodePool) => GpuClass | undefined {
  return (pool) => {
    const id = pool.config?.labels?.[LABELS.gpuClass];
    if (!id) return undefined;
    try {
      return resolveGpuClass(id, policy.gpuClasses);
    } catch {
      return undefined;
    }
  };
}

/** What the cluster may cost now: every GPU pool, fixed-size ones at the count observed. */
export function observedCapacityForTarget(
  pools: readonly NodePool[],
  policy: Policy,
  target: { pool: string; nodeCountPerZone: number | null },
  zones: number,
): ObservedCapacity {
  return observedCapacityOf(pools, {
    gpuClassFor: gpuClassForPolicy(policy),
    ...(target.nodeCountPerZone === null
      ? {}
      : { nodeCountPerZone: { [target.pool]: target.nodeCountPerZone } }),
    zones,
  });
}

type ResourceChange = OutboundEventData<'dev.inferplane.scaling.v1.applied'>['actions'][number];

function hpaBounds(o: unknown): { minReplicas?: number; maxReplicas?: number } {
  return (o as { spec?: { minReplicas?: number; maxReplicas?: number } } | null)?.spec ?? {};
}

/** The cluster changes of a plan, as the scaling events report them (the record write is not one). */
export function resourceChangesOf(actions: readonly PlanAction[], clusterName: string): ResourceChange[] {
  const changes: ResourceChange[] = [];
  const poolName = (target: string) => `${clusterName}/nodePools/${target.replace(/^nodePool\//, '')}`;
  for (const a of actions) {
    switch (a.kind) {
      case 'applyObject': {
        if (a.after.kind !== 'HorizontalPodAutoscaler') break;
        const target = `${a.after.metadata.namespace ?? ''}/${a.after.metadata.name}`;
        const before = hpaBounds(a.before);
        const after = hpaBounds(a.after);
        if (after.minReplicas !== undefined && after.minReplicas !== before.minReplicas)
          changes.push({
            kind: 'hpa-min-replicas',
            target,
            from: before.minReplicas ?? null,
            to: after.minReplicas,
          });
        if (after.maxReplicas !== undefined && after.maxReplicas !== before.maxReplicas)
          changes.push({
            kind: 'hpa-replicas',
            target,
            from: before.maxReplicas ?? null,
            to: after.maxReplicas,
          });
        break;
      }
      case 'scaleWorkload':
        changes.push({
          kind: 'deployment-replicas',
          target: a.target.replace(/^Deployment\//, ''),
          from: a.before.replicas,
          to: a.after.replicas,
        });
        break;
      case 'setNodePoolAutoscaling':
        changes.push({
          kind: 'node-pool-autoscaling',
          target: poolName(a.target),
          from: a.before?.enabled ? Number(a.before.totalMaxNodeCount ?? 0) : null,
          to: a.after.enabled ? Number(a.after.totalMaxNodeCount ?? 0) : 0,
        });
        break;
      case 'setNodePoolSize':
        changes.push({
          kind: 'node-pool-size',
          target: poolName(a.target),
          from: a.before.nodeCountPerZone,
          to: a.after.nodeCountPerZone,
        });
        break;
      case 'createNodePool':
        changes.push({
          kind: 'node-pool-created',
          target: poolName(a.target),
          from: null,
          to: a.capacityAfter.maxNodes,
        });
        break;
      case 'deleteNodePool':
        changes.push({
          kind: 'node-pool-deleted',
          target: poolName(a.target),
          from: a.capacityBefore?.maxNodes ?? null,
          to: 0,
        });
        break;
      case 'setNodePoolLocations':
        changes.push({
          kind: 'node-pool-zones',
          target: poolName(a.target),
          from: a.before.locations.length,
          to: a.after.locations.length,
        });
        break;
      default:
        break;
    }
  }
  return changes;
}

/** What an event says about its trigger. */
export interface EventTrigger {
  kind: 'incident' | 'tick' | 'test' | 'other';
  incidentId?: string;
  policyName?: string;
  incidentState?: 'open' | 'closed';
  model?: string;
}

function triggerData(t: EventTrigger) {
  return {
    trigger: t.kind,
    ...(t.incidentId ? { incidentId: t.incidentId } : {}),
    ...(t.policyName ? { policyName: t.policyName } : {}),
    ...(t.incidentState ? { incidentState: t.incidentState } : {}),
    ...(t.model ? { model: t.model } : {}),
  };
}

export function appliedEvent(args: {
  source: string;
  id: string;
  time: string;
  trigger: EventTrigger;
  pool: string;
  action: AlertAction;
  rule?: string;
  dryRun: boolean;
  changes: ResourceChange[];
  fallback?: { zonesAdded: string[]; message: string };
}): OutboundCloudEvent {
  return buildOutboundEvent('dev.inferplane.scaling.v1.applied', {
    source: args.source,
    id: args.id,
    time: args.time,
    subject: `pools/${args.pool}`,
    data: {
      ...triggerData(args.trigger),
      pool: args.pool,
      decision: args.action,
      ...(args.rule ? { rule: args.rule } : {}),
      dryRun: args.dryRun,
      actions: args.changes,
      ...(args.fallback ? { fallback: args.fallback } : {}),
    },
  });
}

export function skippedEvent(args: {
  source: string;
  id: string;
  time: string;
  trigger: EventTrigger;
  pool?: string;
  rule?: string;
  reason: AlertSkipReason | SkipReasonCode | 'NO_MATCHING_RULE' | 'NO_TARGET';
  message: string;
  violations?: readonly GuardrailViolationDetail[];
}): OutboundCloudEvent {
  return buildOutboundEvent('dev.inferplane.scaling.v1.skipped', {
    source: args.source,
    id: args.id,
    time: args.time,
    ...(args.pool ? { subject: `pools/${args.pool}` } : {}),
    data: {
      ...triggerData(args.trigger),
      ...(args.pool ? { pool: args.pool } : {}),
      ...(args.rule ? { rule: args.rule } : {}),
      skipReason: args.reason,
      message: args.message,
      ...(args.violations && args.violations.length > 0
        ? {
            violations: args.violations.map((v) => ({
              guardrail: v.guardrail,
              limit: v.limit,
              actual: v.actual,
              ...(v.pool ? { pool: v.pool } : {}),
            })),
          }
        : {}),
    },
  });
}
