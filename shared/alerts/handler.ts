/**
 * scaleOnAlert: a Cloud Monitoring incident arrives on the alerts topic -> the targets its rule
 * and its alert policy's labels name are scaled out, one step per cooldown, within the
 * guardrails; a close (or, when the close is lost, the expiry swept by the schedules tick) returns
 * them to their recorded baseline once the metric confirms the pressure is gone.
 *
 * parse -> decide -> apply, per target:
 * - parse: tell a notification, a test notification, the tick and anything else apart by content;
 * - route: rule and targets (shared/alerts/route.ts);
 * - decide: observe the target with its record, read the confirming metric where a scale-in needs
 *   it, and `decideIncident` / `decideSweep` (pure) give the next record or a skip reason;
 * - apply: `planTarget` turns the next record into actions (record first, conditional on its
 *   generation), the guardrails check the plan, the executor runs it; a rival instance's write
 *   makes the executor re-plan from a fresh observation. A stockout falls back to other zones.
 * Every decision is one log line and one `scaling.applied` / `scaling.skipped` event.
 */
import { assertGuardrails, checkGuardrails, type GuardrailViolationDetail } from '../cluster/guardrails';
import type { NodePool, Plan, PlanAction } from '../domain/plan';
import {
  emptyTargetRecord,
  parseTargetRecord,
  type TargetRecord,
  targetRecordName,
  withDecision,
} from '../domain/target';
import { locationZones, observeTarget } from '../execute/targets';
import type { AlertRule } from '../policy';
import { NodePoolStockoutError } from '../ports/nodepools';
import { errorMessage } from '../runtime/errors';
import type { OutboundCloudEvent } from '../runtime/events';
import type { InvocationContext, Outcome } from '../runtime/function';
import type { ScalingDeps } from '../scaling/deps';
import { type ObservedTarget, planTarget } from '../scaling/target';
import {
  type AlertDecision,
  type AlertSkipReason,
  type Confirmation,
  confirmationOf,
  confirmRuleOf,
  decideFromRecord,
  decideIncident,
  decidePending,
  decideSweep,
  FUNCTION_NAME,
  sweepDue,
} from './decide';
import { isSpotPool, onDemandDue, onDemandPoolName, planOnDemand, type ZoneStepOutcome } from './ondemand';
import { type AlertDelivery, type AlertIncident, classifyDelivery, type SkipReasonCode } from './parse';
import {
  appliedEvent,
  type EventTrigger,
  gpuClassForPolicy,
  observedCapacityForTarget,
  resourceChangesOf,
  skippedEvent,
} from './report';
import { routeIncident } from './route';
import { locationsAction, recordWrite, widenZones } from './zones';

export { FUNCTION_NAME } from './decide';

export interface ScaleOnAlertDeps extends ScalingDeps {
  /** Targets observed at once by a tick's sweep. */
  sweepConcurrency: number;
}

/** What happened to one target. */
export interface TargetResult {
  pool: string;
  rule: string | undefined;
  outcome: 'applied' | 'skipped';
  decision: string;
  reason: AlertSkipReason | undefined;
  message: string;
  /** Plan actions run (or, in a dry run, that would run). */
  actions: PlanAction[];
  violations?: GuardrailViolationDetail[];
  fallback?: { zonesAdded: string[]; message: string; onDemand?: { pool: string; maxNodes: number } };
  dryRun: boolean;
}

const iso = (ms: number) => new Date(ms).toISOString();

export async function handleScaleOnAlert(deps: ScaleOnAlertDeps, ctx: InvocationContext): Promise<Outcome> {
  const delivery = classifyDelivery(ctx.event);
  switch (delivery.kind) {
    case 'incident':
      return handleIncident(deps, ctx, delivery.incident);
    case 'tick':
      return handleTick(deps, ctx, delivery.dryRun);
    case 'test':
      return notActedOn(deps, ctx, delivery, 'TEST_NOTIFICATION', 'test notifications are never acted on');
    case 'ignored':
      return notActedOn(deps, ctx, delivery, delivery.reason, delivery.message);
  }
}

