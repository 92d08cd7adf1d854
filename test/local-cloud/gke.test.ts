/**
 * Contract tests for the local GKE server, driven only through the official
 * `@google-cloud/container` client in REST fallback mode. Enums travel as integers on the wire and
 * the client decodes them to names, so assertions use the names.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ClusterManagerClient, protos } from '@google-cloud/container';
import { ClusterManagerClient as RawClusterManagerClient } from '@google-cloud/container';
import { PassThroughClient } from 'google-auth-library';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { localContainerClient } from '../../infra/local/gke/client';
import { type GkeServer, startGkeServer } from '../../infra/local/gke/index';
import { ManualClock } from '../../shared/runtime/clock';

type INodePool = protos.google.container.v1.INodePool;
type IOperation = protos.google.container.v1.IOperation;
/** google-gax bundles its own google-auth-library, so TypeScript sees two AuthClient classes. */
type AuthClientOption = NonNullable<ConstructorParameters<typeof RawClusterManagerClient>[0]>['authClient'];

const PHASE_MS = 1_000;

interface ApiError {
  code?: unknown;
  message?: unknown;
  reason?: unknown;
  domain?: unknown;
  status?: unknown;
}

/** Runs a call that must fail and returns the error the client surfaced. */
async function failure(call: Promise<unknown>): Promise<ApiError> {
  try {
    await call;
  } catch (err) {
    return err as ApiError;
  }
  throw new Error('expected the call to fail');
}

function gpuPool(name: string, extra: Partial<INodePool> = {}): INodePool {
  return {
    name,
    initialNodeCount: 1,
    config: {
      machineType: 'g2-standard-8',
      accelerators: [{ acceleratorType: 'nvidia-l4', acceleratorCount: 1 }],
      taints: [{ key: 'nvidia.com/gpu', value: 'present', effect: 'NO_SCHEDULE' }],
      labels: { 'inferplane.dev/pool': name },
    },
    ...extra,
  };
}

