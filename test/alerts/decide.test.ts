/**
 * scaleOnAlert's pure parts: telling payloads apart, routing, and every decision with its reason.
 */
import { describe, expect, it } from 'vitest';
import { encodePubSubJson } from '../../events/pubsub';
import {
  type AlertDecision,
  confirmationOf,
  decideFromRecord,
  decideIncident,
  decideSweep,
  scaleOutSettings,
} from '../../shared/alerts/decide';
import { type AlertIncident, classifyDelivery, dedupeKeyOf } from '../../shared/alerts/parse';
import { matchRule, routeIncident } from '../../shared/alerts/route';
import { widenZones } from '../../shared/alerts/zones';
import type { NodePool } from '../../shared/domain/plan';
import { emptyTargetRecord, type TargetRecord } from '../../shared/domain/target';
import { operationOutcome } from '../../shared/execute/nodepool-executor';
import { type AlertRule, type Policy, policySchema } from '../../shared/policy';
import { NodePoolStockoutError, stockoutOf } from '../../shared/ports/nodepools';
import type { ObservedTarget } from '../../shared/scaling/target';

const T0 = Date.parse('2026-12-01T22:00:00.000Z');
const NOW = new Date(T0).toISOString();

function policy(rules: unknown[]): Policy {
  return policySchema.parse({
    apiVersion: 'inferplane.dev/v1',
    kind: 'ControlPlanePolicy',
    cluster: { project: 'p-123456', name: 'inference', repositoryBucket: 'repo-b', incomingBucket: 'in-b' },
    models: { resnet50: { gpuClass: 'a100-40gb' } },
    alertRules: rules,
    guardrails: { maxGpusTotal: 8, maxGpusPerPool: 8, maxNodes: 8, maxDollarsPerHour: 100 },
  });
}

const QUEUE_RULE = {
  name: 'queue',
  match: { userLabels: { action: 'scale-out' } },
  action: 'scale-out',
  replicasStep: 2,
  cooldownSeconds: 300,
  maxSteps: 2,
  maxScaleOutMinutes: 30,
};

function rule(over: Partial<AlertRule> = {}): AlertRule {
  return { ...(policy([QUEUE_RULE]).alertRules[0] as AlertRule), ...over };
}

function incident(over: Partial<AlertIncident> = {}): AlertIncident {
  const key = over.key ?? 'projects/p/alertPolicies/1/conditions/2#0.abc';
  const state = over.state ?? 'open';
  return {
    incidentId: '0.abc',
    condition: 'projects/p/alertPolicies/1/conditions/2',
    key,
    dedupeKey: dedupeKeyOf(key, state),
    state,
    policyName: 'triton queue',
    labels: { action: 'scale-out', pool: 'triton-l4' },
    startedAtEpochSec: T0 / 1000,
    endedAtEpochSec: null,
    summary: undefined,
    observedValue: undefined,
    thresholdValue: undefined,
    ...over,
  };
}

function pool(autoscaling: NodePool['autoscaling']): NodePool {
  return {
    name: 'triton-l4',
    locations: ['us-central1-a'],
    config: {
      machineType: 'g2-standard-8',
      accelerators: [{ acceleratorCount: '1', acceleratorType: 'nvidia-l4' }],
    },
    autoscaling,
  };
}

function observed(record: TargetRecord | null = null, over: Partial<ObservedTarget> = {}): ObservedTarget {
  return {
    pool: 'triton-l4',
    namespace: 'triton',
    deployment: {
      name: 'triton-l4',
      replicas: 1,
      readyReplicas: 1,
      generation: 3,
      annotations: {},
      createdAt: null,
    },
    hpa: {
      name: 'triton-l4',
      minReplicas: 1,
      maxReplicas: 4,
      currentReplicas: 1,
      desiredReplicas: 1,
      generation: 2,
    },
    nodePool: pool({ enabled: true, totalMinNodeCount: 1, totalMaxNodeCount: 4 }),
    nodeCountPerZone: 1,
    zones: 1,
    record: record ? { record, generation: '7' } : null,
    ...over,
  };
}

const empty = () => emptyTargetRecord('triton-l4', 'triton', NOW);