function notActedOn(
  deps: ScaleOnAlertDeps,
  ctx: InvocationContext,
  delivery: AlertDelivery,
  reason: SkipReasonCode | 'NO_MATCHING_RULE' | 'NO_TARGET',
  message: string,
  incident?: AlertIncident,
  rule?: string,
): Outcome {
  const trigger: EventTrigger = incident
    ? triggerOf(incident)
    : delivery.kind === 'test'
      ? {
          kind: 'test',
          ...(delivery.policyName ? { policyName: delivery.policyName } : {}),
          ...(delivery.state === 'open' || delivery.state === 'closed'
            ? { incidentState: delivery.state }
            : {}),
        }
      : { kind: 'other' };
  // `detail`, not `message`: the log entry's own `message` is the line's text.
  ctx.log.info('scaling decision', {
    decision: 'skip',
    reason,
    detail: message,
    trigger,
    ...(rule ? { rule } : {}),
  });
  return {
    status: 'skipped',
    reason: `${reason}: ${message}`,
    events: [
      skippedEvent({
        source: ctx.eventSource,
        id: `${ctx.event.id}-skipped`,
        time: iso(deps.clock.nowMs()),
        trigger,
        reason,
        message,
        ...(rule ? { rule } : {}),
      }),
    ],
    details: { skipReason: reason },
  };
}

function triggerOf(incident: AlertIncident): EventTrigger {
  return {
    kind: 'incident',
    incidentId: incident.incidentId,
    ...(incident.policyName ? { policyName: incident.policyName } : {}),
    incidentState: incident.state,
    ...(incident.labels.model ? { model: incident.labels.model } : {}),
  };
}

async function handleIncident(
  deps: ScaleOnAlertDeps,
  ctx: InvocationContext,
  incident: AlertIncident,
): Promise<Outcome> {
  const route = routeIncident(deps.policy, incident);
  const delivery: AlertDelivery = { kind: 'incident', messageId: '', incident };
  if (!route.ok)
    return notActedOn(deps, ctx, delivery, route.reason, route.message, incident, route.rule?.name);
  const { rule } = route;
  const results: TargetResult[] = [];
  for (const pool of route.pools) {
    const result = await runTarget(deps, ctx, pool, {
      rule,
      decide: (observed, record, nowMs, confirmation) =>
        decideIncident({
          incident,
          rule,
          observed,
          record,
          nowMs,
          ...(confirmation ? { confirmation } : {}),
        }),
      confirmRule: rule.confirm ? rule : undefined,
      needsConfirm: (record) =>
        record.scaleOut !== null && (incident.state === 'closed' || rule.action === 'scale-in'),
      fromRecord: (record, nowMs) =>
        decideFromRecord({
          incident,
          rule,
          record,
          nowMs,
          pool,
          namespace: deps.location.namespace,
        }),
    });
    if (result) results.push(result);
  }
  return summarise(deps, ctx, triggerOf(incident), results);
}