describe('local GKE server through the official client', () => {
  let clock: ManualClock;
  let server: GkeServer;
  let client: ClusterManagerClient;
  let dir: string;

  const pool = (name: string) => `${server.clusterName}/nodePools/${name}`;
  const operation = (op: IOperation) => `projects/local-project/locations/us-central1/operations/${op.name}`;

  /** Advances the manual clock past both phases, so the operation is DONE on the next read. */
  async function finish(op: IOperation): Promise<IOperation> {
    clock.advance(2 * PHASE_MS);
    const [done] = await client.getOperation({ name: operation(op) });
    return done;
  }

  beforeEach(async () => {
    clock = new ManualClock();
    dir = mkdtempSync(join(tmpdir(), 'gke-test-'));
    server = await startGkeServer({ dir, clock, operationPhaseMs: PHASE_MS });
    client = localContainerClient(server.url);
  });

  afterEach(async () => {
    await client.close();
    await server.close();
  });

  describe('cluster', () => {
    it('returns the configured cluster', async () => {
      // Act
      const [cluster] = await client.getCluster({ name: server.clusterName });

      // Assess
      expect(server.clusterName).toBe('projects/local-project/locations/us-central1/clusters/inference');
      expect(cluster.name).toBe('inference');
      expect(cluster.status).toBe('RUNNING');
      expect(cluster.location).toBe('us-central1');
      expect(cluster.locations).toEqual(['us-central1-a']);
    });

    it.each([
      ['another cluster', 'projects/local-project/locations/us-central1/clusters/other'],
      ['another project', 'projects/elsewhere/locations/us-central1/clusters/inference'],
      ['another location', 'projects/local-project/locations/europe-west4/clusters/inference'],
    ])('answers NOT_FOUND for %s', async (_, name) => {
      // Act
      const err = await failure(client.getCluster({ name }));

      // Assess
      expect(err.code).toBe(5);
      expect(String(err.message)).toContain('Not found');
    });
  });

  describe('operation lifecycle', () => {
    it('creates a node pool through PENDING, RUNNING and DONE', async () => {
      // Act
      const [op] = await client.createNodePool({ parent: server.clusterName, nodePool: gpuPool('l4') });
      const [provisioning] = await client.getNodePool({ name: pool('l4') });
      clock.advance(PHASE_MS);
      const [running] = await client.getOperation({ name: operation(op) });
      clock.advance(PHASE_MS);
      const [done] = await client.getOperation({ name: operation(op) });
      const [created] = await client.getNodePool({ name: pool('l4') });

      // Assess
      expect(op.name).toMatch(/^operation-/);
      expect(op.operationType).toBe('CREATE_NODE_POOL');
      expect(op.status).toBe('PENDING');
      expect(op.targetLink).toBe(`https://container.googleapis.com/v1/${pool('l4')}`);
      expect(op.selfLink).toContain(`/operations/${op.name}`);
      expect(op.startTime).not.toBe('');
      expect(op.endTime).toBe('');
      expect(provisioning.status).toBe('PROVISIONING');
      expect(running.status).toBe('RUNNING');
      expect(done.status).toBe('DONE');
      expect(done.endTime).not.toBe('');
      expect(done.error).toBeNull();
      expect(created.status).toBe('RUNNING');
      expect(created.config?.machineType).toBe('g2-standard-8');
      expect(created.config?.accelerators).toEqual([
        expect.objectContaining({ acceleratorType: 'nvidia-l4', acceleratorCount: '1' }),
      ]);
      expect(created.config?.taints).toEqual([
        expect.objectContaining({ key: 'nvidia.com/gpu', value: 'present', effect: 'NO_SCHEDULE' }),
      ]);
      expect(created.locations).toEqual(['us-central1-a']);
      expect(server.snapshot().nodePools[0]?.currentNodeCount).toBe(1);
    });

    it('moves an operation to DONE on the system clock too', async () => {
      // Prepare
      await client.close();
      await server.close();
      server = await startGkeServer({ dir, operationPhaseMs: 5 });
      client = localContainerClient(server.url);
      const [op] = await client.createNodePool({ parent: server.clusterName, nodePool: gpuPool('l4') });

      // Act: poll like a real caller would; no assertion on how long it took.
      let current: IOperation = op;
      while (current.status !== 'DONE') {
        await new Promise((r) => setTimeout(r, 2));
        [current] = await client.getOperation({ name: operation(op) });
      }
      const [p] = await client.getNodePool({ name: pool('l4') });

      // Assess
      expect(current.endTime).not.toBe('');
      expect(p.status).toBe('RUNNING');
    });

    it('refuses a second mutation while an operation runs, and accepts it once DONE', async () => {
      // Prepare
      const [op] = await client.createNodePool({ parent: server.clusterName, nodePool: gpuPool('l4') });
      clock.advance(PHASE_MS);

      // Act
      const busy = await failure(
        client.createNodePool({ parent: server.clusterName, nodePool: gpuPool('other') }),
      );
      const done = await finish(op);
      const [next] = await client.setNodePoolSize({ name: pool('l4'), nodeCount: 2 });

      // Assess
      expect(busy.code).toBe(9);
      expect(busy.message).toBe(`Cluster is running incompatible operation ${op.name}.`);
      expect(busy.reason).toBe('CLUSTER_ALREADY_HAS_OPERATION');
      expect(busy.domain).toBe('container.googleapis.com');
      expect(done.status).toBe('DONE');
      expect(next.operationType).toBe('SET_NODE_POOL_SIZE');
    });

    it('cancels a running operation and rolls its change back', async () => {
      // Prepare
      const [op] = await client.createNodePool({ parent: server.clusterName, nodePool: gpuPool('l4') });

      // Act
      await client.cancelOperation({ name: operation(op) });
      const [cancelled] = await client.getOperation({ name: operation(op) });
      const [list] = await client.listNodePools({ parent: server.clusterName });

      // Assess
      expect(cancelled.status).toBe('DONE');
      expect(cancelled.error?.code).toBe(1);
      expect(list.nodePools).toEqual([]);
    });

    it('lists operations and answers NOT_FOUND for an unknown one', async () => {
      // Prepare
      const [op] = await client.createNodePool({ parent: server.clusterName, nodePool: gpuPool('l4') });

      // Act
      const [list] = await client.listOperations({ parent: 'projects/local-project/locations/us-central1' });
      const err = await failure(
        client.getOperation({
          name: 'projects/local-project/locations/us-central1/operations/operation-nope',
        }),
      );

      // Assess
      expect(list.operations?.map((o) => o.name)).toEqual([op.name]);
      expect(err.code).toBe(5);
    });

    it('deletes a pool through STOPPING', async () => {
      // Prepare
      await finish((await client.createNodePool({ parent: server.clusterName, nodePool: gpuPool('l4') }))[0]);

      // Act
      const [op] = await client.deleteNodePool({ name: pool('l4') });
      const [stopping] = await client.getNodePool({ name: pool('l4') });
      await finish(op);
      const err = await failure(client.getNodePool({ name: pool('l4') }));

      // Assess
      expect(op.operationType).toBe('DELETE_NODE_POOL');
      expect(stopping.status).toBe('STOPPING');
      expect(err.code).toBe(5);
    });
  });

  describe('node pool calls', () => {
    beforeEach(async () => {
      server.setOperationPhaseMs(0);
      await client.createNodePool({ parent: server.clusterName, nodePool: gpuPool('l4') });
    });

    it('lists and gets pools', async () => {
      // Prepare
      await client.createNodePool({
        parent: server.clusterName,
        nodePool: { name: 'cpu', initialNodeCount: 2, config: { machineType: 'e2-standard-4' } },
      });

      // Act
      const [list] = await client.listNodePools({ parent: server.clusterName });
      const [cpu] = await client.getNodePool({ name: pool('cpu') });

      // Assess
      expect(list.nodePools?.map((p) => p.name)).toEqual(['l4', 'cpu']);
      expect(cpu.initialNodeCount).toBe(2);
      expect(cpu.config?.accelerators).toEqual([]);
      expect(cpu.selfLink).toBe(`https://container.googleapis.com/v1/${pool('cpu')}`);
    });

    it('updates labels, resource labels, taints and locations', async () => {
      // Act
      const [op] = await client.updateNodePool({
        name: pool('l4'),
        labels: { labels: { team: 'ml' } },
        resourceLabels: { labels: { cost: 'gpu' } },
        taints: { taints: [{ key: 'dedicated', value: 'triton', effect: 'NO_EXECUTE' }] },
        locations: ['us-central1-a', 'us-central1-b'],
      });
      const [updated] = await client.getNodePool({ name: pool('l4') });

      // Assess
      expect(op.operationType).toBe('UPGRADE_NODES');
      expect(updated.config?.labels).toEqual({ team: 'ml' });
      expect(updated.config?.resourceLabels).toEqual({ cost: 'gpu' });
      expect(updated.config?.taints).toEqual([
        expect.objectContaining({ key: 'dedicated', value: 'triton', effect: 'NO_EXECUTE' }),
      ]);
      expect(updated.locations).toEqual(['us-central1-a', 'us-central1-b']);
      expect(server.snapshot().nodePools[0]?.currentNodeCount).toBe(2);
    });

    it('changes the machine type together with its accelerators', async () => {
      // Act
      await client.updateNodePool({ name: pool('l4'), machineType: 'g2-standard-24' });
      const [updated] = await client.getNodePool({ name: pool('l4') });

      // Assess
      expect(updated.config?.machineType).toBe('g2-standard-24');
      expect(updated.config?.accelerators).toEqual([
        expect.objectContaining({ acceleratorType: 'nvidia-l4', acceleratorCount: '2' }),
      ]);
    });

    it('sets the size per zone', async () => {
      // Prepare
      await client.updateNodePool({ name: pool('l4'), locations: ['us-central1-a', 'us-central1-c'] });

      // Act
      const [op] = await client.setNodePoolSize({ name: pool('l4'), nodeCount: 3 });
      const [sized] = await client.getNodePool({ name: pool('l4') });

      // Assess
      expect(op.operationType).toBe('SET_NODE_POOL_SIZE');
      expect(op.status).toBe('DONE');
      expect(sized.initialNodeCount).toBe(1);
      expect(server.nodePools()[0]?.nodeCountPerZone).toEqual({ 'us-central1-a': 3, 'us-central1-c': 3 });
      expect(server.snapshot().nodePools[0]?.currentNodeCount).toBe(6);
    });

    it('sets autoscaling and clamps a size outside its bounds once DONE', async () => {
      // Act
      const [op] = await client.setNodePoolAutoscaling({
        name: pool('l4'),
        autoscaling: { enabled: true, minNodeCount: 1, maxNodeCount: 4, locationPolicy: 'ANY' },
      });
      await client.setNodePoolSize({ name: pool('l4'), nodeCount: 9 });
      const [scaled] = await client.getNodePool({ name: pool('l4') });

      // Assess
      expect(op.operationType).toBe('UPDATE_CLUSTER');
      expect(scaled.autoscaling).toEqual(
        expect.objectContaining({ enabled: true, minNodeCount: 1, maxNodeCount: 4, locationPolicy: 'ANY' }),
      );
      expect(scaled.initialNodeCount).toBe(1);
      expect(server.nodePools()[0]?.nodeCountPerZone).toEqual({ 'us-central1-a': 4 });
    });

    it('clamps against total bounds across zones', async () => {
      // Prepare
      await client.updateNodePool({ name: pool('l4'), locations: ['us-central1-a', 'us-central1-b'] });

      // Act
      await client.setNodePoolAutoscaling({
        name: pool('l4'),
        autoscaling: {
          enabled: true,
          totalMinNodeCount: 6,
          totalMaxNodeCount: 10,
          locationPolicy: 'BALANCED',
        },
      });
      const [scaled] = await client.getNodePool({ name: pool('l4') });

      // Assess
      expect(scaled.initialNodeCount).toBe(1);
      expect(server.nodePools()[0]?.nodeCountPerZone).toEqual({ 'us-central1-a': 3, 'us-central1-b': 3 });
      expect(server.snapshot().nodePools[0]?.currentNodeCount).toBe(6);
    });

    it('turns autoscaling off and drops its bounds', async () => {
      // Prepare
      await client.setNodePoolAutoscaling({
        name: pool('l4'),
        autoscaling: { enabled: true, minNodeCount: 0, maxNodeCount: 2 },
      });

      // Act
      await client.setNodePoolAutoscaling({ name: pool('l4'), autoscaling: { enabled: false } });
      const [p] = await client.getNodePool({ name: pool('l4') });

      // Assess
      expect(p.autoscaling).toEqual(expect.objectContaining({ enabled: false, maxNodeCount: 0 }));
    });

    it('sets management', async () => {
      // Act
      const [op] = await client.setNodePoolManagement({
        name: pool('l4'),
        management: { autoUpgrade: false, autoRepair: true },
      });
      const [p] = await client.getNodePool({ name: pool('l4') });

      // Assess
      expect(op.operationType).toBe('SET_NODE_POOL_MANAGEMENT');
      expect(p.management).toEqual(expect.objectContaining({ autoUpgrade: false, autoRepair: true }));
    });
  });

  describe('validation', () => {
    beforeEach(() => server.setOperationPhaseMs(0));

    it.each([
      ['an upper-case name', 'GPU'],
      ['a name starting with a digit', '1gpu'],
      ['a name ending with a hyphen', 'gpu-'],
      ['a name over 40 characters', `p${'x'.repeat(40)}`],
      ['an empty name', ''],
    ])('refuses %s with INVALID_ARGUMENT', async (_, name) => {
      // Act
      const err = await failure(
        client.createNodePool({ parent: server.clusterName, nodePool: gpuPool(name) }),
      );

      // Assess
      expect(err.code).toBe(3);
      expect(server.snapshot().nodePools).toEqual([]);
    });

    it('accepts a 40-character name', async () => {
      // Act
      const name = `p${'x'.repeat(39)}`;
      await client.createNodePool({ parent: server.clusterName, nodePool: gpuPool(name) });

      // Assess
      expect(server.snapshot().nodePools.map((p) => p.name)).toEqual([name]);
    });

    it('refuses a duplicate pool with ALREADY_EXISTS', async () => {
      // Prepare
      await client.createNodePool({ parent: server.clusterName, nodePool: gpuPool('l4') });

      // Act
      const err = await failure(
        client.createNodePool({ parent: server.clusterName, nodePool: gpuPool('l4') }),
      );

      // Assess
      expect(err.code).toBe(6);
    });

    it.each([
      ['get', (c: ClusterManagerClient, name: string) => c.getNodePool({ name })],
      [
        'update',
        (c: ClusterManagerClient, name: string) => c.updateNodePool({ name, labels: { labels: {} } }),
      ],
      ['setSize', (c: ClusterManagerClient, name: string) => c.setNodePoolSize({ name, nodeCount: 1 })],
      ['delete', (c: ClusterManagerClient, name: string) => c.deleteNodePool({ name })],
    ])('answers NOT_FOUND to %s of an unknown pool', async (_, call) => {
      // Act
      const err = await failure(call(client, pool('missing')));

      // Assess
      expect(err.code).toBe(5);
    });

    it.each([
      ['L4 on an A2 machine', 'a2-highgpu-1g', 'nvidia-l4', 1, 'nvidia-tesla-a100'],
      ['A100 on a G2 machine', 'g2-standard-8', 'nvidia-tesla-a100', 1, 'nvidia-l4'],
      ['A100 80GB on a highgpu A2', 'a2-highgpu-1g', 'nvidia-a100-80gb', 1, 'nvidia-tesla-a100'],
      ['A100 40GB on an ultragpu A2', 'a2-ultragpu-1g', 'nvidia-tesla-a100', 1, 'nvidia-a100-80gb'],
      ['H100 on an A2 machine', 'a2-highgpu-8g', 'nvidia-h100-80gb', 8, 'nvidia-tesla-a100'],
      ['L4 on a general-purpose machine', 'e2-standard-8', 'nvidia-l4', 1, 'requires machine type g2-*'],
      [
        'too few H100 for a3-highgpu-8g',
        'a3-highgpu-8g',
        'nvidia-h100-80gb',
        1,
        'requires accelerator count 8',
      ],
      ['too many L4 for g2-standard-8', 'g2-standard-8', 'nvidia-l4', 2, 'requires accelerator count 1'],
      ['an unknown G2 size', 'g2-standard-7', 'nvidia-l4', 1, 'not a known GPU machine type'],
    ])('refuses %s', async (_, machineType, acceleratorType, acceleratorCount, expected) => {
      // Act
      const err = await failure(
        client.createNodePool({
          parent: server.clusterName,
          nodePool: {
            name: 'gpu',
            initialNodeCount: 1,
            config: { machineType, accelerators: [{ acceleratorType, acceleratorCount }] },
          },
        }),
      );

      // Assess
      expect(err.code).toBe(3);
      expect(String(err.message)).toContain(expected);
      expect(server.snapshot().nodePools).toEqual([]);
    });

    it.each([
      ['g2-standard-24', 'nvidia-l4', 2],
      ['a2-highgpu-4g', 'nvidia-tesla-a100', 4],
      ['a2-megagpu-16g', 'nvidia-tesla-a100', 16],
      ['a2-ultragpu-1g', 'nvidia-a100-80gb', 1],
      ['a3-highgpu-8g', 'nvidia-h100-80gb', 8],
      ['n1-standard-8', 'nvidia-tesla-t4', 1],
    ])('accepts %s with %i x %s', async (machineType, acceleratorType, acceleratorCount) => {
      // Act
      await client.createNodePool({
        parent: server.clusterName,
        nodePool: {
          name: 'gpu',
          initialNodeCount: 1,
          config: { machineType, accelerators: [{ acceleratorType, acceleratorCount }] },
        },
      });
      const [created] = await client.getNodePool({ name: pool('gpu') });

      // Assess
      expect(created.config?.accelerators?.[0]).toEqual(
        expect.objectContaining({ acceleratorType, acceleratorCount: String(acceleratorCount) }),
      );
    });

    it('refuses an update to a machine type that does not fit the accelerators', async () => {
      // Prepare
      await client.createNodePool({ parent: server.clusterName, nodePool: gpuPool('l4') });

      // Act
      const err = await failure(
        client.updateNodePool({
          name: pool('l4'),
          machineType: 'a3-highgpu-8g',
          accelerators: [{ acceleratorType: 'nvidia-l4', acceleratorCount: 1 }],
        }),
      );
      const [unchanged] = await client.getNodePool({ name: pool('l4') });

      // Assess
      expect(err.code).toBe(3);
      expect(unchanged.config?.machineType).toBe('g2-standard-8');
    });

    it.each([
      [
        'per-zone and total bounds together',
        { enabled: true, minNodeCount: 1, maxNodeCount: 3, totalMaxNodeCount: 6 },
      ],
      ['min above max', { enabled: true, minNodeCount: 4, maxNodeCount: 2 }],
      ['total min above total max', { enabled: true, totalMinNodeCount: 5, totalMaxNodeCount: 2 }],
      ['a negative min', { enabled: true, minNodeCount: -1, maxNodeCount: 2 }],
      ['a zero max', { enabled: true, minNodeCount: 0, maxNodeCount: 0 }],
    ])('refuses autoscaling with %s', async (_, autoscaling) => {
      // Prepare
      await client.createNodePool({ parent: server.clusterName, nodePool: gpuPool('l4') });

      // Act
      const onSet = await failure(client.setNodePoolAutoscaling({ name: pool('l4'), autoscaling }));
      const onCreate = await failure(
        client.createNodePool({ parent: server.clusterName, nodePool: gpuPool('other', { autoscaling }) }),
      );

      // Assess
      expect(onSet.code).toBe(3);
      expect(onCreate.code).toBe(3);
      expect(server.snapshot().nodePools[0]?.autoscaling).toBeUndefined();
    });

    it('refuses a negative size', async () => {
      // Prepare
      await client.createNodePool({ parent: server.clusterName, nodePool: gpuPool('l4') });

      // Act
      const err = await failure(client.setNodePoolSize({ name: pool('l4'), nodeCount: -1 }));

      // Assess
      expect(err.code).toBe(3);
    });

    it('refuses zones outside the cluster region', async () => {
      // Act
      const err = await failure(
        client.createNodePool({
          parent: server.clusterName,
          nodePool: gpuPool('l4', { locations: ['europe-west4-a'] }),
        }),
      );

      // Assess
      expect(err.code).toBe(3);
    });
  });

  describe('persistence', () => {
    it('keeps node pools across a restart on the same dir', async () => {
      // Prepare
      server.setOperationPhaseMs(0);
      await client.createNodePool({ parent: server.clusterName, nodePool: gpuPool('l4') });
      await client.setNodePoolSize({ name: pool('l4'), nodeCount: 2 });
      await client.close();
      await server.close();

      // Act
      server = await startGkeServer({ dir, clock, operationPhaseMs: 0 });
      client = localContainerClient(server.url);
      const [list] = await client.listNodePools({ parent: server.clusterName });

      // Assess
      expect(list.nodePools?.map((p) => [p.name, p.status, p.initialNodeCount])).toEqual([
        ['l4', 'RUNNING', 1],
      ]);
      expect(server.nodePools()[0]?.nodeCountPerZone).toEqual({ 'us-central1-a': 2 });
    });

    it('finishes an operation that was running when the server stopped', async () => {
      // Prepare
      const [op] = await client.createNodePool({ parent: server.clusterName, nodePool: gpuPool('l4') });
      await client.close();
      await server.close();

      // Act
      server = await startGkeServer({ dir, clock, operationPhaseMs: PHASE_MS });
      client = localContainerClient(server.url);
      const done = await finish(op);
      const [p] = await client.getNodePool({ name: pool('l4') });

      // Assess
      expect(done.status).toBe('DONE');
      expect(p.status).toBe('RUNNING');
    });
  });

  describe('fault injection', () => {
    it('surfaces an injected 503 on a mutation as UNAVAILABLE', async () => {
      // Prepare
      server.faults.set({ failNext: 1 });

      // Act
      const err = await failure(
        client.createNodePool({ parent: server.clusterName, nodePool: gpuPool('l4') }),
      );

      // Assess
      expect(err.code).toBe(14);
      expect(server.faults.injected).toBe(1);
      expect(server.snapshot().nodePools).toEqual([]);
    });

    it('lets the client retry an idempotent read after an injected 503', async () => {
      // Prepare
      server.faults.set({ failNext: 1, match: 'GET ' });

      // Act
      const [cluster] = await client.getCluster({ name: server.clusterName });

      // Assess
      expect(cluster.name).toBe('inference');
      expect(server.faults.injected).toBe(1);
    });
  });

  describe('client built exactly as in gke.md (plain PassThroughClient)', () => {
    it('still receives the Google error body with the reason on a conflict', async () => {
      // Prepare: the gaxios transport of this auth client throws on HTTP errors before google-gax
      // decodes them, so the error carries the HTTP status and the raw JSON body (see README).
      const raw = new RawClusterManagerClient({
        fallback: true,
        protocol: 'http',
        apiEndpoint: '127.0.0.1',
        port: server.port,
        authClient: new PassThroughClient() as unknown as AuthClientOption,
      });
      const [op] = await raw.createNodePool({ parent: server.clusterName, nodePool: gpuPool('l4') });

      // Act
      const err = await failure(raw.setNodePoolSize({ name: pool('l4'), nodeCount: 2 }));
      await raw.close();

      // Assess
      expect(err.status).toBe(400);
      const body = JSON.parse(String(err.message)) as {
        error: { status: string; details: { reason: string }[] };
      };
      expect(body.error.status).toBe('FAILED_PRECONDITION');
      expect(body.error.details[0]?.reason).toBe('CLUSTER_ALREADY_HAS_OPERATION');
      expect(String(err.message)).toContain(String(op.name));
    });
  });
});