function scaledOut(at: number, level = 1, over: Partial<TargetRecord> = {}): TargetRecord {
  const i = incident();
  return {
    ...empty(),
    scaleOut: {
      rules: ['queue'],
      level,
      since: new Date(at).toISOString(),
      lastActionAt: new Date(at).toISOString(),
      expiresAt: new Date(at + 30 * 60_000).toISOString(),
      settings: { replicas: null, hpa: { minReplicas: 3, maxReplicas: 6 }, nodePool: null },
    },
    incidents: [
      {
        key: i.key,
        incidentId: i.incidentId,
        condition: i.condition,
        policy: i.policyName,
        rule: 'queue',
        openedAt: NOW,
      },
    ],
    ...over,
  };
}

function decide(record: TargetRecord, inc: AlertIncident, nowMs = T0, r = rule(), extra = {}): AlertDecision {
  return decideIncident({ incident: inc, rule: r, observed: observed(record), record, nowMs, ...extra });
}

function pubsubEvent(payload: unknown, type = 'google.cloud.pubsub.topic.v1.messagePublished') {
  return {
    id: 'm-1',
    source: '//pubsub.googleapis.com/projects/p/topics/alerts',
    type,
    specversion: '1.0',
    data: {
      message: {
        data: typeof payload === 'string' ? payload : encodePubSubJson(payload),
        messageId: 'm-1',
        publishTime: NOW,
      },
    },
  };
}

describe('classifyDelivery', () => {
  const open = {
    version: '1.2',
    incident: {
      incident_id: '0.x',
      state: 'open',
      policy_name: 'q',
      policy_user_labels: { pool: 'triton-l4' },
      condition: { name: 'projects/p/alertPolicies/1/conditions/2' },
    },
  };
  it.each([
    ['a schema-1.2 incident', open, 'incident', undefined],
    [
      'a test notification',
      { version: 'test', incident: { incident_id: '1', state: 'OPEN' } },
      'test',
      undefined,
    ],
    [
      'the schedules tick',
      { apiVersion: 'inferplane.dev/scheduler/v1', command: 'reconcile-schedules' },
      'tick',
      undefined,
    ],
    [
      'rotate-security',
      { apiVersion: 'inferplane.dev/scheduler/v1', command: 'rotate-security' },
      'ignored',
      'NOT_FOR_THIS_FUNCTION',
    ],
    ['an unknown notification version', { ...open, version: '2.0' }, 'ignored', 'UNSUPPORTED_VERSION'],
    [
      'an unknown command version',
      { apiVersion: 'x/v9', command: 'reconcile-schedules' },
      'ignored',
      'UNSUPPORTED_VERSION',
    ],
    [
      'an incident without an id',
      { version: '1.2', incident: { state: 'open' } },
      'ignored',
      'MALFORMED_PAYLOAD',
    ],
    [
      'a bad state',
      { version: '1.2', incident: { incident_id: 'i', state: 'maybe' } },
      'ignored',
      'MALFORMED_PAYLOAD',
    ],
    ['a JSON array', [1, 2], 'ignored', 'MALFORMED_PAYLOAD'],
    ['something else', { hello: 'world' }, 'ignored', 'MALFORMED_PAYLOAD'],
    ['not base64', '%%%', 'ignored', 'MALFORMED_PAYLOAD'],
    [
      'base64 of text that is not JSON',
      Buffer.from('nope').toString('base64'),
      'ignored',
      'MALFORMED_PAYLOAD',
    ],
  ])('%s', (_name, payload, kind, reason) => {
    const d = classifyDelivery(pubsubEvent(payload));
    expect(d.kind).toBe(kind);
    if (reason) expect(d).toMatchObject({ reason });
  });

  it('keys an incident on condition.name + incident_id + state, normalising the state', () => {
    const d = classifyDelivery(pubsubEvent({ ...open, incident: { ...open.incident, state: 'CLOSED' } }));
    expect(d).toMatchObject({
      kind: 'incident',
      incident: {
        key: 'projects/p/alertPolicies/1/conditions/2#0.x',
        dedupeKey: 'projects/p/alertPolicies/1/conditions/2#0.x|closed',
        state: 'closed',
      },
    });
  });

  it('ignores another event type and a body that is not a Pub/Sub message', () => {
    expect(classifyDelivery(pubsubEvent(open, 'google.cloud.storage.object.v1.finalized'))).toMatchObject({
      reason: 'NOT_FOR_THIS_FUNCTION',
    });
    expect(classifyDelivery({ ...pubsubEvent(open), data: { nope: 1 } })).toMatchObject({
      reason: 'MALFORMED_PAYLOAD',
    });
  });
});