async function handleTick(deps: ScaleOnAlertDeps, ctx: InvocationContext, dryRun: boolean): Promise<Outcome> {
  const { location } = deps;
  const prefix = targetRecordName(location.cluster, 'x').slice(0, -'x.json'.length);
  const listed = await deps.objects.list(location.stateBucket, prefix);
  const pools = listed
    .map((o) => o.name.slice(prefix.length))
    .filter((n) => n.endsWith('.json') && !n.includes('/'))
    .map((n) => n.slice(0, -'.json'.length))
    .sort();
  const results: TargetResult[] = [];
  const rulesOf = (record: TargetRecord): AlertRule[] =>
    (record.scaleOut?.rules ?? [])
      .map((name) => deps.policy.alertRules.find((r) => r.name === name))
      .filter((r): r is AlertRule => r !== undefined);
  let next = 0;
  const worker = async () => {
    for (;;) {
      const i = next++;
      if (i >= pools.length) return;
      const pool = pools[i] as string;
      const result = await runTarget(
        deps,
        ctx,
        pool,
        {
          rule: undefined,
          decide: (observed, record, nowMs, confirmation) => {
            const pendingRule = deps.policy.alertRules.find((r) => r.name === record.incidents[0]?.rule);
            if (record.scaleOut === null && pendingRule) {
              return decidePending({ observed, record, rule: pendingRule, nowMs });
            }
            return decideSweep({
              observed,
              record,
              rules: rulesOf(record),
              nowMs,
              ...(confirmation ? { confirmation } : {}),
            });
          },
          confirmRule: undefined,
          confirmRuleOf: (record) => confirmRuleOf(rulesOf(record)),
          needsConfirm: (record, nowMs) => sweepDue(record, rulesOf(record), nowMs),
          quietUnlessClaimed: true,
        },
        dryRun,
      ).catch((err: unknown): TargetResult => {
        // One unreadable target must not stop the sweep of the others; it is reported.
        ctx.log.error('target could not be swept', { pool, error: err });
        return {
          pool,
          rule: undefined,
          outcome: 'skipped',
          decision: 'skip',
          reason: 'TARGET_NOT_FOUND',
          message: errorMessage(err),
          actions: [],
          dryRun,
        };
      });
      if (result) results.push(result);
    }
  };
  await Promise.all(
    Array.from({ length: Math.max(1, Math.min(deps.sweepConcurrency, pools.length)) }, worker),
  );
  results.sort((a, b) => a.pool.localeCompare(b.pool));
  return summarise(deps, ctx, { kind: 'tick' }, results);
}

interface TargetSpec {
  rule: AlertRule | undefined;
  decide(
    observed: ObservedTarget,
    record: TargetRecord,
    nowMs: number,
    confirmation?: Confirmation,
  ): AlertDecision;
  confirmRule: AlertRule | undefined;
  /** For the tick: the confirming rule depends on the record's claim. */
  confirmRuleOf?: (record: TargetRecord) => AlertRule | undefined;
  needsConfirm(record: TargetRecord, nowMs: number): boolean;
  /** The tick reports nothing for targets without a scale-out. */
  quietUnlessClaimed?: boolean;
  /**
   * A skip decided from the stored record alone (a duplicate, a renotification, a coalesced
   * incident): the delivery then reads nothing of the cluster. Undefined: observe and decide.
   */
  fromRecord?: (record: TargetRecord, nowMs: number) => AlertDecision | undefined;
}

interface Planned {
  observed: ObservedTarget;
  decision: AlertDecision;
  plan: Plan;
  guard: (plan: Plan) => void;
  violations?: GuardrailViolationDetail[];
}

/** Reads the rule's confirm query; any failure keeps capacity (the safe side) and says so. */
export async function readConfirmation(
  deps: ScalingDeps,
  rule: AlertRule,
  nowMs: number,
): Promise<Confirmation> {
  const c = rule.confirm;
  if (!c) return { state: 'clear', value: null, message: 'no confirm query' };
  try {
    const series = await deps.metrics.readSeries({
      filter: c.filter,
      startTime: iso(nowMs - c.windowSeconds * 1000),
      endTime: iso(nowMs),
      alignment: {
        periodSeconds: c.alignmentSeconds,
        perSeriesAligner: c.aligner,
        crossSeriesReducer: c.reducer,
      },
    });
    const values = series.flatMap((s) => s.points.map((p) => p.value)).filter((v) => Number.isFinite(v));
    return confirmationOf(
      values,
      c.below,
      `the confirm metric of rule ${rule.name} over ${c.windowSeconds} s`,
    );
  } catch (err) {
    return { state: 'unavailable', message: errorMessage(err) };
  }
}

