/**
 * scaleOnAlert's decisions, pure: from (what arrived, the target as observed with its record, the
 * rule, the time, a metric reading) to the target's next record, or to a skip with its reason.
 * `planTarget` (shared/scaling/target.ts) turns the next record into plan actions.
 *
 * Anti-flap, all kept on the target's record so concurrent instances and restarts agree:
 * - dedupe: an incident already open on the target (a renotification, a redelivery) and a close
 *   already seen change nothing and write nothing;
 * - cooldown: after a scale action, further incidents within the rule's `cooldownSeconds` are
 *   recorded but coalesced (no cluster write), so a storm gives one action per window;
 * - hysteresis: up at once, one step per cooldown; down only when no incident is open, the
 *   cooldown has passed and (where the rule says so) the metric confirms the pressure is gone;
 * - expiry: every scale-out expires (`maxScaleOutMinutes`), so a lost close never leaves a target
 *   scaled out: the tick returns it once the metric confirms.
 */
import {
  MAX_SEEN_KEYS,
  type ScaleOutClaim,
  type TargetIncident,
  type TargetRecord,
  type TargetSettings,
  withDecision,
  withSeen,
} from '../domain/target';
import type { AlertRule } from '../policy';
import { downtimeActive, liveSettings, type ObservedTarget } from '../scaling/target';
import { type AlertIncident, dedupeKeyOf } from './parse';

export const FUNCTION_NAME = 'scaleOnAlert';
export const DEFAULT_COOLDOWN_SECONDS = 300;

/** Why a decision did nothing to the cluster (one log line and one `scaling.skipped` event each). */
export type AlertSkipReason =
  | 'DUPLICATE'
  | 'RENOTIFICATION'
  | 'ALREADY_CLOSED'
  | 'DOWNTIME'
  | 'COOLDOWN'
  | 'AT_MAX_STEPS'
  | 'STILL_OPEN'
  | 'NOT_SCALED_OUT'
  | 'NOT_EXPIRED'
  | 'PRESSURE_CONTINUES'
  | 'METRIC_UNAVAILABLE'
  | 'TARGET_NOT_FOUND'
  | 'ALREADY_AT_TARGET'
  | 'GUARDRAIL_REFUSED';

export type AlertAction = 'scale-out' | 'restore';

/** What a metric read before scaling in found (none when the rule has no `confirm`). */
export type Confirmation =
  | { state: 'clear'; value: number | null; message: string }
  | { state: 'pressure'; value: number; message: string }
  | { state: 'unavailable'; message: string };

export type AlertDecision =
  | { kind: 'act'; action: AlertAction; level: number; message: string; next: TargetRecord }
  | { kind: 'skip'; reason: AlertSkipReason; message: string; next: TargetRecord | null };

export interface IncidentDecisionInput {
  incident: AlertIncident;
  rule: AlertRule;
  observed: ObservedTarget;
  /** The record to start from (the observed one, or an empty one). */
  record: TargetRecord;
  nowMs: number;
  confirmation?: Confirmation;
}

const iso = (ms: number) => new Date(ms).toISOString();

function note(record: TargetRecord, nowMs: number, action: string, reason: string): TargetRecord {
  return withDecision(record, { time: iso(nowMs), function: FUNCTION_NAME, action, reason });
}

function skip(
  reason: AlertSkipReason,
  message: string,
  next: TargetRecord | null,
  nowMs: number,
): AlertDecision {
  return {
    kind: 'skip',
    reason,
    message,
    next: next ? note(next, nowMs, 'skip', `${reason}: ${message}`) : null,
  };
}

function act(
  action: AlertAction,
  level: number,
  message: string,
  next: TargetRecord,
  nowMs: number,
): AlertDecision {
  const stamped = { ...next, lastScaleActionAt: iso(nowMs) };
  return { kind: 'act', action, level, message, next: note(stamped, nowMs, action, message) };
}

/** Seconds left of a cooldown that started at `sinceIso` (0 when over). */
export function cooldownLeftSeconds(sinceIso: string, cooldownSeconds: number, nowMs: number): number {
  const left = Date.parse(sinceIso) + cooldownSeconds * 1000 - nowMs;
  return left > 0 ? Math.ceil(left / 1000) : 0;
}