describe('routeIncident', () => {
  const p = policy([
    {
      name: 'by-name',
      match: { policyName: 'triton queue' },
      action: 'scale-out',
      target: { pools: ['triton-h100-80gb'] },
    },
    QUEUE_RULE,
    { name: 'idle', match: { userLabels: { action: 'scale-in' } }, action: 'scale-in' },
  ]);
  it.each([
    [
      'labels beat the policy name, pool label',
      { action: 'scale-out', pool: 'triton-x' },
      'triton queue',
      'queue',
      ['triton-x'],
    ],
    ['gpu-class label', { action: 'scale-out', 'gpu-class': 'l4' }, 'other', 'queue', ['triton-l4']],
    [
      'model label (its class from the policy)',
      { action: 'scale-out', model: 'resnet50' },
      'other',
      'queue',
      ['triton-a100-40gb'],
    ],
    ['the rule target when labels name none', {}, 'triton queue', 'by-name', ['triton-h100-80gb']],
  ])('%s', (_n, labels, policyName, ruleName, pools) => {
    const r = routeIncident(p, incident({ labels, policyName }));
    expect(r).toMatchObject({ ok: true, pools });
    expect(r.ok && r.rule.name).toBe(ruleName);
  });

  it.each([
    ['no rule matches', { action: 'page' }, 'other', 'NO_MATCHING_RULE'],
    ['a rule matches but nothing names a pool', { action: 'scale-in' }, 'other', 'NO_TARGET'],
    ['an unknown gpu class', { action: 'scale-out', 'gpu-class': 'tpu' }, 'other', 'NO_TARGET'],
  ])('unroutable: %s', (_n, labels, policyName, reason) => {
    expect(routeIncident(p, incident({ labels, policyName }))).toMatchObject({ ok: false, reason });
  });

  it('display names are not unique: a label rule is preferred whatever the file order', () => {
    expect(matchRule(p.alertRules, incident({ policyName: 'triton queue' }))?.name).toBe('queue');
  });
});