async function planFor(
  deps: ScaleOnAlertDeps,
  pool: string,
  spec: TargetSpec,
  nowMs: number,
  confirmation: { value: Confirmation | undefined; read: boolean },
): Promise<Planned> {
  const now = iso(nowMs);
  const observed = await observeTarget(deps.ports, deps.location, pool);
  const record = observed.record?.record ?? emptyTargetRecord(pool, deps.location.namespace, now);
  const confirmRule = spec.confirmRule ?? spec.confirmRuleOf?.(record);
  if (!confirmation.read && confirmRule && spec.needsConfirm(record, nowMs)) {
    confirmation.value = await readConfirmation(deps, confirmRule, nowMs);
    confirmation.read = true;
  }
  let decision = spec.decide(observed, record, nowMs, confirmation.value);
  const at = { stateBucket: deps.location.stateBucket, cluster: deps.location.cluster, now };
  // A skip writes the record alone: no capacity changes, nothing for the guardrails to count.
  let guard = (_plan: Plan) => {};
  const plan = (actions: PlanAction[]): Plan => ({
    id: `${FUNCTION_NAME}-${pool}-${nowMs}`,
    createdAt: now,
    reason: decision.message,
    actions,
  });
  if (decision.next === null) return { observed, decision, plan: plan([]), guard };
  if (decision.kind === 'skip') {
    return {
      observed,
      decision,
      plan: plan([recordWrite(observed, decision.next, at, decision.reason)]),
      guard,
    };
  }
  let next = decision.next;
  const revert: PlanAction[] = [];
  if (decision.action === 'restore' && next.scaleOutZones && observed.nodePool) {
    const zones = next.scaleOutZones;
    const live = observed.nodePool.locations ?? [];
    if (zones.added.some((z) => live.includes(z))) {
      revert.push(
        locationsAction(
          observed.nodePool,
          live.filter((z) => !zones.added.includes(z)),
          observed.nodeCountPerZone,
          gpuClassForPolicy(deps.policy)(observed.nodePool),
          `the zones added after a stockout go with the scale-out: ${decision.message}`,
        ),
      );
    }
    next = { ...next, scaleOutZones: null };
  }
  const planned = planTarget(observed, next, {
    ...at,
    gpuClassFor: gpuClassForPolicy(deps.policy),
    reason: decision.message,
  });
  const actions = [...planned.actions, ...revert];
  const capacity = observedCapacityForTarget(
    await deps.ports.nodePools.list(),
    deps.policy,
    observed,
    await locationZones(deps.location),
  );
  guard = (p: Plan) => {
    assertGuardrails(p, capacity, deps.policy.guardrails);
  };
  if (!actions.some((a) => a.kind !== 'writeStorageObject')) {
    decision = {
      kind: 'skip',
      reason: 'ALREADY_AT_TARGET',
      message: `${decision.message}: the target already has these settings`,
      next: withDecision(next, {
        time: now,
        function: FUNCTION_NAME,
        action: 'skip',
        reason: `ALREADY_AT_TARGET: ${decision.message}`,
      }),
    };
    return { observed, decision, plan: plan(planned.actions), guard };
  }
  const checked = checkGuardrails(plan(actions), capacity, deps.policy.guardrails);
  if (!checked.ok) {
    const numbers = checked.violations.map((v) => v.message).join('; ');
    // The incident is remembered (its renotifications are no-ops); the claim is not raised.
    const kept: TargetRecord = withDecision(
      {
        ...decision.next,
        scaleOut: record.scaleOut,
        wakeUntil: record.wakeUntil,
        lastScaleActionAt: record.lastScaleActionAt,
      },
      { time: now, function: FUNCTION_NAME, action: 'skip', reason: `GUARDRAIL_REFUSED: ${numbers}` },
    );
    return {
      observed,
      decision: {
        kind: 'skip',
        reason: 'GUARDRAIL_REFUSED',
        message: `${decision.message}: refused by the guardrails: ${numbers}`,
        next: kept,
      },
      plan: plan([recordWrite(observed, kept, at, 'GUARDRAIL_REFUSED')]),
      guard,
      violations: checked.violations,
    };
  }
  return { observed, decision, plan: plan(actions), guard };
}

