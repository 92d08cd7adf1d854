/**
 * NodePoolExecutor with the official `@google-cloud/container` client against the local GKE
 * server, in-process. Server and executor share one ManualClock: the executor's sleeps move time,
 * and time moves the server's operations, so waits are deterministic and instant.
 */
import { ClusterManagerClient } from '@google-cloud/container';
import { PassThroughClient } from 'google-auth-library';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type GkeServer, startGkeServer } from '../../infra/local/gke/index';
import { createContainerClient, GkeNodePools } from '../../shared/adapters/gke';
import {
  buildGpuNodePool,
  type GpuNodePoolInput,
  nodePoolActions,
  planNodePoolChanges,
} from '../../shared/cluster/nodepool';
import { createPlan, type NodePool } from '../../shared/domain/plan';
import { PlanExecutor } from '../../shared/execute/executor';
import {
  NodePoolExecutor,
  type NodePoolExecutorOptions,
  NodePoolRunner,
  type ExecutedStep as NodePoolStep,
  type StepEvent,
} from '../../shared/execute/nodepool-executor';
import { type GpuClass, resolveGpuClass } from '../../shared/gpu/catalog';
import { ClusterBusyError } from '../../shared/ports/nodepools';
import { ManualClock, systemClock } from '../../shared/runtime/clock';
import { PermanentError, RetryableError } from '../../shared/runtime/errors';
import { createMemoryLogger } from '../../shared/runtime/log';
import { gkeViewNodeCount } from '../support/node-count';

const l4 = resolveGpuClass('l4');
const PHASE_MS = 30_000;
const LOCATION = 'projects/local-project/locations/us-central1';
const POOLS_URL = '/v1/projects/local-project/locations/us-central1/clusters/inference/nodePools';

function desiredPool(overrides: Partial<GpuNodePoolInput> = {}): NodePool {
  return buildGpuNodePool({
    gpuClass: l4,
    size: { autoscaling: true, minNodes: 0, maxNodes: 3 },
    ...overrides,
  });
}

class Crash extends Error {
  override name = 'Crash';
}