/**
 * The settings of a scale-out `level` steps above `base`: the HPA's bounds go up by
 * `replicasStep` per step (the minimum too, above what runs now, so capacity follows at once), and
 * the node pool's autoscaling maximum, or its size when autoscaling is off, by the nodes those
 * replicas need (one Triton pod per node) or `nodesStep`, whichever is more.
 */
export function scaleOutSettings(
  base: TargetSettings,
  level: number,
  rule: Pick<AlertRule, 'replicasStep' | 'nodesStep'>,
  running: number | null,
): TargetSettings {
  const replicasAdded = rule.replicasStep * level;
  const nodesAdded = Math.max(rule.nodesStep, rule.replicasStep) * level;
  let hpa: TargetSettings['hpa'] = null;
  if (base.hpa) {
    const maxReplicas = base.hpa.maxReplicas + replicasAdded;
    const floor = Math.max(base.hpa.minReplicas + replicasAdded, (running ?? 0) + rule.replicasStep);
    hpa = { minReplicas: Math.max(1, Math.min(maxReplicas, floor)), maxReplicas };
  }
  const replicas = base.hpa || base.replicas === null ? null : base.replicas + replicasAdded;
  let nodePool: TargetSettings['nodePool'] = null;
  if (base.nodePool) {
    const a = base.nodePool.autoscaling;
    nodePool = a.enabled
      ? {
          autoscaling: { ...a, totalMaxNodeCount: a.totalMaxNodeCount + nodesAdded },
          nodeCountPerZone: null,
          zones: base.nodePool.zones,
        }
      : {
          autoscaling: a,
          nodeCountPerZone:
            (base.nodePool.nodeCountPerZone ?? 0) + Math.ceil(nodesAdded / base.nodePool.zones),
          zones: base.nodePool.zones,
        };
  }
  return { replicas, hpa, nodePool };
}

function withIncident(
  record: TargetRecord,
  incident: AlertIncident,
  rule: AlertRule,
  nowMs: number,
): TargetRecord {
  if (record.incidents.some((i) => i.key === incident.key)) return record;
  const entry: TargetIncident = {
    key: incident.key,
    incidentId: incident.incidentId,
    condition: incident.condition,
    policy: incident.policyName,
    rule: rule.name,
    openedAt: iso(incident.startedAtEpochSec ? incident.startedAtEpochSec * 1000 : nowMs),
  };
  return { ...record, incidents: [...record.incidents, entry].slice(-MAX_SEEN_KEYS) };
}

function refreshExpiry(claim: ScaleOutClaim, rule: AlertRule, nowMs: number): ScaleOutClaim {
  const expires = Math.max(Date.parse(claim.expiresAt), nowMs + rule.maxScaleOutMinutes * 60_000);
  return {
    ...claim,
    expiresAt: iso(expires),
    rules: claim.rules.includes(rule.name) ? claim.rules : [...claim.rules, rule.name],
  };
}

/**
 * Skips that depend on the record alone (dedupe, coalescing, downtime, open incidents left), so a
 * delivery that ends in one of them need not read the cluster: `decideFromRecord` gives them.
 */
export const RECORD_ONLY_SKIPS: ReadonlySet<AlertSkipReason> = new Set<AlertSkipReason>([
  'DUPLICATE',
  'RENOTIFICATION',
  'ALREADY_CLOSED',
  'COOLDOWN',
  'DOWNTIME',
  'AT_MAX_STEPS',
  'STILL_OPEN',
  'NOT_SCALED_OUT',
]);

/**
 * An incident decided from the target's stored record without observing its objects: the skip
 * `decideIncident` would give too, or undefined when the decision needs the live target (an action,
 * a metric read, or a skip that depends on live settings). Only for a record that exists: it was
 * written over a target that existed, so the TARGET_NOT_FOUND check is the one thing left out (a
 * target deleted since is reported by its skip reason, and nothing is changed either way).
 */
export function decideFromRecord(
  input: Omit<IncidentDecisionInput, 'observed' | 'confirmation'> & { pool: string; namespace: string },
): (AlertDecision & { kind: 'skip' }) | undefined {
  const observed: ObservedTarget = {
    pool: input.pool,
    namespace: input.namespace,
    deployment: null,
    hpa: null,
    nodePool: null,
    nodeCountPerZone: null,
    zones: 1,
    record: null,
  };
  const d = decideKnownTarget({ ...input, observed });
  return d.kind === 'skip' && RECORD_ONLY_SKIPS.has(d.reason) ? d : undefined;
}