/**
 * The cheap path of a delivery: the target's record alone. When it exists and the skip it gives
 * is one the full observation would give too, the plan is that skip's record write (or nothing);
 * a rival's write since makes the executor re-plan through `planFor`, from live state.
 */
async function planFromRecord(
  deps: ScaleOnAlertDeps,
  pool: string,
  spec: TargetSpec,
  nowMs: number,
): Promise<Planned | undefined> {
  if (!spec.fromRecord) return undefined;
  const stored = await deps.ports.store.readText({
    bucket: deps.location.stateBucket,
    name: targetRecordName(deps.location.cluster, pool),
  });
  if (!stored) return undefined;
  const parsed = parseTargetRecord(stored.text);
  // An unreadable record is reported by the full observation.
  if (!parsed.ok) return undefined;
  const decision = spec.fromRecord(parsed.record, nowMs);
  if (decision?.kind !== 'skip') return undefined;
  const observed: ObservedTarget = {
    pool,
    namespace: deps.location.namespace,
    deployment: null,
    hpa: null,
    nodePool: null,
    nodeCountPerZone: null,
    zones: 1,
    record: { record: parsed.record, generation: stored.info.generation },
  };
  const now = iso(nowMs);
  const at = { stateBucket: deps.location.stateBucket, cluster: deps.location.cluster, now };
  const actions = decision.next ? [recordWrite(observed, decision.next, at, decision.reason)] : [];
  return {
    observed,
    decision,
    plan: { id: `${FUNCTION_NAME}-${pool}-${nowMs}`, createdAt: now, reason: decision.message, actions },
    guard: () => {},
  };
}

async function runTarget(
  deps: ScaleOnAlertDeps,
  ctx: InvocationContext,
  pool: string,
  spec: TargetSpec,
  dryRunTick = false,
): Promise<TargetResult | undefined> {
  const nowMs = deps.clock.nowMs();
  const confirmation = { value: undefined as Confirmation | undefined, read: false };
  let planned =
    (await planFromRecord(deps, pool, spec, nowMs)) ?? (await planFor(deps, pool, spec, nowMs, confirmation));
  const seen = planned.observed.record?.record;
  if (spec.quietUnlessClaimed && !seen?.scaleOut && (seen?.incidents.length ?? 0) === 0) return undefined;
  const dryRun = deps.config.dryRun || dryRunTick;
  let fallback: TargetResult['fallback'];
  if (!dryRun && planned.plan.actions.length > 0) {
    // Actions done (by index of the plan that ran): a restore goes on past a zone still short.
    const done = new Set<number>();
    try {
      await deps.executor.execute(planned.plan, {
        guardrails: (p) => planned.guard(p),
        afterAction: (step) => {
          done.add(step.index);
        },
        replan: async (why) => {
          ctx.log.notice('re-planning the target from live state', { pool, why });
          planned = await planFor(deps, pool, spec, nowMs, confirmation);
          return planned.plan;
        },
      });
    } catch (err) {
      if (!(err instanceof NodePoolStockoutError)) throw err;
      const d = planned.decision;
      if (d.kind === 'act' && d.action === 'scale-out' && spec.rule) {
        fallback = await fallBack(deps, ctx, pool, spec.rule, err, nowMs);
      } else {
        // Narrowing the pool back re-asks the zones that were short: GKE says so again, but the
        // zones are removed. Anything else short is a failure worth a redelivery.
        const known = planned.observed.record?.record.scaleOutZones?.short ?? [];
        if (d.kind !== 'act' || d.action !== 'restore' || !err.zones.every((z) => known.includes(z)))
          throw err;
        ctx.log.warn('restore: GKE still reports the zones that were short', { pool, zones: err.zones });
        // The rest of the restore (the added zones removed, an on-demand pool deleted) still runs:
        // the action GKE answered short is the first node pool action not done.
        const actions = planned.plan.actions;
        const failed = actions.findIndex((a, i) => !done.has(i) && a.target.startsWith('nodePool/'));
        const rest = actions.filter((_a, i) => !done.has(i) && i !== failed);
        if (rest.length > 0) {
          await deps.executor.execute(
            { createdAt: iso(nowMs), reason: `rest of the restore: ${d.message}`, actions: rest },
            { guardrails: () => {} },
          );
        }
      }
    }
  }
  const d = planned.decision;
  const actions = planned.plan.actions;
  const result: TargetResult = {
    pool,
    rule: spec.rule?.name ?? planned.observed.record?.record.scaleOut?.rules[0],
    outcome: d.kind === 'act' ? 'applied' : 'skipped',
    decision: d.kind === 'act' ? d.action : 'skip',
    reason: d.kind === 'skip' ? d.reason : undefined,
    message: fallback ? `${d.message}; ${fallback.message}` : d.message,
    actions,
    ...(planned.violations ? { violations: planned.violations } : {}),
    ...(fallback ? { fallback } : {}),
    dryRun,
  };
  ctx.log.info('scaling decision', {
    pool,
    rule: result.rule,
    decision: result.decision,
    reason: result.reason ?? result.decision,
    detail: result.message,
    dryRun,
    actions: actions.map((a) => ({ kind: a.kind, target: a.target, reason: a.reason })),
    ...(fallback ? { fallback } : {}),
    ...(dryRun && actions.length > 0 ? { plan: planned.plan } : {}),
  });
  return result;
}