describe('decideIncident', () => {
  it('scales out a first incident one step: HPA bounds and the pool maximum', () => {
    const d = decide(empty(), incident());
    expect(d).toMatchObject({ kind: 'act', action: 'scale-out', level: 1 });
    const claim = d.next?.scaleOut;
    expect(claim?.settings.hpa).toEqual({ minReplicas: 3, maxReplicas: 6 });
    expect(claim?.settings.nodePool?.autoscaling.totalMaxNodeCount).toBe(6);
    expect(claim?.expiresAt).toBe(new Date(T0 + 30 * 60_000).toISOString());
    expect(d.next?.incidents.map((i) => i.incidentId)).toEqual(['0.abc']);
  });

  it('sizes a fixed pool per zone, rounding up', () => {
    const s = scaleOutSettings(
      {
        replicas: 1,
        hpa: null,
        nodePool: {
          autoscaling: { enabled: false, totalMinNodeCount: 0, totalMaxNodeCount: 0 },
          nodeCountPerZone: 1,
          zones: 2,
        },
      },
      1,
      { replicasStep: 3, nodesStep: 0 },
      1,
    );
    expect(s).toMatchObject({ replicas: 4, nodePool: { nodeCountPerZone: 3 } });
  });

  const other = incident({ key: 'projects/p/alertPolicies/1/conditions/2#0.other', incidentId: '0.other' });
  it.each<[string, TargetRecord, AlertIncident, number, string, boolean]>([
    ['a renotification of an open incident', scaledOut(T0), incident(), T0 + 1, 'RENOTIFICATION', false],
    [
      'a redelivered close',
      { ...empty(), seen: [incident({ state: 'closed' }).dedupeKey] },
      incident({ state: 'closed' }),
      T0,
      'DUPLICATE',
      false,
    ],
    [
      'an open that arrives after its close',
      { ...empty(), seen: [incident({ state: 'closed' }).dedupeKey] },
      incident(),
      T0,
      'ALREADY_CLOSED',
      false,
    ],
    [
      'a second incident within the cooldown (coalesced)',
      scaledOut(T0),
      other,
      T0 + 60_000,
      'COOLDOWN',
      true,
    ],
    ['a further incident at the step limit', scaledOut(T0, 2), other, T0 + 600_000, 'AT_MAX_STEPS', true],
    [
      'an alert during downtime without wake',
      {
        ...empty(),
        downtime: {
          schedule: 'nights',
          since: NOW,
          until: null,
          settings: { replicas: 0, hpa: null, nodePool: null },
        },
      },
      incident(),
      T0,
      'DOWNTIME',
      true,
    ],
    [
      'a close while another incident is open',
      {
        ...scaledOut(T0),
        incidents: [...scaledOut(T0).incidents, { ...scaledOut(T0).incidents[0]!, key: other.key }],
      },
      incident({ state: 'closed' }),
      T0 + 600_000,
      'STILL_OPEN',
      true,
    ],
    [
      'a close of a target not scaled out',
      empty(),
      incident({ state: 'closed' }),
      T0,
      'NOT_SCALED_OUT',
      true,
    ],
    [
      'a close within the cooldown',
      scaledOut(T0),
      incident({ state: 'closed' }),
      T0 + 60_000,
      'COOLDOWN',
      true,
    ],
  ])('skips %s', (_n, record, inc, nowMs, reason, writes) => {
    const d = decide(record, inc, nowMs);
    expect(d).toMatchObject({ kind: 'skip', reason });
    expect(d.next !== null).toBe(writes);
    if (d.next) expect(d.next.decisions[0]?.reason).toMatch(new RegExp(`^${reason}`));
    // The storm's cheap path: the same skip (reason, message, record) from the record alone.
    const fast = decideFromRecord({
      incident: inc,
      rule: rule(),
      record,
      nowMs,
      pool: 'triton-l4',
      namespace: 'triton',
    });
    expect(fast).toEqual(d);
  });

  it.each<[string, TargetRecord, AlertIncident, number]>([
    ['a first incident (a step out)', empty(), incident(), T0],
    [
      'an incident after the cooldown (the next step)',
      scaledOut(T0),
      incident({ key: 'k#9', incidentId: '9' }),
      T0 + 301_000,
    ],
    ['a close after the cooldown (a restore)', scaledOut(T0), incident({ state: 'closed' }), T0 + 301_000],
    [
      'a renotification whose coalesced incident may act now',
      { ...empty(), incidents: scaledOut(T0).incidents, lastScaleActionAt: new Date(T0).toISOString() },
      incident(),
      T0 + 301_000,
    ],
  ])('leaves %s to the full observation', (_n, record, inc, nowMs) => {
    expect(decide(record, inc, nowMs).kind).toBe('act');
    expect(
      decideFromRecord({
        incident: inc,
        rule: rule(),
        record,
        nowMs,
        pool: 'triton-l4',
        namespace: 'triton',
      }),
    ).toBeUndefined();
  });

  it('reports a target whose objects are gone only from the full observation', () => {
    const gone = observed(scaledOut(T0), { deployment: null, hpa: null, nodePool: null });
    const d = decideIncident({
      incident: incident(),
      rule: rule(),
      observed: gone,
      record: scaledOut(T0),
      nowMs: T0 + 1,
    });
    expect(d).toMatchObject({ kind: 'skip', reason: 'TARGET_NOT_FOUND', next: null });
    // From the record alone the same delivery is a renotification: a skip that changes nothing too.
    const fast = decideFromRecord({
      incident: incident(),
      rule: rule(),
      record: scaledOut(T0),
      nowMs: T0 + 1,
      pool: 'triton-l4',
      namespace: 'triton',
    });
    expect(fast).toMatchObject({ kind: 'skip', reason: 'RENOTIFICATION', next: null });
  });

  it('coalesces a storm: a second incident in the cooldown is recorded, the claim keeps its level', () => {
    const d = decide(scaledOut(T0), other, T0 + 60_000);
    expect(d.next?.scaleOut?.level).toBe(1);
    expect(d.next?.incidents.map((i) => i.incidentId)).toEqual(['0.abc', '0.other']);
    // After the cooldown the next incident takes the next step.
    const later = decide(d.next as TargetRecord, incident({ key: 'k#3', incidentId: '3' }), T0 + 301_000);
    expect(later).toMatchObject({ kind: 'act', level: 2 });
  });

  it('wakes a target in downtime when the rule says so, for wakeMinutes', () => {
    const record: TargetRecord = {
      ...empty(),
      downtime: {
        schedule: 'nights',
        since: NOW,
        until: null,
        settings: { replicas: 0, hpa: null, nodePool: null },
      },
    };
    const d = decide(record, incident(), T0, rule({ wake: true, wakeMinutes: 45 }));
    expect(d).toMatchObject({ kind: 'act', action: 'scale-out' });
    expect(d.next?.wakeUntil).toBe(new Date(T0 + 45 * 60_000).toISOString());
    expect(d.next?.downtime).not.toBeNull();
  });

  it('restores on the last close after the cooldown', () => {
    const d = decide(scaledOut(T0), incident({ state: 'closed' }), T0 + 301_000);
    expect(d).toMatchObject({ kind: 'act', action: 'restore' });
    expect(d.next?.scaleOut).toBeNull();
    expect(d.next?.incidents).toEqual([]);
    expect(d.next?.seen).toContain(incident({ state: 'closed' }).dedupeKey);
  });

  it.each<[string, Parameters<typeof confirmationOf>, string]>([
    ['pressure continues', [[10, 70], 50, 'q'], 'PRESSURE_CONTINUES'],
    ['the window has no points', [[], 50, 'q'], 'METRIC_UNAVAILABLE'],
  ])('keeps capacity on close when %s', (_n, args, reason) => {
    const d = decide(scaledOut(T0), incident({ state: 'closed' }), T0 + 301_000, rule(), {
      confirmation: confirmationOf(...args),
    });
    expect(d).toMatchObject({ kind: 'skip', reason });
    expect(d.next?.scaleOut).not.toBeNull();
  });

  it('keeps capacity, and says so, when the metric cannot be read', () => {
    const d = decide(scaledOut(T0), incident({ state: 'closed' }), T0 + 301_000, rule(), {
      confirmation: { state: 'unavailable', message: 'MONITORING_UNAVAILABLE: 503' },
    });
    expect(d).toMatchObject({ kind: 'skip', reason: 'METRIC_UNAVAILABLE' });
    expect(d.message).toContain('503');
  });

  it('reports a target that does not exist', () => {
    const d = decideIncident({
      incident: incident(),
      rule: rule(),
      observed: observed(null, { deployment: null, hpa: null, nodePool: null }),
      record: empty(),
      nowMs: T0,
    });
    expect(d).toMatchObject({ kind: 'skip', reason: 'TARGET_NOT_FOUND', next: null });
  });
});