describe('NodePoolExecutor against the local GKE server', () => {
  let clock: ManualClock;
  let server: GkeServer;
  let clients: ClusterManagerClient[];
  let memory: ReturnType<typeof createMemoryLogger>;

  /** A fresh client and adapter, as a new function instance would build them. */
  function nodePools(): GkeNodePools {
    const client = createContainerClient({ endpoint: server.url, accessToken: 'local-token' });
    clients.push(client);
    return new GkeNodePools(client, server.clusterName, { nodeCount: gkeViewNodeCount(server) });
  }

  function executor(extra: Partial<NodePoolExecutorOptions> = {}): NodePoolExecutor {
    return new NodePoolExecutor({
      nodePools: nodePools(),
      log: memory.logger,
      clock,
      poll: { initialMs: 1_000, factor: 1.5, maxMs: 10_000 },
      busyRetry: { initialMs: 2_000, factor: 1.5, maxMs: 10_000 },
      deadlineMs: 30 * 60_000,
      random: () => 0.5,
      ...extra,
    });
  }

  /**
   * Observe -> plan -> execute one desired pool, as a deploy does for its pool: the node pool
   * actions go through the one executor (guardrails checked, re-planned from observed state when
   * a precondition no longer holds). Returns the applied steps with their operations.
   */
  async function reconcile(
    ex: NodePoolExecutor,
    desired: NodePool,
    opts: { gpuClass: GpuClass; allowRecreate?: boolean },
  ): Promise<{ pool: string; status: 'unchanged' | 'changed'; steps: NodePoolStep[] }> {
    const pools = nodePools();
    const name = desired.name ?? '';
    const planNow = async () => {
      const observed = await pools.get(name);
      const count = observed ? await pools.nodeCountPerZone(observed) : undefined;
      const changes = planNodePoolChanges(observed, desired, {
        gpuClass: opts.gpuClass,
        ...(count === undefined ? {} : { observedNodeCountPerZone: count }),
      });
      return createPlan(
        clock,
        `reconcile ${name}`,
        nodePoolActions(changes, { allowRecreate: opts.allowRecreate ?? false }),
      );
    };
    const result = await new PlanExecutor([new NodePoolRunner(ex)], memory.logger).execute(await planNow(), {
      guardrails: () => undefined,
      replan: planNow,
    });
    const steps = result.steps
      .map((s) => s.detail as NodePoolStep | undefined)
      .filter((s): s is NodePoolStep => s?.outcome === 'applied');
    return { pool: name, status: steps.length === 0 ? 'unchanged' : 'changed', steps };
  }

  /** Every operation the server ever started, oldest first. */
  async function operations(): Promise<{ type: string; pool: string | undefined }[]> {
    const [res] = await rawClient().listOperations({ parent: LOCATION });
    return (res.operations ?? []).map((op) => ({
      type: String(op.operationType),
      pool: /nodePools\/([^/]+)$/.exec(op.targetLink ?? '')?.[1],
    }));
  }

  function rawClient(): ClusterManagerClient {
    const client = createContainerClient({ endpoint: server.url, accessToken: 'local-token' });
    clients.push(client);
    return client;
  }

  /** Drives time until the operation is DONE (tests that start operations themselves). */
  function finishOperations(): void {
    clock.advance(2 * PHASE_MS);
  }

  async function setupPool(pool: NodePool): Promise<void> {
    await reconcile(executor(), pool, { gpuClass: l4 });
  }

  async function remainingActions(desired: NodePool): Promise<string[]> {
    const pools = nodePools();
    const observed = await pools.get(desired.name ?? '');
    const count = observed ? await pools.nodeCountPerZone(observed) : undefined;
    const changes = planNodePoolChanges(observed, desired, {
      gpuClass: l4,
      ...(count === undefined ? {} : { observedNodeCountPerZone: count }),
    });
    return changes.actions.map((a) => a.kind);
  }

  beforeEach(async () => {
    clock = new ManualClock();
    server = await startGkeServer({ clock, operationPhaseMs: PHASE_MS });
    clients = [];
    memory = createMemoryLogger();
  });

  afterEach(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await server.close();
  });

  it('creates a GPU pool, then finds nothing to do on a second run', async () => {
    // Prepare
    const desired = desiredPool({ model: 'resnet50' });

    // Act
    const first = await reconcile(executor(), desired, { gpuClass: l4 });
    const second = await reconcile(executor(), desired, { gpuClass: l4 });

    // Assess
    expect(first.status).toBe('changed');
    expect(first.steps.map((s) => s.action.kind)).toEqual(['createNodePool']);
    expect(first.steps[0]?.operation?.status).toBe('DONE');
    expect(first.steps[0]?.polls).toBeGreaterThan(0);
    expect(second).toEqual({ pool: 'triton-l4', status: 'unchanged', steps: [] });
    const [pool] = server.snapshot().nodePools;
    expect(server.snapshot().nodePools).toHaveLength(1);
    expect(pool?.name).toBe('triton-l4');
    expect(pool?.config.machineType).toBe('g2-standard-4');
    expect(pool?.config.accelerators).toEqual([expect.objectContaining({ acceleratorType: 'nvidia-l4' })]);
    expect(pool?.config.taints).toEqual([
      expect.objectContaining({ key: 'nvidia.com/gpu', value: 'present' }),
    ]);
    expect(pool?.autoscaling).toEqual(
      expect.objectContaining({ enabled: true, totalMinNodeCount: 0, totalMaxNodeCount: 3 }),
    );
    expect(await operations()).toEqual([{ type: 'CREATE_NODE_POOL', pool: 'triton-l4' }]);
    const applied = memory.entries.filter((e) => e.message === 'node pool action applied');
    expect(applied).toEqual([
      expect.objectContaining({ action: 'createNodePool', target: 'nodePool/triton-l4', before: null }),
    ]);
    expect(
      memory.entries.some((e) => e.message === 'plan has nothing to do: live state already matches'),
    ).toBe(true);
  });

  it.each([
    {
      name: 'autoscaling range',
      size: { autoscaling: true as const, minNodes: 1, maxNodes: 5 },
      kinds: ['setNodePoolAutoscaling'],
      expectPool: (p: NodePool) =>
        expect(p.autoscaling).toEqual(
          expect.objectContaining({ totalMinNodeCount: 1, totalMaxNodeCount: 5 }),
        ),
    },
    {
      name: 'fixed size',
      size: { autoscaling: false as const, nodeCountPerZone: 2 },
      kinds: ['setNodePoolAutoscaling', 'setNodePoolSize'],
      expectPool: (p: NodePool) => {
        expect(p.autoscaling?.enabled ?? false).toBe(false);
        // The live size, which the v1 NodePool does not carry (initialNodeCount stays as created).
        expect(
          Object.values(server.nodePools().find((v) => v.name === p.name)?.nodeCountPerZone ?? {}),
        ).toEqual([2]);
      },
    },
  ])('changes the $name of an existing pool and converges', async ({ size, kinds, expectPool }) => {
    // Prepare
    await setupPool(desiredPool());
    const desired = desiredPool({ size });

    // Act
    const result = await reconcile(executor(), desired, { gpuClass: l4 });
    const again = await reconcile(executor(), desired, { gpuClass: l4 });

    // Assess
    expect(result.steps.map((s) => s.action.kind)).toEqual(kinds);
    expect(again.status).toBe('unchanged');
    const [pool] = server.snapshot().nodePools;
    expectPool(pool as NodePool);
    expect((await operations()).length).toBe(1 + kinds.length);
  });

  it('retries while another operation holds the cluster, then completes', async () => {
    // Prepare: someone else's operation is running on the cluster.
    const other = buildGpuNodePool({
      gpuClass: l4,
      size: { autoscaling: true, minNodes: 0, maxNodes: 1 },
      spot: true,
    });
    await rawClient().createNodePool({ parent: server.clusterName, nodePool: other });

    // Act
    const result = await reconcile(executor(), desiredPool(), { gpuClass: l4 });

    // Assess
    expect(result.steps[0]?.busyRetries).toBeGreaterThan(0);
    expect(memory.entries.some((e) => e.message === 'cluster busy, retrying')).toBe(true);
    expect(
      server
        .snapshot()
        .nodePools.map((p) => p.name)
        .sort(),
    ).toEqual(['triton-l4', 'triton-l4-spot']);
    expect((await operations()).map((o) => o.pool)).toEqual(['triton-l4-spot', 'triton-l4']);
  });

  it('waits for an operation already running on the pool instead of requesting it again', async () => {
    // Prepare: a crashed run had started the change.
    await setupPool(desiredPool());
    const desired = desiredPool({ size: { autoscaling: true, minNodes: 1, maxNodes: 4 } });
    await rawClient().setNodePoolAutoscaling({
      name: `${server.clusterName}/nodePools/triton-l4`,
      autoscaling: desired.autoscaling,
    });

    // Act
    const result = await reconcile(executor(), desired, { gpuClass: l4 });

    // Assess
    expect(result.status).toBe('unchanged');
    expect(
      memory.entries.some((e) => e.message === 'waiting for an operation already running on the node pool'),
    ).toBe(true);
    expect((await operations()).map((o) => o.type)).toEqual(['CREATE_NODE_POOL', 'UPDATE_CLUSTER']);
  });

  it('polls slow operations on the system clock until they are DONE', async () => {
    // Prepare
    await server.close();
    server = await startGkeServer({ operationPhaseMs: 150 });
    clock = new ManualClock();

    // Act
    const result = await reconcile(
      executor({
        clock: systemClock,
        poll: { initialMs: 10, factor: 1.5, maxMs: 40 },
        busyRetry: { initialMs: 10, factor: 1.5, maxMs: 40 },
      }),
      desiredPool(),
      { gpuClass: l4 },
    );

    // Assess: no claim about how long it took, only that it waited and finished.
    expect(result.steps[0]?.operation?.status).toBe('DONE');
    expect(result.steps[0]?.polls).toBeGreaterThan(1);
    expect(server.snapshot().nodePools[0]?.status).toBe(2);
  });

  it('gives up at the deadline with a retryable OPERATION_TIMEOUT naming the operation, and a re-run finishes it', async () => {
    // Prepare
    server.setOperationPhaseMs(60 * 60_000);

    // Act
    const error = await reconcile(executor({ deadlineMs: 5 * 60_000 }), desiredPool(), {
      gpuClass: l4,
    }).catch((e: unknown) => e);
    const [op] = await operations();
    const rerun = await reconcile(
      executor({
        deadlineMs: 3 * 60 * 60_000,
        poll: { initialMs: 60_000, factor: 1.5, maxMs: 300_000 },
      }),
      desiredPool(),
      {
        gpuClass: l4,
      },
    );

    // Assess
    expect(error).toBeInstanceOf(RetryableError);
    expect((error as RetryableError).reason).toBe('OPERATION_TIMEOUT');
    const [first] = (await rawClient().listOperations({ parent: LOCATION }))[0].operations ?? [];
    expect((error as Error).message).toContain(first?.name ?? 'missing');
    expect(op?.type).toBe('CREATE_NODE_POOL');
    expect(rerun.status).toBe('unchanged');
    expect(await operations()).toHaveLength(1);
    expect(server.snapshot().nodePools).toHaveLength(1);
  });

  it.each([
    { name: '503 on create', faults: { failNext: 2, failStatus: 503, match: `POST ${POOLS_URL}?` } },
    { name: '500 on create', faults: { failNext: 1, failStatus: 500, match: `POST ${POOLS_URL}?` } },
    { name: '429 on create', faults: { failNext: 1, failStatus: 429, match: `POST ${POOLS_URL}?` } },
    { name: 'connection reset on create', faults: { dropNext: 1, match: `POST ${POOLS_URL}?` } },
    {
      name: '503 while polling',
      faults: {
        failNext: 2,
        failStatus: 503,
        match: 'GET /v1/projects/local-project/locations/us-central1/operations/',
      },
    },
    {
      name: 'reset while polling',
      faults: { dropNext: 1, match: 'GET /v1/projects/local-project/locations/us-central1/operations/' },
    },
  ])('retries a transient failure ($name) and creates exactly one pool', async ({ faults }) => {
    // Prepare
    server.faults.set(faults);

    // Act
    const result = await reconcile(executor(), desiredPool(), { gpuClass: l4 });

    // Assess
    expect(server.faults.injected).toBeGreaterThan(0);
    expect(result.status).toBe('changed');
    expect(server.snapshot().nodePools.map((p) => p.name)).toEqual(['triton-l4']);
    expect(await operations()).toHaveLength(1);
  });

  it.each([
    {
      name: 'invalid pool (zone outside the region)',
      prepare: () => undefined,
      pool: () => desiredPool({ locations: ['europe-west4-a'] }),
      reason: 'INVALID_ARGUMENT',
      message: 'europe-west4-a',
    },
    {
      name: 'permission denied',
      prepare: (s: GkeServer) => s.faults.set({ failNext: 1, failStatus: 403, match: `POST ${POOLS_URL}?` }),
      pool: () => desiredPool(),
      reason: 'PERMISSION_DENIED',
      message: 'injected fault',
    },
  ])(
    'fails permanently on $name, naming the pool and the API message',
    async ({ prepare, pool, reason, message }) => {
      // Prepare
      prepare(server);

      // Act
      const error = await reconcile(executor(), pool(), { gpuClass: l4 }).catch((e: unknown) => e);

      // Assess
      expect(error).toBeInstanceOf(PermanentError);
      expect((error as PermanentError).reason).toBe(reason);
      expect((error as Error).message).toContain('triton-l4');
      expect((error as Error).message).toContain(message);
      expect(server.snapshot().nodePools).toHaveLength(0);
    },
  );

  describe('crash and re-run', () => {
    const start = desiredPool({ model: 'resnet50' });
    const target = desiredPool({ model: 'bert', size: { autoscaling: false, nodeCountPerZone: 2 } });
    const steps = ['setNodePoolAutoscaling', 'setNodePoolSize', 'updateNodePool'];

    const cases = [0, 1, 2].flatMap((k) => (['started', 'done'] as const).map((phase) => ({ k, phase })));

    it.each(cases)('resumes after a crash at step $k ($phase)', async ({ k, phase }) => {
      // Prepare
      await setupPool(start);
      expect(await remainingActions(target)).toEqual(steps);
      const crashing = executor({
        onStep: (e: StepEvent) => {
          if (e.step === k && e.phase === phase) throw new Crash(`crash at step ${k} ${phase}`);
        },
      });

      // Act
      const crashed = await reconcile(crashing, target, { gpuClass: l4 }).catch((e: unknown) => e);
      const resumed = await reconcile(executor(), target, { gpuClass: l4 });

      // Assess
      expect(crashed).toBeInstanceOf(Crash);
      expect(resumed.steps.map((s) => s.action.kind)).toEqual(steps.slice(k + 1));
      expect(await remainingActions(target)).toEqual([]);
      expect(server.snapshot().nodePools.map((p) => p.name)).toEqual(['triton-l4']);
      expect((await operations()).map((o) => o.type)).toEqual([
        'CREATE_NODE_POOL',
        'UPDATE_CLUSTER',
        'SET_NODE_POOL_SIZE',
        'UPGRADE_NODES',
      ]);
    });

    it.each(['started', 'done'] as const)(
      'never duplicates a pool after a crash during create (%s)',
      async (phase) => {
        // Prepare
        const crashing = executor({
          onStep: (e: StepEvent) => {
            if (e.phase === phase) throw new Crash('crash');
          },
        });

        // Act
        const crashed = await reconcile(crashing, start, { gpuClass: l4 }).catch((e: unknown) => e);
        const resumed = await reconcile(executor(), start, { gpuClass: l4 });

        // Assess
        expect(crashed).toBeInstanceOf(Crash);
        expect(resumed.status).toBe('unchanged');
        expect(server.snapshot().nodePools.map((p) => p.name)).toEqual(['triton-l4']);
        expect(await operations()).toEqual([{ type: 'CREATE_NODE_POOL', pool: 'triton-l4' }]);
      },
    );

    it.each([0, 1, 2])(
      're-applies a given plan after a crash at step %i, skipping what is done',
      async (k) => {
        // Prepare
        await setupPool(start);
        const pools = nodePools();
        const observed = await pools.get('triton-l4');
        const plan = planNodePoolChanges(observed, target, {
          gpuClass: l4,
          observedNodeCountPerZone: (await pools.nodeCountPerZone(observed as NodePool)) ?? 0,
        }).actions;
        const crashing = executor({
          onStep: (e: StepEvent) => {
            if (e.step === k && e.phase === 'done') throw new Crash('crash');
          },
        });

        // Act: the same plan, through the executor, without a re-plan
        const run = (ex: NodePoolExecutor) =>
          new PlanExecutor([new NodePoolRunner(ex)], memory.logger).execute(
            createPlan(clock, 'given', plan),
            {
              guardrails: () => undefined,
            },
          );
        await run(crashing).catch((e: unknown) => e);
        const rerun = await run(executor());

        // Assess
        expect(rerun.replans).toBe(0);
        expect(rerun.steps.map((s) => s.outcome)).toEqual(
          steps.map((_, i) => (i <= k ? 'skipped' : 'applied')),
        );
        expect(await remainingActions(target)).toEqual([]);
        expect(await operations()).toHaveLength(1 + steps.length);
      },
    );
  });

  it('refuses a recreate unless allowed, and with permission resumes it after a crash between delete and create', async () => {
    // Prepare
    await setupPool(desiredPool());
    const bigger = desiredPool({ machineType: 'g2-standard-8' });
    const crashing = executor({
      onStep: (e: StepEvent) => {
        if (e.action.kind === 'deleteNodePool' && e.phase === 'done') throw new Crash('crash after delete');
      },
    });

    // Act
    const refused = await reconcile(executor(), bigger, { gpuClass: l4 }).catch((e: unknown) => e);
    const crashed = await reconcile(crashing, bigger, { gpuClass: l4, allowRecreate: true }).catch(
      (e: unknown) => e,
    );
    const poolsAfterCrash = server.snapshot().nodePools.length;
    const resumed = await reconcile(executor(), bigger, { gpuClass: l4, allowRecreate: true });

    // Assess
    expect(refused).toBeInstanceOf(PermanentError);
    expect((refused as PermanentError).reason).toBe('NODE_POOL_RECREATE_REQUIRED');
    expect(crashed).toBeInstanceOf(Crash);
    expect(poolsAfterCrash).toBe(0);
    expect(resumed.steps.map((s) => s.action.kind)).toEqual(['createNodePool']);
    expect(server.snapshot().nodePools.map((p) => p.config.machineType)).toEqual(['g2-standard-8']);
    expect((await operations()).map((o) => o.type)).toEqual([
      'CREATE_NODE_POOL',
      'DELETE_NODE_POOL',
      'CREATE_NODE_POOL',
    ]);
  });

  it('serialises two concurrent reconciles of one cluster in one process', async () => {
    // Prepare
    const desired = desiredPool();

    // Act
    const [a, b] = await Promise.all([
      reconcile(executor(), desired, { gpuClass: l4 }),
      reconcile(executor(), desired, { gpuClass: l4 }),
    ]);

    // Assess
    expect([a.status, b.status]).toEqual(['changed', 'unchanged']);
    expect(a.steps[0]?.busyRetries).toBe(0);
    expect(server.snapshot().nodePools.map((p) => p.name)).toEqual(['triton-l4']);
    expect(await operations()).toHaveLength(1);
  });

  it('recognises a busy cluster through a client without the validateStatus fix (raw HTTP 400 body)', async () => {
    // Prepare: the client as gke.md builds it; gaxios throws before google-gax decodes the error.
    type AuthOption = NonNullable<ConstructorParameters<typeof ClusterManagerClient>[0]>['authClient'];
    const u = new URL(server.url);
    const unfixed = new ClusterManagerClient({
      fallback: true,
      protocol: 'http',
      apiEndpoint: u.hostname,
      port: Number(u.port),
      authClient: new PassThroughClient() as unknown as AuthOption,
    });
    clients.push(unfixed);
    const pools = new GkeNodePools(unfixed, server.clusterName);
    await pools.create(desiredPool());

    // Act
    const error = await pools.setSize('triton-l4', 1).catch((e: unknown) => e);
    const missing = await pools.get('absent');

    // Assess
    expect(error).toBeInstanceOf(ClusterBusyError);
    expect((error as ClusterBusyError).operation).toMatch(/^operation-/);
    expect(missing).toBeUndefined();
  });

  it('finishes an operation started directly once the test moves time', async () => {
    // Prepare: sanity check of the harness itself, so the tests above cannot pass vacuously.
    await rawClient().createNodePool({ parent: server.clusterName, nodePool: desiredPool() });
    expect(server.snapshot().nodePools[0]?.status).toBe(1);

    // Act
    finishOperations();

    // Assess
    expect(server.snapshot().nodePools[0]?.status).toBe(2);
  });
});