/**
 * GKE had no capacity for the scale-out in some zones. The pool keeps what it got; where the rule
 * allows, it is widened to the region's zones that were not reported short (the guardrails
 * count the new zones), and the workload part of the scale-out is applied on what there is.
 */
async function fallBack(
  deps: ScaleOnAlertDeps,
  ctx: InvocationContext,
  pool: string,
  rule: AlertRule,
  stockout: NodePoolStockoutError,
  nowMs: number,
): Promise<NonNullable<TargetResult['fallback']>> {
  const now = iso(nowMs);
  const short = stockout.zones;
  ctx.log.warn('stockout: GKE could not add the nodes', { pool, zones: short, error: stockout });
  const at = { stateBucket: deps.location.stateBucket, cluster: deps.location.cluster, now };
  let message = `stockout in ${short.join(', ') || 'unnamed zones'}`;
  let zonesAdded: string[] = [];
  // Zones short so far; when the zones cannot absorb the scale-out, on-demand is the next step.
  let allShort = [...short];
  let zones: ZoneStepOutcome = rule.fallback.otherZones ? 'none-left' : 'not-allowed';
  const onDemandAllowed = (p: NodePool) =>
    onDemandDue({ fallback: rule.fallback, spot: isSpotPool(p), zones: 'short-too' }).due;
  const observed = await observeTarget(deps.ports, deps.location, pool);
  const record = observed.record?.record;
  if (rule.fallback.otherZones && observed.nodePool && record) {
    const cluster = await deps.ports.nodePools.getCluster();
    const original = observed.nodePool.locations ?? [];
    const widened = widenZones(original, cluster.locations, short);
    if (!widened.ok) {
      message += `; ${widened.message}`;
    } else {
      const next: TargetRecord = withDecision(
        {
          ...record,
          scaleOutZones: {
            original: record.scaleOutZones?.original ?? original,
            added: [...(record.scaleOutZones?.added ?? []), ...widened.added],
            short: [...new Set([...(record.scaleOutZones?.short ?? []), ...short])].sort(),
            at: now,
          },
        },
        {
          time: now,
          function: FUNCTION_NAME,
          action: 'fallback',
          reason: `stockout in ${short.join(', ')}: zones ${widened.added.join(', ')} added`,
        },
      );
      const count = record.scaleOut?.settings.nodePool?.nodeCountPerZone ?? observed.nodeCountPerZone;
      const actions: PlanAction[] = [
        recordWrite(observed, next, at, 'stockout fallback'),
        locationsAction(
          observed.nodePool,
          widened.locations,
          count,
          gpuClassForPolicy(deps.policy)(observed.nodePool),
          `stockout in ${short.join(', ')}: widen to ${widened.added.join(', ')}`,
        ),
      ];
      const fallbackPlan: Plan = { createdAt: now, reason: 'stockout fallback', actions };
      const capacity = observedCapacityForTarget(
        await deps.ports.nodePools.list(),
        deps.policy,
        observed,
        await locationZones(deps.location),
      );
      const checked = checkGuardrails(fallbackPlan, capacity, deps.policy.guardrails);
      if (!checked.ok) {
        zones = 'refused';
        message += `; widening to ${widened.added.join(', ')} refused by the guardrails: ${checked.violations.map((v) => v.message).join('; ')}`;
      } else {
        let newShort: string[] = [];
        try {
          await deps.executor.execute(fallbackPlan, { guardrails: () => {} });
        } catch (err) {
          // The zones already short stay short (their instance groups keep trying); new ones count.
          if (!(err instanceof NodePoolStockoutError)) throw err;
          newShort = err.zones.filter((z) => !short.includes(z));
          // Short in the new zones too: the next step (on-demand) is for the rule to allow.
          if (newShort.length > 0 && !onDemandAllowed(observed.nodePool)) throw err;
        }
        zonesAdded = widened.added;
        message += `; widened to ${widened.added.join(', ')}`;
        if (newShort.length > 0) {
          zones = 'short-too';
          message += `, short there too (${newShort.join(', ')})`;
          allShort = [...new Set([...allShort, ...newShort])].sort();
        } else {
          zones = 'absorbed';
        }
      }
    }
  } else if (!rule.fallback.otherZones) {
    message += '; rule does not allow other zones';
  }
  let onDemand: { pool: string; maxNodes: number } | undefined;
  const next = observed.nodePool
    ? onDemandDue({ fallback: rule.fallback, spot: isSpotPool(observed.nodePool), zones })
    : undefined;
  if (next?.due) {
    const added = await onDemandFallback(deps, ctx, pool, rule, allShort, at);
    message += `; ${added.message}`;
    if (added.ok) onDemand = { pool: added.pool, maxNodes: added.maxNodes };
  } else if (next?.reason === 'POLICY_OFF') {
    message += `; ${next.message}`;
  }
  // The workload part of the scale-out, on the capacity there is.
  const after = await observeTarget(deps.ports, deps.location, pool);
  if (after.record) {
    const planned = planTarget(after, after.record.record, {
      ...at,
      gpuClassFor: gpuClassForPolicy(deps.policy),
      reason: `scale-out after a stockout (${message})`,
    });
    const workload = planned.actions.filter(
      (a) => a.kind === 'applyObject' || a.kind === 'scaleWorkload' || a.kind === 'writeStorageObject',
    );
    if (workload.length > 0) {
      await deps.executor.execute(
        { createdAt: now, reason: 'scale-out after a stockout', actions: workload },
        { guardrails: () => {} },
      );
    }
  }
  return { zonesAdded, message, ...(onDemand ? { onDemand } : {}) };
}