/** An incident (open or closed) routed to this target by `rule`. */
export function decideIncident(input: IncidentDecisionInput): AlertDecision {
  if (!input.observed.deployment && !input.observed.hpa && !input.observed.nodePool) {
    return skip(
      'TARGET_NOT_FOUND',
      `pool ${input.observed.pool} has no node pool, Deployment or HPA`,
      null,
      input.nowMs,
    );
  }
  return decideKnownTarget(input);
}

function decideKnownTarget(input: IncidentDecisionInput): AlertDecision {
  const { incident, rule, nowMs } = input;
  const record = input.record;
  const open = incident.state === 'open';
  if (open && record.seen.includes(dedupeKeyOf(incident.key, 'closed'))) {
    return skip(
      'ALREADY_CLOSED',
      `incident ${incident.incidentId} closed before this open arrived`,
      null,
      nowMs,
    );
  }
  if (record.seen.includes(incident.dedupeKey)) {
    return skip(
      'DUPLICATE',
      `incident ${incident.incidentId} ${incident.state} was handled already`,
      null,
      nowMs,
    );
  }
  if (open && record.incidents.some((i) => i.key === incident.key)) {
    // An incident coalesced into a cooldown that has ended since acts on its renotification.
    const pending = rule.action === 'scale-out' && record.scaleOut === null && !downtimeActive(record, nowMs);
    if (!pending || cooldownLeftSeconds(lastScaleActionAt(record), rule.cooldownSeconds, nowMs) > 0) {
      return skip(
        'RENOTIFICATION',
        `incident ${incident.incidentId} is already open on this target`,
        null,
        nowMs,
      );
    }
  }
  if (open && rule.action === 'scale-out') return decideOpen(input);
  return decideScaleIn(input);
}

/** When scaleOnAlert last changed this target (a step out or a restore); epoch 0 when never. */
export function lastScaleActionAt(record: TargetRecord): string {
  if (record.lastScaleActionAt) return record.lastScaleActionAt;
  const last = record.decisions.find(
    (d) => d.function === FUNCTION_NAME && (d.action === 'scale-out' || d.action === 'restore'),
  );
  return last?.time ?? new Date(0).toISOString();
}

/**
 * The tick, for a target with open incidents but no scale-out (coalesced into the cooldown after
 * a restore): the scale-out they asked for, once that cooldown is over.
 */
export function decidePending(
  input: Omit<IncidentDecisionInput, 'incident' | 'confirmation'>,
): AlertDecision {
  const first = input.record.incidents[0];
  if (!first || input.record.scaleOut !== null) {
    return skip(
      'NOT_SCALED_OUT',
      `${input.observed.pool}: no incident waits for a scale-out`,
      null,
      input.nowMs,
    );
  }
  const left = cooldownLeftSeconds(lastScaleActionAt(input.record), input.rule.cooldownSeconds, input.nowMs);
  if (left > 0) {
    return skip(
      'COOLDOWN',
      `${input.observed.pool}: ${left} s of cooldown left before the waiting incidents act`,
      null,
      input.nowMs,
    );
  }
  const key = first.key;
  return decideOpen({
    ...input,
    incident: {
      incidentId: first.incidentId,
      condition: first.condition,
      key,
      dedupeKey: dedupeKeyOf(key, 'open'),
      state: 'open',
      policyName: first.policy,
      labels: {},
      startedAtEpochSec: Date.parse(first.openedAt) / 1000,
      endedAtEpochSec: null,
      summary: undefined,
      observedValue: undefined,
      thresholdValue: undefined,
    },
  });
}

