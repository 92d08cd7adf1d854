/**
 * The local GKE server's live side: faithful node counts, the in-process node-pool view and the
 * autoscaler's resize, the reported apiserver, and faults with meaning (stockouts, slow and
 * failing operations). Driven through the official `@google-cloud/container` client; the view
 * and the fault controls are in-process (and plain HTTP for the `/__` controls).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ClusterManagerClient, protos } from '@google-cloud/container';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { localContainerClient } from '../../infra/local/gke/client';
import { type GkeServer, startGkeServer } from '../../infra/local/gke/index';
import { ManualClock } from '../../shared/runtime/clock';

type INodePool = protos.google.container.v1.INodePool;
type IOperation = protos.google.container.v1.IOperation;

const PHASE_MS = 1_000;
const ZONES = ['us-central1-a', 'us-central1-b', 'us-central1-c'];

function l4Pool(name: string, extra: Partial<INodePool> = {}): INodePool {
  return {
    name,
    initialNodeCount: 1,
    locations: ['us-central1-a'],
    config: { machineType: 'g2-standard-8', labels: { 'inferplane.dev/pool': name } },
    ...extra,
  };
}

async function postJson(url: string, body: unknown): Promise<{ status: number; json: unknown }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, json: await res.json() };
}

describe('local GKE server: live node pools and faults', () => {
  let clock: ManualClock;
  let server: GkeServer;
  let client: ClusterManagerClient;

  const pool = (name: string) => `${server.clusterName}/nodePools/${name}`;
  const opName = (op: IOperation) => `projects/local-project/locations/us-central1/operations/${op.name}`;
  const view = (name: string) => server.nodePools().find((p) => p.name === name);

  /** Runs a mutation and moves the manual clock past both phases; returns the DONE operation. */
  async function done(call: Promise<[IOperation, ...unknown[]]>): Promise<IOperation> {
    const [op] = await call;
    clock.advance(2 * PHASE_MS);
    const [finished] = await client.getOperation({ name: opName(op) });
    return finished;
  }

  beforeEach(async () => {
    clock = new ManualClock();
    server = await startGkeServer({
      dir: mkdtempSync(join(tmpdir(), 'gke-live-')),
      clock,
      operationPhaseMs: PHASE_MS,
    });
    client = localContainerClient(server.url);
  });

  afterEach(async () => {
    await client.close();
    await server.close();
  });

  describe('node counts', () => {
    it('keeps initialNodeCount at its creation value while the live size follows setSize', async () => {
      // Prepare
      await done(
        client.createNodePool({ parent: server.clusterName, nodePool: l4Pool('l4', { locations: ZONES }) }),
      );

      // Act
      await done(client.setNodePoolSize({ name: pool('l4'), nodeCount: 3 }));
      const [got] = await client.getNodePool({ name: pool('l4') });
      const [cluster] = await client.getCluster({ name: server.clusterName });

      // Assess
      expect(got.initialNodeCount).toBe(1);
      expect(view('l4')?.nodeCountPerZone).toEqual({
        'us-central1-a': 3,
        'us-central1-b': 3,
        'us-central1-c': 3,
      });
      expect(cluster.currentNodeCount).toBe(9);
    });

    it('has no live nodes while the pool is PROVISIONING', async () => {
      // Act
      await client.createNodePool({
        parent: server.clusterName,
        nodePool: l4Pool('l4', { initialNodeCount: 2 }),
      });

      // Assess
      expect(view('l4')).toEqual(
        expect.objectContaining({ status: 'PROVISIONING', nodeCountPerZone: { 'us-central1-a': 0 } }),
      );
    });

    it('gives zones added by an update the pool size per zone', async () => {
      // Prepare
      await done(client.createNodePool({ parent: server.clusterName, nodePool: l4Pool('l4') }));
      await done(client.setNodePoolSize({ name: pool('l4'), nodeCount: 2 }));

      // Act
      await done(client.updateNodePool({ name: pool('l4'), locations: ['us-central1-a', 'us-central1-b'] }));

      // Assess
      expect(view('l4')?.nodeCountPerZone).toEqual({ 'us-central1-a': 2, 'us-central1-b': 2 });
    });
  });

  describe('view', () => {
    it('describes a GPU pool as its nodes look, with the GPU taint GKE adds', async () => {
      // Prepare
      await done(
        client.createNodePool({
          parent: server.clusterName,
          nodePool: l4Pool('l4', {
            config: {
              machineType: 'g2-standard-24',
              spot: true,
              labels: { team: 'ml' },
              taints: [{ key: 'dedicated', value: 'triton', effect: 'NO_EXECUTE' }],
            },
            autoscaling: { enabled: true, minNodeCount: 0, maxNodeCount: 3, locationPolicy: 'ANY' },
          }),
        }),
      );

      // Act
      const v = view('l4');

      // Assess
      expect(v).toEqual({
        name: 'l4',
        zones: ['us-central1-a'],
        nodeCountPerZone: { 'us-central1-a': 1 },
        machineType: 'g2-standard-24',
        accelerator: { type: 'nvidia-l4', count: 2 },
        labels: {
          'cloud.google.com/gke-nodepool': 'l4',
          'node.kubernetes.io/instance-type': 'g2-standard-24',
          'cloud.google.com/gke-accelerator': 'nvidia-l4',
          'cloud.google.com/gke-spot': 'true',
          team: 'ml',
        },
        taints: [
          { key: 'dedicated', value: 'triton', effect: 'NoExecute' },
          { key: 'nvidia.com/gpu', value: 'present', effect: 'NoSchedule' },
        ],
        spot: true,
        status: 'RUNNING',
        autoscaling: { enabled: true, minNodeCount: 0, maxNodeCount: 3, locationPolicy: 'ANY' },
      });
    });

    it('adds no GPU taint to a CPU pool and does not repeat a declared one', async () => {
      // Prepare
      server.setOperationPhaseMs(0);
      await client.createNodePool({
        parent: server.clusterName,
        nodePool: { name: 'cpu', initialNodeCount: 1, config: { machineType: 'e2-standard-4' } },
      });
      await client.createNodePool({
        parent: server.clusterName,
        nodePool: l4Pool('l4', {
          config: {
            machineType: 'g2-standard-8',
            taints: [{ key: 'nvidia.com/gpu', value: 'present', effect: 'NO_SCHEDULE' }],
          },
        }),
      });

      // Act
      const [cpu, l4] = server.nodePools();

      // Assess
      expect(cpu?.taints).toEqual([]);
      expect(cpu?.accelerator).toBeUndefined();
      expect(cpu?.spot).toBe(false);
      expect(l4?.taints).toEqual([{ key: 'nvidia.com/gpu', value: 'present', effect: 'NoSchedule' }]);
    });
  });

  describe('autoscale', () => {
    it.each([
      [
        'within per-zone bounds',
        { minNodeCount: 1, maxNodeCount: 4 },
        { 'us-central1-a': 3, 'us-central1-b': 2 },
        [3, 2],
      ],
      [
        'above the per-zone max',
        { minNodeCount: 1, maxNodeCount: 4 },
        { 'us-central1-a': 9, 'us-central1-b': 4 },
        [4, 4],
      ],
      [
        'below the per-zone min',
        { minNodeCount: 1, maxNodeCount: 4 },
        { 'us-central1-a': 0, 'us-central1-b': 0 },
        [1, 1],
      ],
      [
        'to zero with min 0',
        { minNodeCount: 0, maxNodeCount: 4 },
        { 'us-central1-a': 0, 'us-central1-b': 0 },
        [0, 0],
      ],
      [
        'above the total max',
        { totalMinNodeCount: 1, totalMaxNodeCount: 5 },
        { 'us-central1-a': 6, 'us-central1-b': 2 },
        [3, 2],
      ],
      [
        'below the total min',
        { totalMinNodeCount: 3, totalMaxNodeCount: 5 },
        { 'us-central1-a': 0, 'us-central1-b': 0 },
        [2, 1],
      ],
      ['one zone only', { minNodeCount: 1, maxNodeCount: 4 }, { 'us-central1-b': 3 }, [1, 3]],
    ])('resizes %s, clamped, with no operation', async (_, bounds, asked, [a, b]) => {
      // Prepare
      server.setOperationPhaseMs(0);
      await client.createNodePool({
        parent: server.clusterName,
        nodePool: l4Pool('l4', {
          locations: ['us-central1-a', 'us-central1-b'],
          autoscaling: { enabled: true, ...bounds },
        }),
      });
      const [before] = await client.listOperations({
        parent: 'projects/local-project/locations/us-central1',
      });

      // Act
      server.autoscale('l4', asked);
      const [after] = await client.listOperations({ parent: 'projects/local-project/locations/us-central1' });
      const [got] = await client.getNodePool({ name: pool('l4') });

      // Assess
      expect(view('l4')?.nodeCountPerZone).toEqual({ 'us-central1-a': a, 'us-central1-b': b });
      expect(after.operations).toHaveLength(before.operations?.length ?? -1);
      expect(got.initialNodeCount).toBe(1);
    });

    it.each([
      ['a pool without autoscaling', 'fixed', { 'us-central1-a': 2 }, /no autoscaling/],
      ['an unknown pool', 'missing', { 'us-central1-a': 2 }, /no node pool/],
      ['a zone outside the pool', 'auto', { 'us-central1-f': 2 }, /not a zone/],
      ['a negative count', 'auto', { 'us-central1-a': -1 }, /integer >= 0/],
    ])('refuses %s', async (_, name, asked, message) => {
      // Prepare
      server.setOperationPhaseMs(0);
      await client.createNodePool({ parent: server.clusterName, nodePool: l4Pool('fixed') });
      await client.createNodePool({
        parent: server.clusterName,
        nodePool: l4Pool('auto', { autoscaling: { enabled: true, minNodeCount: 0, maxNodeCount: 3 } }),
      });

      // Act
      const act = () => server.autoscale(name, asked);

      // Assess
      expect(act).toThrow(message);
      expect(server.nodePools().map((p) => p.nodeCountPerZone['us-central1-a'])).toEqual([1, 1]);
    });

    it('serves the view and the resize over HTTP too', async () => {
      // Prepare
      server.setOperationPhaseMs(0);
      await client.createNodePool({
        parent: server.clusterName,
        nodePool: l4Pool('l4', { autoscaling: { enabled: true, minNodeCount: 0, maxNodeCount: 3 } }),
      });

      // Act
      const resized = await postJson(`${server.url}/__autoscale`, {
        pool: 'l4',
        nodeCountPerZone: { 'us-central1-a': 7 },
      });
      const refused = await postJson(`${server.url}/__autoscale`, { pool: 'nope', nodeCountPerZone: {} });
      const listed = await (await fetch(`${server.url}/__node-pools`)).json();

      // Assess
      expect(resized.status).toBe(200);
      expect(refused).toEqual({ status: 400, json: { error: 'autoscale: no node pool "nope"' } });
      expect(listed).toEqual({ nodePools: server.nodePools() });
      expect(server.nodePools()[0]?.nodeCountPerZone).toEqual({ 'us-central1-a': 3 });
    });

    it('keeps an autoscaled size through a later update operation', async () => {
      // Prepare
      await done(
        client.createNodePool({
          parent: server.clusterName,
          nodePool: l4Pool('l4', { autoscaling: { enabled: true, minNodeCount: 0, maxNodeCount: 5 } }),
        }),
      );
      const [op] = await client.updateNodePool({ name: pool('l4'), labels: { labels: { team: 'ml' } } });

      // Act: the autoscaler acts while the update runs
      server.autoscale('l4', { 'us-central1-a': 4 });
      clock.advance(2 * PHASE_MS);
      await client.getOperation({ name: opName(op) });

      // Assess
      expect(view('l4')).toEqual(
        expect.objectContaining({ status: 'RUNNING', nodeCountPerZone: { 'us-central1-a': 4 } }),
      );
      expect(view('l4')?.labels.team).toBe('ml');
    });
  });

  describe('apiserver endpoint and CA', () => {
    const ca = Buffer.from('-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n').toString(
      'base64',
    );

    it('reports the configured endpoint and CA, and a private endpoint when given', async () => {
      // Prepare
      await client.close();
      await server.close();
      server = await startGkeServer({
        clock,
        kubernetes: { endpoint: '127.0.0.1:6443', caCertificate: ca, privateEndpoint: '10.0.0.2' },
      });
      client = localContainerClient(server.url);

      // Act
      const [cluster] = await client.getCluster({ name: server.clusterName });

      // Assess
      expect(cluster.endpoint).toBe('127.0.0.1:6443');
      expect(cluster.masterAuth?.clusterCaCertificate).toBe(ca);
      expect(cluster.privateClusterConfig).toEqual(
        expect.objectContaining({
          enablePrivateNodes: true,
          privateEndpoint: '10.0.0.2',
          publicEndpoint: '127.0.0.1:6443',
        }),
      );
    });

    it('reports an endpoint set after start, in GetCluster and ListClusters', async () => {
      // Act
      server.setKubernetesEndpoint({ endpoint: '127.0.0.1:41234', caCertificate: ca });
      const [cluster] = await client.getCluster({ name: server.clusterName });
      const [list] = await client.listClusters({ parent: 'projects/local-project/locations/us-central1' });

      // Assess
      expect(cluster.endpoint).toBe('127.0.0.1:41234');
      expect(cluster.masterAuth?.clusterCaCertificate).toBe(ca);
      expect(cluster.privateClusterConfig).toBeNull();
      expect(list.clusters?.[0]?.endpoint).toBe('127.0.0.1:41234');
    });
  });

  describe('stockouts', () => {
    it('leaves a pool partly sized when one zone is out of machines, with the GKE error shape', async () => {
      // Prepare
      server.capacity.set({ zone: 'us-central1-b', stockout: true });

      // Act
      const op = await done(
        client.createNodePool({
          parent: server.clusterName,
          nodePool: l4Pool('l4', { initialNodeCount: 2, locations: ZONES }),
        }),
      );
      const [got] = await client.getNodePool({ name: pool('l4') });

      // Assess
      expect(op.status).toBe('DONE');
      expect(op.error?.code).toBe(8);
      expect(op.error?.message).toContain('Expected 6, running 4, transitioning 2');
      expect(op.error?.message).toContain("[GCE_STOCKOUT]: Instance 'gke-inference-l4-");
      expect(op.error?.message).toContain(
        "The zone 'projects/local-project/zones/us-central1-b' does not have enough resources available to fulfill the request.",
      );
      expect(op.error?.message).not.toContain('us-central1-a');
      expect(op.statusMessage).toBe(op.error?.message);
      expect(op.detail).toBe(op.error?.message);
      expect(op.nodepoolConditions).toEqual([
        expect.objectContaining({
          code: 'GCE_STOCKOUT',
          canonicalCode: 'RESOURCE_EXHAUSTED',
          message: op.error?.message,
        }),
      ]);
      expect(got.status).toBe('RUNNING_WITH_ERROR');
      expect(got.statusMessage).toBe(op.error?.message);
      expect(got.conditions).toEqual([
        expect.objectContaining({ code: 'GCE_STOCKOUT', canonicalCode: 'RESOURCE_EXHAUSTED' }),
      ]);
      expect(got.initialNodeCount).toBe(2);
      expect(view('l4')?.nodeCountPerZone).toEqual({
        'us-central1-a': 2,
        'us-central1-b': 0,
        'us-central1-c': 2,
      });
    });

    it('names every zone left short, and only those', async () => {
      // Prepare
      server.capacity.set({ zone: 'us-central1-b', stockout: true });
      server.capacity.set({ zone: 'us-central1-c', machineType: 'g2-standard-8', available: 0 });
      server.capacity.set({ zone: 'us-central1-a', machineType: 'e2-standard-4', available: 0 });

      // Act
      const op = await done(
        client.createNodePool({ parent: server.clusterName, nodePool: l4Pool('l4', { locations: ZONES }) }),
      );

      // Assess
      expect(op.error?.message).toContain('Expected 3, running 1, transitioning 2');
      expect(op.error?.message).toContain("zones/us-central1-b' does not have enough resources");
      expect(op.error?.message).toContain("zones/us-central1-c' does not have enough resources");
      expect(op.error?.message).not.toContain("zones/us-central1-a'");
      expect(view('l4')?.nodeCountPerZone).toEqual({
        'us-central1-a': 1,
        'us-central1-b': 0,
        'us-central1-c': 0,
      });
    });

    it('gives a zone with little capacity only what it has, counting other pools of the machine type', async () => {
      // Prepare
      server.capacity.set({ zone: 'us-central1-a', machineType: 'g2-standard-8', available: 3 });
      await done(client.createNodePool({ parent: server.clusterName, nodePool: l4Pool('first') }));
      await done(
        client.createNodePool({
          parent: server.clusterName,
          nodePool: {
            name: 'cpu',
            initialNodeCount: 4,
            locations: ['us-central1-a'],
            config: { machineType: 'e2-standard-4' },
          },
        }),
      );

      // Act
      const op = await done(
        client.createNodePool({
          parent: server.clusterName,
          nodePool: l4Pool('second', { initialNodeCount: 5 }),
        }),
      );

      // Assess
      expect(op.error?.code).toBe(8);
      expect(op.error?.message).toContain('Expected 5, running 2, transitioning 3');
      expect(server.nodePools().map((p) => [p.name, p.nodeCountPerZone['us-central1-a'], p.status])).toEqual([
        ['first', 1, 'RUNNING'],
        ['cpu', 4, 'RUNNING'],
        ['second', 2, 'RUNNING_WITH_ERROR'],
      ]);
    });

    it('puts a pool that got no node at all in ERROR, and fills it once capacity comes back', async () => {
      // Prepare
      server.capacity.set({ zone: 'us-central1-a', stockout: true });
      await done(
        client.createNodePool({
          parent: server.clusterName,
          nodePool: l4Pool('l4', { initialNodeCount: 3 }),
        }),
      );
      const [failed] = await client.getNodePool({ name: pool('l4') });
      const changes: string[] = [];
      server.onChange(() =>
        changes.push(`${view('l4')?.status}:${view('l4')?.nodeCountPerZone['us-central1-a']}`),
      );

      // Act: the instance group keeps trying, with no new operation
      server.capacity.set({ zone: 'us-central1-a', available: 1 });
      server.capacity.clear();
      const [recovered] = await client.getNodePool({ name: pool('l4') });
      const [ops] = await client.listOperations({ parent: 'projects/local-project/locations/us-central1' });

      // Assess
      expect(failed.status).toBe('ERROR');
      expect(changes).toEqual(['RUNNING_WITH_ERROR:1', 'RUNNING:3']);
      expect(recovered.status).toBe('RUNNING');
      expect(recovered.statusMessage).toBe('');
      expect(recovered.conditions).toEqual([]);
      expect(ops.operations).toHaveLength(1);
    });

    it('does not retry what the autoscaler asked for', async () => {
      // Prepare
      server.setOperationPhaseMs(0);
      await client.createNodePool({
        parent: server.clusterName,
        nodePool: l4Pool('l4', { autoscaling: { enabled: true, minNodeCount: 0, maxNodeCount: 5 } }),
      });
      server.capacity.set({ zone: 'us-central1-a', available: 2 });
      server.autoscale('l4', { 'us-central1-a': 5 });

      // Act
      server.capacity.clear();

      // Assess
      expect(view('l4')).toEqual(
        expect.objectContaining({ status: 'RUNNING', nodeCountPerZone: { 'us-central1-a': 2 } }),
      );
    });

    it('keeps running nodes when a zone stocks out, still shrinks, and limits a setSize', async () => {
      // Prepare
      await done(
        client.createNodePool({
          parent: server.clusterName,
          nodePool: l4Pool('l4', { initialNodeCount: 3 }),
        }),
      );
      server.capacity.set({ zone: 'us-central1-a', stockout: true });

      // Act
      const grow = await done(client.setNodePoolSize({ name: pool('l4'), nodeCount: 5 }));
      const afterGrow = view('l4')?.nodeCountPerZone;
      const shrink = await done(client.setNodePoolSize({ name: pool('l4'), nodeCount: 1 }));

      // Assess
      expect(grow.operationType).toBe('SET_NODE_POOL_SIZE');
      expect(grow.error?.code).toBe(8);
      expect(afterGrow).toEqual({ 'us-central1-a': 3 });
      expect(shrink.error).toBeNull();
      expect(view('l4')).toEqual(
        expect.objectContaining({ status: 'RUNNING', nodeCountPerZone: { 'us-central1-a': 1 } }),
      );
    });

    it('limits the autoscaler to the capacity left', async () => {
      // Prepare
      server.setOperationPhaseMs(0);
      await client.createNodePool({
        parent: server.clusterName,
        nodePool: l4Pool('l4', {
          locations: ['us-central1-a', 'us-central1-b'],
          autoscaling: { enabled: true, minNodeCount: 0, maxNodeCount: 8 },
        }),
      });
      server.capacity.set({ zone: 'us-central1-b', available: 2 });

      // Act
      server.autoscale('l4', { 'us-central1-a': 6, 'us-central1-b': 6 });

      // Assess
      expect(view('l4')?.nodeCountPerZone).toEqual({ 'us-central1-a': 6, 'us-central1-b': 2 });
    });

    it('takes capacity rules over HTTP', async () => {
      // Act
      const set = await postJson(`${server.url}/__capacity`, [{ zone: 'us-central1-a', available: 1 }]);
      const bad = await postJson(`${server.url}/__capacity`, { zone: '', available: -1 });
      await done(
        client.createNodePool({
          parent: server.clusterName,
          nodePool: l4Pool('l4', { initialNodeCount: 3 }),
        }),
      );
      const limited = view('l4')?.nodeCountPerZone;
      const cleared = await fetch(`${server.url}/__capacity`, { method: 'DELETE' });

      // Assess
      expect(set).toEqual({ status: 200, json: { rules: [{ zone: 'us-central1-a', available: 1 }] } });
      expect(bad.status).toBe(400);
      expect(limited).toEqual({ 'us-central1-a': 1 });
      expect(view('l4')?.nodeCountPerZone).toEqual({ 'us-central1-a': 3 });
      expect(await cleared.json()).toEqual({ rules: [] });
      expect(server.capacity.list()).toEqual([]);
    });
  });

  describe('slow and failing operations', () => {
    it('makes the next operation of one type slow, and only that one', async () => {
      // Prepare
      await done(client.createNodePool({ parent: server.clusterName, nodePool: l4Pool('l4') }));
      server.operationFaults.set({ slow: { phaseMs: 60_000, operationType: 'SET_NODE_POOL_SIZE', next: 1 } });

      // Act
      const [slow] = await client.setNodePoolSize({ name: pool('l4'), nodeCount: 2 });
      clock.advance(2 * PHASE_MS);
      const [stillRunning] = await client.getOperation({ name: opName(slow) });
      clock.advance(2 * 60_000);
      const [slowDone] = await client.getOperation({ name: opName(slow) });
      const normal = await done(client.setNodePoolSize({ name: pool('l4'), nodeCount: 3 }));

      // Assess
      expect(stillRunning.status).toBe('PENDING');
      expect(slowDone.status).toBe('DONE');
      expect(normal.status).toBe('DONE');
      expect(view('l4')?.nodeCountPerZone).toEqual({ 'us-central1-a': 3 });
    });

    it('leaves other operation types at the normal pace', async () => {
      // Prepare
      server.operationFaults.set({ slow: { phaseMs: 60_000, operationType: 'DELETE_NODE_POOL' } });

      // Act
      const created = await done(
        client.createNodePool({ parent: server.clusterName, nodePool: l4Pool('l4') }),
      );
      const [deleting] = await client.deleteNodePool({ name: pool('l4') });
      clock.advance(2 * PHASE_MS);
      const [stillDeleting] = await client.getOperation({ name: opName(deleting) });

      // Assess
      expect(created.status).toBe('DONE');
      expect(stillDeleting.status).toBe('PENDING');
      expect(view('l4')?.status).toBe('STOPPING');
    });

    it('ends the next operation DONE with a retryable error and rolls its change back', async () => {
      // Prepare
      await done(client.createNodePool({ parent: server.clusterName, nodePool: l4Pool('l4') }));
      server.operationFaults.set({ fail: { next: 1 } });

      // Act
      const failed = await done(client.setNodePoolSize({ name: pool('l4'), nodeCount: 4 }));
      const afterFailure = view('l4');
      const retried = await done(client.setNodePoolSize({ name: pool('l4'), nodeCount: 4 }));

      // Assess
      expect(failed.status).toBe('DONE');
      expect(failed.error?.code).toBe(14);
      expect(failed.statusMessage).toBe(failed.error?.message);
      expect(afterFailure).toEqual(
        expect.objectContaining({ status: 'RUNNING', nodeCountPerZone: { 'us-central1-a': 1 } }),
      );
      expect(retried.error).toBeNull();
      expect(view('l4')?.nodeCountPerZone).toEqual({ 'us-central1-a': 4 });
    });

    it('takes operation faults over HTTP, with a chosen code', async () => {
      // Act
      const set = await postJson(`${server.url}/__operation-faults`, {
        fail: { next: 1, code: 13, message: 'Internal error.', operationType: 'CREATE_NODE_POOL' },
      });
      const bad = await postJson(`${server.url}/__operation-faults`, { slow: { phaseMs: -1 } });
      const failed = await done(
        client.createNodePool({ parent: server.clusterName, nodePool: l4Pool('l4') }),
      );
      const [list] = await client.listNodePools({ parent: server.clusterName });

      // Assess
      expect(set.status).toBe(200);
      expect(bad.status).toBe(400);
      expect(failed.error).toEqual(expect.objectContaining({ code: 13, message: 'Internal error.' }));
      expect(list.nodePools).toEqual([]);
    });

    it('still answers injected HTTP errors on calls', async () => {
      // Prepare
      server.faults.set({ failNext: 1, failStatus: 429, match: 'setSize' });
      await done(client.createNodePool({ parent: server.clusterName, nodePool: l4Pool('l4') }));

      // Act
      const err = await client.setNodePoolSize({ name: pool('l4'), nodeCount: 2 }).then(
        () => undefined,
        (e: { code?: unknown }) => e,
      );

      // Assess
      expect(err?.code).toBe(8);
      expect(view('l4')?.nodeCountPerZone).toEqual({ 'us-central1-a': 1 });
    });
  });

  describe('onChange', () => {
    it('fires on create, on DONE, on autoscale and on delete, until unsubscribed', async () => {
      // Prepare
      const seen: string[] = [];
      const unsubscribe = server.onChange(() => {
        seen.push(
          server
            .nodePools()
            .map((p) => `${p.name}:${p.status}:${p.nodeCountPerZone['us-central1-a']}`)
            .join(',') || '-',
        );
      });

      // Act
      await done(
        client.createNodePool({
          parent: server.clusterName,
          nodePool: l4Pool('l4', { autoscaling: { enabled: true, minNodeCount: 0, maxNodeCount: 3 } }),
        }),
      );
      server.autoscale('l4', { 'us-central1-a': 3 });
      server.autoscale('l4', { 'us-central1-a': 3 });
      await done(client.deleteNodePool({ name: pool('l4') }));
      unsubscribe();
      server.setOperationPhaseMs(0);
      await client.createNodePool({ parent: server.clusterName, nodePool: l4Pool('other') });

      // Assess
      expect(seen).toEqual(['l4:PROVISIONING:0', 'l4:RUNNING:1', 'l4:RUNNING:3', 'l4:STOPPING:3', '-']);
    });

    it('fires when an operation comes due on the system clock, without any API read', async () => {
      // Prepare
      await client.close();
      await server.close();
      server = await startGkeServer({ operationPhaseMs: 50 });
      client = localContainerClient(server.url);
      const statuses: string[] = [];
      server.onChange(() => statuses.push(server.nodePools()[0]?.status ?? '-'));

      // Act
      await client.createNodePool({ parent: server.clusterName, nodePool: l4Pool('l4') });

      // Assess: bounded wait for the condition, no assertion on how long it took
      await vi.waitFor(() => expect(statuses).toContain('RUNNING'), { timeout: 10_000, interval: 5 });
    });
  });
});
