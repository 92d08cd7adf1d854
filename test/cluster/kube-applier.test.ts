import { describe, expect, it } from 'vitest';
import {
  differingFields,
  droppedFields,
  planObjectChanges,
  sortForApply,
} from '../../shared/cluster/objects';
import type { KubernetesObject } from '../../shared/domain/plan';
import {
  classifyKubeError,
  KubeApplier,
  parseRetryAfterMs,
  permanentKubeError,
} from '../../shared/execute/kube-applier';
import {
  KubeApiError,
  KubeConnectionError,
  type KubeObjects,
  type LiveObject,
  type ObjectRef,
} from '../../shared/ports/kubernetes';
import { jitteredDelayMs } from '../../shared/runtime/backoff';
import { ManualClock } from '../../shared/runtime/clock';
import { PermanentError, RetryableError } from '../../shared/runtime/errors';

function deployment(overrides: { replicas?: number; image?: string } = {}): KubernetesObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'triton-l4', namespace: 'triton', labels: { app: 'triton' } },
    spec: {
      replicas: overrides.replicas ?? 1,
      selector: { matchLabels: { app: 'triton' } },
      template: {
        metadata: { labels: { app: 'triton' } },
        spec: {
          containers: [
            {
              name: 'triton-l4',
              image: overrides.image ?? 'triton:1',
              args: ['a', 'b'],
              ports: [{ containerPort: 8000 }],
            },
          ],
        },
      },
    },
  } as KubernetesObject;
}

/** What an apiserver returns: our fields plus server metadata, defaults and others' fields. */
function live(obj: KubernetesObject, extra: (o: Record<string, unknown>) => void = () => {}): LiveObject {
  const copy = JSON.parse(JSON.stringify(obj)) as LiveObject & {
    spec: { template: { spec: Record<string, unknown> } };
  };
  copy.metadata = { ...copy.metadata, uid: 'u1', resourceVersion: '7', generation: 1, managedFields: [] };
  copy.spec.template.spec.restartPolicy = 'Always';
  const container = (copy.spec.template.spec.containers as Record<string, unknown>[])[0];
  if (container) container.imagePullPolicy = 'IfNotPresent';
  copy.status = { replicas: 1 };
  extra(copy as Record<string, unknown>);
  return copy;
}

describe('differingFields', () => {
  const cases: { name: string; live: LiveObject; expected: string[] }[] = [
    { name: 'live with defaults, status and server metadata', live: live(deployment()), expected: [] },
    { name: 'a scalar differs', live: live(deployment({ replicas: 3 })), expected: ['spec.replicas'] },
    {
      name: 'a field of a named list element differs',
      live: live(deployment({ image: 'triton:0' })),
      expected: ['spec.template.spec.containers[name=triton-l4].image'],
    },
    {
      name: 'another manager added a container (named lists merge)',
      live: live(deployment(), (o) => {
        const spec = (o.spec as { template: { spec: { containers: unknown[] } } }).template.spec;
        spec.containers.push({ name: 'sidecar', image: 'x' });
      }),
      expected: [],
    },
    {
      name: 'an atomic list differs in length',
      live: live(deployment(), (o) => {
        const spec = (o.spec as { template: { spec: { containers: { args: string[] }[] } } }).template.spec;
        spec.containers[0]?.args.push('c');
      }),
      expected: ['spec.template.spec.containers[name=triton-l4].args'],
    },
    {
      name: 'a label is missing',
      live: live(deployment(), (o) => {
        (o.metadata as { labels: Record<string, string> }).labels = {};
      }),
      expected: ['metadata.labels.app'],
    },
  ];
  it.each(cases)('$name', ({ live: observed, expected }) => {
    // Act
    const fields = differingFields(deployment(), observed);

    // Assess
    expect(fields).toEqual(expected);
  });
});