/**
 * The Spot pool could not grow in any zone it may use: where the rule allows it and within the
 * guardrails (on-demand prices, the Spot pool counted at the size it asked for, as its instance
 * groups keep trying), an on-demand sibling pool takes the nodes, through the executor.
 */
async function onDemandFallback(
  deps: ScaleOnAlertDeps,
  ctx: InvocationContext,
  pool: string,
  rule: AlertRule,
  short: readonly string[],
  at: { stateBucket: string; cluster: string; now: string },
): Promise<{ ok: true; pool: string; maxNodes: number; message: string } | { ok: false; message: string }> {
  const observed = await observeTarget(deps.ports, deps.location, pool);
  const record = observed.record?.record;
  if (!record || !observed.nodePool) return { ok: false, message: `${pool} is gone` };
  const spotName = observed.nodePool.name ?? pool;
  const existing =
    observed.onDemandPool ?? (await deps.ports.nodePools.get(onDemandPoolName(spotName))) ?? null;
  const asked = record.scaleOut?.settings.nodePool;
  const decision = planOnDemand({
    observed,
    record,
    rule,
    short,
    existing,
    gpuClass: gpuClassForPolicy(deps.policy)(observed.nodePool),
    capacity: observedCapacityForTarget(
      await deps.ports.nodePools.list(),
      deps.policy,
      {
        pool,
        nodeCountPerZone:
          asked && !asked.autoscaling.enabled ? asked.nodeCountPerZone : observed.nodeCountPerZone,
      },
      await locationZones(deps.location),
    ),
    guardrails: deps.policy.guardrails,
    at,
  });
  if (!decision.ok) {
    ctx.log.warn('stockout: no on-demand fallback', {
      pool,
      reason: decision.reason,
      detail: decision.message,
    });
    return { ok: false, message: decision.message };
  }
  await deps.executor.execute(
    { createdAt: at.now, reason: 'on-demand fallback after a Spot stockout', actions: decision.actions },
    { guardrails: () => {} },
  );
  ctx.log.notice('stockout: on-demand fallback', {
    pool,
    onDemandPool: decision.pool,
    maxNodes: decision.maxNodes,
    short,
  });
  return decision;
}