describe('decideSweep (the tick)', () => {
  it.each<[string, TargetRecord, number, string]>([
    ['open incidents before the expiry', scaledOut(T0), T0 + 60_000, 'NOT_EXPIRED'],
    ['a closed scale-out within its cooldown', { ...scaledOut(T0), incidents: [] }, T0 + 60_000, 'COOLDOWN'],
    ['nothing scaled out', empty(), T0, 'NOT_SCALED_OUT'],
  ])('leaves %s', (_n, record, nowMs, reason) => {
    expect(decideSweep({ observed: observed(record), record, rules: [rule()], nowMs })).toMatchObject({
      kind: 'skip',
      reason,
      next: null,
    });
  });

  it('returns an expired scale-out whose close was lost, and forgets its incidents', () => {
    const record = scaledOut(T0);
    const d = decideSweep({
      observed: observed(record),
      record,
      rules: [rule()],
      nowMs: T0 + 31 * 60_000,
      confirmation: confirmationOf([1], 50, 'queue'),
    });
    expect(d).toMatchObject({ kind: 'act', action: 'restore' });
    expect(d.message).toContain('never closed');
    expect(d.next?.incidents).toEqual([]);
    expect(d.next?.seen).toContain(dedupeKeyOf(record.incidents[0]!.key, 'closed'));
  });

  it.each([
    ['the metric still shows pressure', confirmationOf([80], 50, 'queue'), 'PRESSURE_CONTINUES'],
    ['the metric cannot be read', { state: 'unavailable' as const, message: 'down' }, 'METRIC_UNAVAILABLE'],
  ])('keeps an expired scale-out when %s', (_n, confirmation, reason) => {
    const record = scaledOut(T0);
    expect(
      decideSweep({
        observed: observed(record),
        record,
        rules: [rule()],
        nowMs: T0 + 31 * 60_000,
        confirmation,
      }),
    ).toMatchObject({ kind: 'skip', reason });
  });
});