function decideOpen(input: IncidentDecisionInput): AlertDecision {
  const { incident, rule, observed, nowMs } = input;
  let record = withIncident(input.record, incident, rule, nowMs);
  if (downtimeActive(record, nowMs)) {
    if (!rule.wake) {
      // Remembered as handled, so its renotifications are no-ops; it is not an open incident here.
      return skip(
        'DOWNTIME',
        `${observed.pool} is in scheduled downtime (${record.downtime?.schedule}); rule ${rule.name} does not wake it`,
        withSeen(input.record, incident.dedupeKey),
        nowMs,
      );
    }
    record = { ...record, wakeUntil: iso(nowMs + rule.wakeMinutes * 60_000) };
  }
  const claim = record.scaleOut;
  if (!claim) {
    // Hysteresis: a restore starts a cooldown too, so open/close flapping gives one action per window.
    const left = cooldownLeftSeconds(lastScaleActionAt(record), rule.cooldownSeconds, nowMs);
    if (left > 0) {
      return skip(
        'COOLDOWN',
        `coalesced: ${observed.pool} was restored ${rule.cooldownSeconds - left} s ago; the ${rule.cooldownSeconds} s cooldown has ${left} s left (a renotification or tick after it scales out)`,
        record,
        nowMs,
      );
    }
  }
  if (claim) {
    const left = cooldownLeftSeconds(claim.lastActionAt, rule.cooldownSeconds, nowMs);
    if (left > 0) {
      return skip(
        'COOLDOWN',
        `coalesced: ${observed.pool} was scaled ${left} s before its ${rule.cooldownSeconds} s cooldown ends`,
        { ...record, scaleOut: refreshExpiry(claim, rule, nowMs) },
        nowMs,
      );
    }
    if (claim.level >= rule.maxSteps) {
      return skip(
        'AT_MAX_STEPS',
        `${observed.pool} is ${claim.level} step(s) out, rule ${rule.name} allows ${rule.maxSteps}`,
        { ...record, scaleOut: refreshExpiry(claim, rule, nowMs) },
        nowMs,
      );
    }
  }
  const level = (claim?.level ?? 0) + 1;
  const live = liveSettings(observed);
  const base = record.baseline?.settings ?? live;
  const settings = scaleOutSettings(base, level, rule, observed.hpa?.currentReplicas ?? live.replicas);
  const now = iso(nowMs);
  const next: TargetRecord = {
    ...record,
    scaleOut: {
      rules: claim ? refreshExpiry(claim, rule, nowMs).rules : [rule.name],
      level,
      since: claim?.since ?? now,
      lastActionAt: now,
      expiresAt: iso(
        Math.max(claim ? Date.parse(claim.expiresAt) : 0, nowMs + rule.maxScaleOutMinutes * 60_000),
      ),
      settings,
    },
  };
  const woke = next.wakeUntil !== input.record.wakeUntil ? `, downtime lifted until ${next.wakeUntil}` : '';
  return act(
    'scale-out',
    level,
    `incident ${incident.incidentId} (${rule.name}): step ${level}${woke}`,
    next,
    nowMs,
  );
}

/** A close of a scale-out incident, or an open of a scale-in rule's: back to baseline, carefully. */
function decideScaleIn(input: IncidentDecisionInput): AlertDecision {
  const { incident, rule, observed, nowMs } = input;
  const closing = incident.state === 'closed';
  let record = input.record;
  if (closing) {
    record = { ...record, incidents: record.incidents.filter((i) => i.key !== incident.key) };
    record = withSeen(record, incident.dedupeKey);
  } else {
    record = withSeen(record, incident.dedupeKey);
  }
  const what = `incident ${incident.incidentId} ${incident.state} (${rule.name})`;
  const remaining = record.incidents.filter((i) => !closing || i.key !== incident.key);
  if (remaining.length > 0) {
    return skip(
      'STILL_OPEN',
      `${what}: ${remaining.length} other incident(s) still open on ${observed.pool}`,
      record,
      nowMs,
    );
  }
  const claim = record.scaleOut;
  if (!claim) return skip('NOT_SCALED_OUT', `${what}: ${observed.pool} is not scaled out`, record, nowMs);
  const left = cooldownLeftSeconds(claim.lastActionAt, rule.cooldownSeconds, nowMs);
  if (left > 0) {
    return skip(
      'COOLDOWN',
      `${what}: the cooldown has ${left} s left; a tick restores ${observed.pool} after it`,
      record,
      nowMs,
    );
  }
  const confirmed = confirmationSkip(input.confirmation, record, nowMs, what);
  if (confirmed) return confirmed;
  return act(
    'restore',
    0,
    `${what}: back to baseline${confirmText(input.confirmation)}`,
    { ...record, scaleOut: null },
    nowMs,
  );
}