function summarise(
  deps: ScaleOnAlertDeps,
  ctx: InvocationContext,
  trigger: EventTrigger,
  results: readonly TargetResult[],
): Outcome {
  const time = iso(deps.clock.nowMs());
  const dryRun = deps.config.dryRun || results.some((r) => r.dryRun);
  const clusterName = deps.ports.nodePools.clusterName;
  const events: OutboundCloudEvent[] = results.map((r) => {
    const base = {
      source: ctx.eventSource,
      time,
      trigger,
      pool: r.pool,
      ...(r.rule ? { rule: r.rule } : {}),
    };
    const changes = resourceChangesOf(r.actions, clusterName);
    if (r.outcome === 'applied' && changes.length > 0) {
      return appliedEvent({
        ...base,
        id: `${ctx.event.id}-${r.pool}-applied`,
        action: r.decision === 'restore' ? 'restore' : 'scale-out',
        dryRun: r.dryRun,
        changes,
        ...(r.fallback && (r.fallback.zonesAdded.length > 0 || r.fallback.onDemand)
          ? { fallback: r.fallback }
          : {}),
      });
    }
    return skippedEvent({
      ...base,
      id: `${ctx.event.id}-${r.pool}-skipped`,
      reason: r.reason ?? 'ALREADY_AT_TARGET',
      message: r.message,
      ...(r.violations ? { violations: r.violations } : {}),
    });
  });
  const applied = results.filter((r) => r.outcome === 'applied');
  const details = {
    targets: results.map((r) => ({
      pool: r.pool,
      outcome: r.outcome,
      decision: r.decision,
      ...(r.reason ? { reason: r.reason } : {}),
      message: r.message,
      actions: r.actions.map((a) => `${a.kind} ${a.target}`),
      ...(r.fallback ? { fallback: r.fallback } : {}),
    })),
  };
  if (applied.length > 0) {
    return {
      status: 'applied',
      message: `${dryRun ? 'dry run: would apply' : 'applied'} ${applied.map((r) => `${r.decision} on ${r.pool}`).join(', ')}`,
      events,
      details,
    };
  }
  const what =
    results.length === 0
      ? trigger.kind === 'tick'
        ? 'no scale-out to sweep'
        : 'nothing to do'
      : results.map((r) => `${r.pool}: ${r.reason ?? r.decision}`).join(', ');
  return { status: 'skipped', reason: what, events, details };
}