describe('droppedFields', () => {
  const withOwned = (manager: string, operation: string, fieldsV1: unknown) =>
    live(deployment(), (o) => {
      (o.metadata as { managedFields: unknown[] }).managedFields = [{ manager, operation, fieldsV1 }];
    });
  const owned = {
    'f:metadata': { 'f:labels': { 'f:app': {} }, 'f:annotations': { 'f:note': {} } },
    'f:spec': {
      'f:replicas': {},
      'f:template': {
        'f:spec': { 'f:containers': { 'k:{"name":"triton-l4"}': { '.': {}, 'f:image': {} } } },
      },
    },
  };
  const cases = [
    {
      name: 'our Apply entry with a field we dropped',
      manager: 'inferplane',
      operation: 'Apply',
      fields: owned,
    },
    { name: "another manager's entry", manager: 'kubectl', operation: 'Apply', fields: owned },
    { name: 'our Update entry (not apply)', manager: 'inferplane', operation: 'Update', fields: owned },
  ];
  it.each(cases)('$name', ({ manager, operation, fields }) => {
    // Act
    const dropped = droppedFields(deployment(), withOwned(manager, operation, fields));

    // Assess
    const expected =
      manager === 'inferplane' && operation === 'Apply' ? ['metadata.annotations.note (no longer set)'] : [];
    expect(dropped).toEqual(expected);
  });
});

describe('planObjectChanges', () => {
  const namespace: KubernetesObject = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'triton' } };

  it('is empty when every desired field already matches', () => {
    // Act
    const liveNamespace = {
      ...namespace,
      metadata: { ...namespace.metadata, uid: 'n1' },
      status: { phase: 'Active' },
    };
    const actions = planObjectChanges([deployment(), namespace], [live(deployment()), liveNamespace]);

    // Assess
    expect(actions).toEqual([]);
  });

  it('creates what is missing and updates what differs, in apply order, with before/after', () => {
    // Prepare
    const desired = [deployment({ replicas: 2 }), namespace];

    // Act
    const actions = planObjectChanges(desired, [live(deployment({ replicas: 5 }))]);

    // Assess
    expect(actions.map((a) => [a.target, a.before === null ? 'create' : 'update'])).toEqual([
      ['Namespace/triton', 'create'],
      ['Deployment/triton/triton-l4', 'update'],
    ]);
    const update = actions[1]!;
    expect(update.after).toBe(desired[0]);
    expect(update.reason).toBe('fields differ: spec.replicas');
    expect(update.costDeltaPerHour).toBe(0);
    // before is the live object cut down to our fields: no status, no server metadata, no defaults.
    expect(update.before).toEqual({
      ...deployment({ replicas: 5 }),
      metadata: { name: 'triton-l4', namespace: 'triton', labels: { app: 'triton' } },
    });
  });

  it('never puts Secret values into the plan, only digests that still show the change', () => {
    // Prepare
    const secret = (value: string): KubernetesObject =>
      ({
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 'keys', namespace: 'triton' },
        type: 'Opaque',
        data: { 'admin-key': Buffer.from(value).toString('base64') },
      }) as KubernetesObject;
    const oldValue = Buffer.from('old-admin-key').toString('base64');
    const newValue = Buffer.from('new-admin-key').toString('base64');

    // Act
    const [action] = planObjectChanges([secret('new-admin-key')], [secret('old-admin-key')]);

    // Assess
    const text = JSON.stringify(action);
    expect(text).not.toContain(oldValue);
    expect(text).not.toContain(newValue);
    expect(action?.reason).toBe('fields differ: data.admin-key');
    const digest = (o: unknown) => (o as { data: Record<string, string> }).data['admin-key'];
    expect(digest(action?.before)).toMatch(/^sha256:[0-9a-f]{12}$/);
    expect(digest(action?.before)).not.toBe(digest(action?.after));
  });

  it('matches live objects by group, kind, namespace and name, not by version', () => {
    // Prepare
    const hpa: KubernetesObject = {
      apiVersion: 'autoscaling/v2',
      kind: 'HorizontalPodAutoscaler',
      metadata: { name: 'x', namespace: 'triton' },
    };
    const otherNamespace = { ...hpa, metadata: { name: 'x', namespace: 'other' } };

    // Act
    const sameGroup = planObjectChanges([hpa], [{ ...hpa, apiVersion: 'autoscaling/v1' }]);
    const elsewhere = planObjectChanges([hpa], [otherNamespace]);

    // Assess
    expect(sameGroup).toEqual([]);
    expect(elsewhere).toHaveLength(1);
    expect(elsewhere[0]?.before).toBeNull();
  });
});

describe('sortForApply', () => {
  it('orders by dependency and keeps unknown kinds last in their order', () => {
    // Prepare
    const kinds = ['PodMonitoring', 'NetworkPolicy', 'Deployment', 'Zeta', 'Namespace', 'Secret', 'Service'];

    // Act
    const sorted = sortForApply(kinds.map((kind) => ({ kind })));

    // Assess
    expect(sorted.map((o) => o.kind)).toEqual([
      'Namespace',
      'Secret',
      'Service',
      'Deployment',
      'NetworkPolicy',
      'PodMonitoring',
      'Zeta',
    ]);
  });
});

