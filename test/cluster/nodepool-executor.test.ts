import { describe, expect, it } from 'vitest';
import { apiErrorFacts, classifyContainerError } from '../../shared/adapters/gke';
import { buildGpuNodePool, planNodePoolChanges } from '../../shared/cluster/nodepool';
import type { NodePool } from '../../shared/domain/plan';
import {
  isActionSatisfied,
  type NodePoolAction,
  operationOutcome,
  PRODUCTION_POLL,
  poolOfAction,
  withClusterLock,
} from '../../shared/execute/nodepool-executor';
import { resolveGpuClass } from '../../shared/gpu/catalog';
import { ClusterBusyError, type ClusterOperation, NodePoolNotFoundError } from '../../shared/ports/nodepools';
import { backoffDelayMs, backoffSchedule, withJitter } from '../../shared/runtime/backoff';
import { PermanentError, RetryableError } from '../../shared/runtime/errors';

const l4 = resolveGpuClass('l4');

function googleBody(status: string, code: number, message: string, reason?: string): string {
  return JSON.stringify({
    error: {
      code,
      message,
      status,
      ...(reason ? { details: [{ '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason }] } : {}),
    },
  });
}

/** An error shaped like the one the client throws without the validateStatus fix. */
function rawHttpError(httpStatus: number, body: string): Error {
  return Object.assign(new Error(body), { code: httpStatus });
}

function grpcError(code: number, message: string, reason?: string): Error {
  return Object.assign(new Error(message), { code, ...(reason ? { reason } : {}) });
}

describe('backoff', () => {
  it('grows by the factor up to the maximum (production polling: 1 s x1.5, max 10 s)', () => {
    // Act
    const schedule = backoffSchedule(PRODUCTION_POLL, 8);

    // Assess
    expect(schedule).toEqual([1000, 1500, 2250, 3375, 5063, 7594, 10000, 10000]);
  });

  it('treats a negative attempt as the first', () => {
    expect(backoffDelayMs({ initialMs: 5, factor: 2, maxMs: 100 }, -3)).toBe(5);
  });

  it.each([
    [0, 500],
    [0.5, 750],
    [0.999, 1000],
  ])('spreads a delay over its upper half (random %f -> %i ms)', (random, expected) => {
    expect(withJitter(1000, () => random)).toBe(expected);
  });
});

describe('classifyContainerError', () => {
  const ctx = { call: 'createNodePool', pool: 'triton-l4' };
  const busyMessage = 'Cluster is running incompatible operation operation-1-abc.';

  it.each([
    ['gRPC 9 with ErrorInfo reason', grpcError(9, busyMessage, 'CLUSTER_ALREADY_HAS_OPERATION')],
    ['gRPC 9 with the message only', grpcError(9, busyMessage)],
    [
      'HTTP 400 with the raw JSON body',
      rawHttpError(400, googleBody('FAILED_PRECONDITION', 400, busyMessage, 'CLUSTER_ALREADY_HAS_OPERATION')),
    ],
    ['HTTP 400 body without details', rawHttpError(400, googleBody('FAILED_PRECONDITION', 400, busyMessage))],
    [
      'older wording',
      grpcError(
        9,
        'Operation operation-1-abc is currently upgrading cluster inference. Please wait and try again once it is done.',
      ),
    ],
  ])('recognises a busy cluster: %s', (_, err) => {
    // Act
    const classified = classifyContainerError(err, ctx);

    // Assess
    expect(classified).toBeInstanceOf(ClusterBusyError);
    expect(classified).toBeInstanceOf(RetryableError);
    expect(classified.reason).toBe('CLUSTER_ALREADY_HAS_OPERATION');
    expect((classified as ClusterBusyError).operation).toBe('operation-1-abc');
    expect(classified.cause).toBe(err);
  });

  it.each([
    ['UNAVAILABLE', grpcError(14, 'unavailable'), 'UNAVAILABLE'],
    ['DEADLINE_EXCEEDED', grpcError(4, 'deadline'), 'DEADLINE_EXCEEDED'],
    ['INTERNAL', grpcError(13, 'boom'), 'INTERNAL'],
    ['RESOURCE_EXHAUSTED', grpcError(8, 'quota'), 'RESOURCE_EXHAUSTED'],
    [
      'other FAILED_PRECONDITION',
      grpcError(9, 'Node pool "x" is not ready for this change.'),
      'FAILED_PRECONDITION',
    ],
    ['raw HTTP 503', rawHttpError(503, googleBody('UNAVAILABLE', 503, 'injected fault')), 'UNAVAILABLE'],
    ['raw HTTP 502 without a body', rawHttpError(502, 'Bad Gateway'), 'HTTP_502'],
    ['raw HTTP 429 without a body', rawHttpError(429, 'Too Many Requests'), 'HTTP_429'],
    [
      'connection reset',
      Object.assign(new Error('request failed, reason: socket hang up'), { code: 'ECONNRESET' }),
      'GKE_CONNECTION_FAILED',
    ],
    [
      'reset in the cause',
      new Error('fetch failed', {
        cause: Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' }),
      }),
      'GKE_CONNECTION_FAILED',
    ],
  ])('maps %s to a RetryableError', (_, err, reason) => {
    // Act
    const classified = classifyContainerError(err, ctx);

    // Assess
    expect(classified).toBeInstanceOf(RetryableError);
    expect(classified).not.toBeInstanceOf(ClusterBusyError);
    expect(classified.reason).toBe(reason);
  });

  it.each([
    [
      'INVALID_ARGUMENT',
      grpcError(3, 'Invalid zone europe-west4-a.'),
      'INVALID_ARGUMENT',
      'Invalid zone europe-west4-a.',
    ],
    ['ALREADY_EXISTS', grpcError(6, 'Already exists: pool.'), 'ALREADY_EXISTS', 'Already exists: pool.'],
    ['PERMISSION_DENIED', grpcError(7, 'denied'), 'PERMISSION_DENIED', 'denied'],
    [
      'raw HTTP 409',
      rawHttpError(409, googleBody('ALREADY_EXISTS', 409, 'Already exists: pool.')),
      'ALREADY_EXISTS',
      'Already exists: pool.',
    ],
    ['raw HTTP 403 without a body', rawHttpError(403, 'Forbidden'), 'HTTP_403', 'Forbidden'],
  ])('maps %s to a PermanentError naming the pool and the API message', (_, err, reason, message) => {
    // Act
    const classified = classifyContainerError(err, ctx);

    // Assess
    expect(classified).toBeInstanceOf(PermanentError);
    expect(classified.reason).toBe(reason);
    expect(classified.message).toContain('triton-l4');
    expect(classified.message).toContain(message);
    expect(classified.details).toEqual(
      expect.objectContaining({ call: 'createNodePool', pool: 'triton-l4' }),
    );
  });

  it.each([
    ['gRPC 5', grpcError(5, 'Not found: x.')],
    ['raw HTTP 404', rawHttpError(404, googleBody('NOT_FOUND', 404, 'Not found: x.'))],
  ])('maps %s to NodePoolNotFoundError', (_, err) => {
    expect(classifyContainerError(err, ctx)).toBeInstanceOf(NodePoolNotFoundError);
  });

  it('reads the JSON body that gaxios leaves in the message', () => {
    // Act
    const facts = apiErrorFacts(
      rawHttpError(400, googleBody('INVALID_ARGUMENT', 400, 'bad name', 'SOME_REASON')),
    );

    // Assess
    expect(facts).toEqual(
      expect.objectContaining({
        status: 'INVALID_ARGUMENT',
        httpStatus: 400,
        message: 'bad name',
        reason: 'SOME_REASON',
      }),
    );
  });
});

function operation(overrides: Partial<ClusterOperation>): ClusterOperation {
  return {
    name: 'operation-1',
    path: 'projects/p/locations/l/operations/operation-1',
    operationType: 'CREATE_NODE_POOL',
    status: 'DONE',
    statusMessage: '',
    targetLink: 'https://container.googleapis.com/v1/projects/p/locations/l/clusters/c/nodePools/triton-l4',
    pool: 'triton-l4',
    error: undefined,
    startTime: undefined,
    endTime: undefined,
    ...overrides,
  };
}

describe('operationOutcome', () => {
  it.each([
    ['PENDING', operation({ status: 'PENDING' }), 'running', undefined],
    ['RUNNING', operation({ status: 'RUNNING' }), 'running', undefined],
    ['DONE', operation({}), 'succeeded', undefined],
    [
      'DONE with a status message',
      operation({ statusMessage: 'Insufficient quota' }),
      'failed',
      PermanentError,
    ],
    [
      'DONE cancelled',
      operation({ error: { code: 1, message: 'Operation was cancelled.' } }),
      'failed',
      PermanentError,
    ],
    ['DONE unavailable', operation({ error: { code: 14, message: 'try again' } }), 'failed', RetryableError],
    [
      'DONE stockout',
      operation({ error: { code: 8, message: 'ZONE_RESOURCE_POOL_EXHAUSTED' } }),
      'failed',
      RetryableError,
    ],
  ])('%s', (_, op, state, errorClass) => {
    // Act
    const outcome = operationOutcome(op);

    // Assess
    expect(outcome.state).toBe(state);
    if (outcome.state === 'failed') {
      expect(outcome.error).toBeInstanceOf(errorClass);
      expect(outcome.error.message).toContain('operation-1');
      expect(outcome.error.message).toContain('triton-l4');
    }
  });
});

describe('isActionSatisfied', () => {
  const autoscaled = buildGpuNodePool({
    gpuClass: l4,
    size: { autoscaling: true, minNodes: 0, maxNodes: 3 },
  });
  const fixed = buildGpuNodePool({
    gpuClass: l4,
    size: { autoscaling: false, nodeCountPerZone: 2 },
    model: 'bert',
  });
  /** What GKE returns: enums as names, int64 as strings. */
  const observed: NodePool = JSON.parse(JSON.stringify(autoscaled));
  const actions = planNodePoolChanges(observed, fixed, { gpuClass: l4, observedNodeCountPerZone: 1 })
    .actions as NodePoolAction[];
  const [setAutoscaling, setSize, update] = actions;
  const create = planNodePoolChanges(undefined, fixed, { gpuClass: l4 }).actions[0] as NodePoolAction;
  const fixedObserved: NodePool = {
    ...JSON.parse(JSON.stringify(fixed)),
    autoscaling: { enabled: false },
    config: { ...fixed.config, taints: [{ key: 'nvidia.com/gpu', value: 'present', effect: 1 }] },
  };

  it('plans the three steps these cases rely on', () => {
    expect(actions.map((a) => a.kind)).toEqual([
      'setNodePoolAutoscaling',
      'setNodePoolSize',
      'updateNodePool',
    ]);
  });

  it.each([
    ['create, pool absent', () => create, undefined, undefined, false],
    ['create, pool exists', () => create, observed, undefined, true],
    ['autoscaling, still on', () => setAutoscaling, observed, undefined, false],
    ['autoscaling, now off', () => setAutoscaling, fixedObserved, 2, true],
    ['size, count differs', () => setSize, fixedObserved, 1, false],
    ['size, count unknown', () => setSize, fixedObserved, undefined, false],
    ['size, count matches', () => setSize, fixedObserved, 2, true],
    ['labels differ', () => update, observed, undefined, false],
    ['labels and taints match (effect as an int enum)', () => update, fixedObserved, 2, true],
  ])('%s', (_, action, pool, count, expected) => {
    expect(isActionSatisfied(action() as NodePoolAction, pool, count)).toBe(expected);
  });

  it('knows a delete is done when the pool is gone', () => {
    // Prepare
    const recreate = planNodePoolChanges(
      observed,
      buildGpuNodePool({
        gpuClass: l4,
        machineType: 'g2-standard-8',
        size: { autoscaling: true, minNodes: 0, maxNodes: 3 },
      }),
      {
        gpuClass: l4,
      },
    );
    const del = recreate.actions[0] as NodePoolAction;

    // Assess
    expect(del.kind).toBe('deleteNodePool');
    expect(poolOfAction(del)).toBe('triton-l4');
    expect(isActionSatisfied(del, observed, undefined)).toBe(false);
    expect(isActionSatisfied(del, undefined, undefined)).toBe(true);
  });
});

describe('withClusterLock', () => {
  it('runs work on one cluster one at a time, in arrival order, and keeps going after a failure', async () => {
    // Prepare
    const events: string[] = [];
    const job =
      (id: string, fail = false) =>
      async () => {
        events.push(`start ${id}`);
        await new Promise((r) => setTimeout(r, 5));
        events.push(`end ${id}`);
        if (fail) throw new Error(id);
        return id;
      };

    // Act
    const results = await Promise.allSettled([
      withClusterLock('c1', job('a')),
      withClusterLock('c1', job('b', true)),
      withClusterLock('c1', job('c')),
    ]);

    // Assess
    expect(events).toEqual(['start a', 'end a', 'start b', 'end b', 'start c', 'end c']);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
  });

  it('lets different clusters proceed side by side', async () => {
    // Prepare
    const events: string[] = [];
    let releaseFirst: () => void = () => {};
    const first = withClusterLock('c1', async () => {
      events.push('c1 start');
      await new Promise<void>((r) => {
        releaseFirst = r;
      });
      events.push('c1 end');
    });

    // Act
    await withClusterLock('c2', async () => {
      events.push('c2 ran');
    });
    releaseFirst();
    await first;

    // Assess
    expect(events).toEqual(['c1 start', 'c2 ran', 'c1 end']);
  });
});