describe('stockouts', () => {
  it('reads the short zones from the wording GKE passes on', () => {
    const message =
      "Google Compute Engine: Not all instances running in IGM after 9s. Expected 3, running 1, transitioning 2. Current errors: [GCE_STOCKOUT]: Instance 'gke-inference-triton-l4-1' creation failed: The zone 'projects/p/zones/us-central1-a' does not have enough resources available to fulfill the request.  '(resource type:compute)'.";
    expect(stockoutOf(message)).toEqual({ zones: ['us-central1-a'] });
    expect(
      stockoutOf(
        "ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS: The zone 'projects/p/zones/us-east1-b' does not have enough resources",
      ),
    ).toEqual({ zones: ['us-east1-b'] });
    expect(stockoutOf('Quota exceeded for resource NVIDIA_L4_GPUS')).toBeUndefined();
  });

  it('the executor reports a stockout operation as such, not as a failure to retry at once', () => {
    const op = {
      name: 'operation-1',
      path: 'projects/p/locations/l/operations/operation-1',
      operationType: 'SET_NODE_POOL_SIZE',
      status: 'DONE' as const,
      statusMessage: '',
      targetLink: '',
      pool: 'triton-l4',
      startTime: undefined,
      endTime: undefined,
    };
    const short = operationOutcome({
      ...op,
      error: {
        code: 8,
        message:
          "[GCE_STOCKOUT]: The zone 'projects/p/zones/us-central1-a' does not have enough resources available to fulfill the request.",
      },
    });
    expect(short.state === 'failed' && short.error).toBeInstanceOf(NodePoolStockoutError);
    expect(short.state === 'failed' && (short.error as NodePoolStockoutError).zones).toEqual([
      'us-central1-a',
    ]);
    const other = operationOutcome({ ...op, error: { code: 14, message: 'backend unavailable' } });
    expect(other.state === 'failed' && other.error).not.toBeInstanceOf(NodePoolStockoutError);
  });

  it('widens to the zones not reported short, or says why not', () => {
    const zones = ['us-central1-a', 'us-central1-b', 'us-central1-c'];
    expect(widenZones(['us-central1-a'], zones, ['us-central1-a', 'us-central1-c'])).toEqual({
      ok: true,
      locations: ['us-central1-a', 'us-central1-b'],
      added: ['us-central1-b'],
    });
    expect(widenZones(['us-central1-a'], ['us-central1-a'], ['us-central1-a'])).toMatchObject({ ok: false });
  });
});

describe('open/close flapping', () => {
  it('a restore starts a cooldown: a new open in it is coalesced, and acts on its renotification after', () => {
    const restored = decide(scaledOut(T0), incident({ state: 'closed' }), T0 + 301_000);
    expect(restored).toMatchObject({ kind: 'act', action: 'restore' });
    const flap = incident({ key: 'k#flap', incidentId: 'flap' });
    const coalesced = decide(restored.next as TargetRecord, flap, T0 + 330_000);
    expect(coalesced).toMatchObject({ kind: 'skip', reason: 'COOLDOWN' });
    expect(coalesced.next?.incidents.map((i) => i.incidentId)).toEqual(['flap']);
    // Its renotification within the cooldown is still nothing; after it, the scale-out.
    const early = decide(coalesced.next as TargetRecord, flap, T0 + 400_000);
    expect(early).toMatchObject({ kind: 'skip', reason: 'RENOTIFICATION', next: null });
    expect(decide(coalesced.next as TargetRecord, flap, T0 + 602_000)).toMatchObject({
      kind: 'act',
      action: 'scale-out',
      level: 1,
    });
  });

  it('the tick scales out for incidents that waited out the cooldown', async () => {
    const { decidePending } = await import('../../shared/alerts/decide');
    const restored = decide(scaledOut(T0), incident({ state: 'closed' }), T0 + 301_000);
    const waiting = decide(
      restored.next as TargetRecord,
      incident({ key: 'k#w', incidentId: 'w' }),
      T0 + 330_000,
    ).next as TargetRecord;
    const input = { rule: rule(), observed: observed(waiting), record: waiting };
    expect(decidePending({ ...input, nowMs: T0 + 400_000 })).toMatchObject({
      kind: 'skip',
      reason: 'COOLDOWN',
    });
    expect(decidePending({ ...input, nowMs: T0 + 602_000 })).toMatchObject({
      kind: 'act',
      action: 'scale-out',
    });
  });
});

it('the cooldown after a restore outlasts the bounded decision history', () => {
  let record = decide(scaledOut(T0), incident({ state: 'closed' }), T0 + 301_000).next as TargetRecord;
  for (let i = 0; i < 30; i++) {
    const d = decide(record, incident({ key: `k#${i}`, incidentId: `s${i}` }), T0 + 310_000 + i * 1000);
    expect(d).toMatchObject({ kind: 'skip', reason: 'COOLDOWN' });
    record = d.next as TargetRecord;
  }
  expect(record.decisions.some((d) => d.action === 'restore')).toBe(false);
  expect(decide(record, incident({ key: 'k#late', incidentId: 'late' }), T0 + 350_000)).toMatchObject({
    reason: 'COOLDOWN',
  });
});