describe('retry classification', () => {
  const api = (code: number, retryAfter?: string) =>
    new KubeApiError({ code, statusReason: 'X', apiMessage: 'm', retryAfter });
  const cases: { name: string; err: unknown; expected: ReturnType<typeof classifyKubeError> }[] = [
    { name: '409 conflict', err: api(409), expected: { kind: 'conflict' } },
    { name: '429 with Retry-After', err: api(429, '3'), expected: { kind: 'throttled', retryAfterMs: 3000 } },
    {
      name: '429 without Retry-After',
      err: api(429),
      expected: { kind: 'throttled', retryAfterMs: undefined },
    },
    { name: '500', err: api(500), expected: { kind: 'transient' } },
    { name: '503', err: api(503), expected: { kind: 'transient' } },
    { name: '504', err: api(504), expected: { kind: 'transient' } },
    { name: '401 (stale token)', err: api(401), expected: { kind: 'transient' } },
    {
      name: 'connection reset',
      err: new KubeConnectionError('reset', undefined),
      expected: { kind: 'transient' },
    },
    { name: '400', err: api(400), expected: { kind: 'permanent' } },
    { name: '403', err: api(403), expected: { kind: 'permanent' } },
    { name: '404 (namespace missing)', err: api(404), expected: { kind: 'permanent' } },
    { name: '422', err: api(422), expected: { kind: 'permanent' } },
    { name: 'a programming error', err: new TypeError('x is undefined'), expected: undefined },
  ];
  it.each(cases)('$name', ({ err, expected }) => {
    // Act
    const cls = classifyKubeError(err);

    // Assess
    expect(cls).toEqual(expected);
  });

  it('reads Retry-After as seconds or as an HTTP date', () => {
    // Prepare
    const now = Date.UTC(2026, 0, 1, 12, 0, 0);

    // Act
    const values = [
      parseRetryAfterMs('5', now),
      parseRetryAfterMs('Thu, 01 Jan 2026 12:00:10 GMT', now),
      parseRetryAfterMs('Thu, 01 Jan 2026 11:00:00 GMT', now),
      parseRetryAfterMs('soon', now),
      parseRetryAfterMs(undefined, now),
    ];

    // Assess
    expect(values).toEqual([5000, 10_000, 0, undefined, undefined]);
  });

  it('backs off exponentially, capped, with jitter over [d/2, d]', () => {
    // Prepare
    const b = { initialMs: 100, factor: 2, maxMs: 1000 };

    // Act
    const low = [0, 1, 2, 3, 4, 5].map((a) => jitteredDelayMs(b, a, () => 0));
    const high = [0, 1, 2, 3, 4, 5].map((a) => jitteredDelayMs(b, a, () => 0.999_999));

    // Assess
    expect(low).toEqual([50, 100, 200, 400, 500, 500]);
    expect(high).toEqual([100, 200, 400, 800, 1000, 1000]);
  });

  it('names the object, the API message and the causes in a PermanentError', () => {
    // Prepare
    const err = new KubeApiError({
      code: 422,
      statusReason: 'Invalid',
      apiMessage:
        'Deployment.apps "triton-l4" is invalid: spec.template.spec.containers[0].image: Required value',
      causes: [
        {
          reason: 'FieldValueRequired',
          message: 'Required value',
          field: 'spec.template.spec.containers[0].image',
        },
      ],
    });

    // Act
    const permanent = permanentKubeError(deployment(), err, 'dry-run');

    // Assess
    expect(permanent).toBeInstanceOf(PermanentError);
    expect(permanent.reason).toBe('KUBE_INVALID');
    expect(permanent.message).toBe(
      'apps/v1 Deployment triton/triton-l4: 422 Invalid: Deployment.apps "triton-l4" is invalid: spec.template.spec.containers[0].image: Required value',
    );
    expect(permanent.details).toMatchObject({ phase: 'dry-run', code: 422, object: { name: 'triton-l4' } });
  });
});

/**
 * A scripted KubeObjects port: each call takes the next scripted failure for its method, if any,
 * then behaves like a store. Used for what the local apiserver cannot produce on demand
 * (a Retry-After header, a stale 409 on apply).
 */