function confirmText(c: Confirmation | undefined): string {
  return c ? ` (${c.message})` : '';
}

function confirmationSkip(
  c: Confirmation | undefined,
  record: TargetRecord,
  nowMs: number,
  what: string,
): AlertDecision | undefined {
  if (c?.state === 'pressure') {
    return skip('PRESSURE_CONTINUES', `${what}: capacity kept: ${c.message}`, record, nowMs);
  }
  if (c?.state === 'unavailable') {
    return skip(
      'METRIC_UNAVAILABLE',
      `${what}: capacity kept, the metric could not be read: ${c.message}`,
      record,
      nowMs,
    );
  }
  return undefined;
}

export interface SweepDecisionInput {
  observed: ObservedTarget;
  record: TargetRecord;
  /** The rules of the claim still in the policy (a removed rule's claim expires on defaults). */
  rules: readonly AlertRule[];
  nowMs: number;
  confirmation?: Confirmation;
}

/** The rule whose confirm query decides a claim's scale-in (the first of its rules with one). */
export function confirmRuleOf(rules: readonly AlertRule[]): AlertRule | undefined {
  return rules.find((r) => r.confirm !== undefined);
}

/** Whether a tick has anything to decide for this record (a scale-out past its cooldown or expiry). */
export function sweepDue(record: TargetRecord, rules: readonly AlertRule[], nowMs: number): boolean {
  const claim = record.scaleOut;
  if (!claim) return false;
  if (Date.parse(claim.expiresAt) <= nowMs) return true;
  const cooldown = Math.max(DEFAULT_COOLDOWN_SECONDS * 0, ...rules.map((r) => r.cooldownSeconds));
  return record.incidents.length === 0 && cooldownLeftSeconds(claim.lastActionAt, cooldown, nowMs) === 0;
}

/** The tick: expired scale-outs (a lost close) and closed ones past their cooldown go back. */
export function decideSweep(input: SweepDecisionInput): AlertDecision {
  const { record, nowMs } = input;
  const claim = record.scaleOut;
  const pool = input.observed.pool;
  if (!claim) return skip('NOT_SCALED_OUT', `${pool} is not scaled out`, null, nowMs);
  const expired = Date.parse(claim.expiresAt) <= nowMs;
  const cooldown =
    input.rules.length > 0
      ? Math.max(...input.rules.map((r) => r.cooldownSeconds))
      : DEFAULT_COOLDOWN_SECONDS;
  if (!expired) {
    if (record.incidents.length > 0) {
      return skip(
        'NOT_EXPIRED',
        `${pool}: ${record.incidents.length} incident(s) open until ${claim.expiresAt}`,
        null,
        nowMs,
      );
    }
    const left = cooldownLeftSeconds(claim.lastActionAt, cooldown, nowMs);
    if (left > 0) return skip('COOLDOWN', `${pool}: the cooldown has ${left} s left`, null, nowMs);
  }
  const what = expired
    ? `the scale-out of ${pool} expired at ${claim.expiresAt}${record.incidents.length > 0 ? ` with ${record.incidents.length} incident(s) never closed` : ''}`
    : `no incident is open on ${pool}`;
  const confirmed = confirmationSkip(input.confirmation, record, nowMs, what);
  if (confirmed) return confirmed;
  // A lost close: the incidents it would have closed are forgotten with the scale-out.
  let next: TargetRecord = { ...record, scaleOut: null, incidents: [] };
  for (const i of record.incidents) next = withSeen(next, dedupeKeyOf(i.key, 'closed'));
  return act('restore', 0, `${what}: back to baseline${confirmText(input.confirmation)}`, next, nowMs);
}

/** Reduces a metric read to a confirmation: the worst (largest) recent point against `below`; no points confirm nothing. */
export function confirmationOf(values: readonly number[], below: number, describe: string): Confirmation {
  // No data confirms nothing (a wrong filter, a metric pipeline down): capacity is kept.
  if (values.length === 0) return { state: 'unavailable', message: `${describe}: no points in the window` };
  const worst = Math.max(...values);
  return worst >= below
    ? { state: 'pressure', value: worst, message: `${describe} is ${worst}, not below ${below}` }
    : { state: 'clear', value: worst, message: `${describe} is ${worst}, below ${below}` };
}