function scriptedObjects(script: { get?: unknown[]; apply?: unknown[] }) {
  const store = new Map<string, LiveObject>();
  const calls: string[] = [];
  const key = (r: ObjectRef) => `${r.kind}/${r.namespace ?? ''}/${r.name}`;
  let rv = 1;
  const port: KubeObjects = {
    async get(ref) {
      calls.push(`get ${ref.kind}`);
      const failure = script.get?.shift();
      if (failure) throw failure;
      return store.get(key(ref));
    },
    async getScale() {
      throw new Error('not used');
    },
    async setScale() {
      throw new Error('not used');
    },
    async apply(obj, opts) {
      calls.push(`apply${opts?.dryRun ? ' dry-run' : ''} ${obj.kind}`);
      if (!opts?.dryRun) {
        const failure = script.apply?.shift();
        if (failure) throw failure;
      }
      const stored = { ...obj, metadata: { ...obj.metadata, resourceVersion: String(++rv) } } as LiveObject;
      if (!opts?.dryRun) store.set(key({ ...obj, ...obj.metadata }), stored);
      return stored;
    },
    async delete() {
      return false;
    },
    async list() {
      return [];
    },
  };
  return { port, calls, store };
}

describe('KubeApplier retries (scripted port)', () => {
  it('honours Retry-After on 429', async () => {
    // Prepare
    const clock = new ManualClock();
    const throttled = new KubeApiError({
      code: 429,
      statusReason: 'TooManyRequests',
      apiMessage: 'slow down',
      retryAfter: '7',
    });
    const { port } = scriptedObjects({ apply: [throttled] });
    const applier = new KubeApplier({ objects: port, clock, random: () => 0 });
    const start = clock.nowMs();

    // Act
    const [result] = await applier.applyAll([deployment()]);

    // Assess
    expect(result?.result).toBe('created');
    expect(clock.nowMs() - start).toBe(7000);
  });

  it('gives up at once on a Retry-After longer than the bound (RetryableError)', async () => {
    // Prepare
    const throttled = new KubeApiError({
      code: 429,
      statusReason: 'TooManyRequests',
      apiMessage: 'x',
      retryAfter: '3600',
    });
    const { port } = scriptedObjects({ get: [throttled] });
    const applier = new KubeApplier({ objects: port, clock: new ManualClock() });

    // Act
    const error = await applier.applyAll([deployment()]).catch((e: unknown) => e);

    // Assess
    expect(error).toBeInstanceOf(RetryableError);
    expect((error as RetryableError).reason).toBe('KUBE_THROTTLED');
  });

  it('re-reads after a 409 on apply and retries', async () => {
    // Prepare
    const conflict = new KubeApiError({
      code: 409,
      statusReason: 'Conflict',
      apiMessage: 'the object has been modified',
    });
    const { port, calls } = scriptedObjects({ apply: [conflict] });
    const applier = new KubeApplier({ objects: port, clock: new ManualClock(), random: () => 0 });

    // Act
    const [result] = await applier.applyAll([deployment()]);

    // Assess
    expect(result?.result).toBe('created');
    expect(calls).toEqual([
      'get Deployment',
      'apply dry-run Deployment',
      'apply Deployment',
      'get Deployment',
      'apply Deployment',
    ]);
  });

  it('turns a lasting 409 into a RetryableError naming the object', async () => {
    // Prepare
    const conflict = () => new KubeApiError({ code: 409, statusReason: 'Conflict', apiMessage: 'modified' });
    const { port } = scriptedObjects({ apply: [conflict(), conflict(), conflict(), conflict()] });
    const applier = new KubeApplier({ objects: port, clock: new ManualClock() });

    // Act
    const error = await applier.applyAll([deployment()]).catch((e: unknown) => e);

    // Assess
    expect(error).toBeInstanceOf(RetryableError);
    expect((error as RetryableError).reason).toBe('KUBE_CONFLICT');
    expect((error as RetryableError).message).toMatch(
      /^apps\/v1 Deployment triton\/triton-l4: still conflicting after 4 attempts/,
    );
  });

  it('rethrows errors it cannot classify untouched', async () => {
    // Prepare
    const bug = new TypeError('boom');
    const { port } = scriptedObjects({ get: [bug] });
    const applier = new KubeApplier({ objects: port, clock: new ManualClock() });

    // Act
    const error = await applier.applyAll([deployment()]).catch((e: unknown) => e);

    // Assess
    expect(error).toBe(bug);
  });
});
