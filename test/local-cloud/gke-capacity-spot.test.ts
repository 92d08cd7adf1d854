/**
 * The local GKE server's capacity rules keep Spot and on-demand capacity apart, as Compute Engine
 * does: a `spot: true` rule refuses Spot VMs only (an on-demand pool of the same machine type in
 * the same zone is not short), a `spot: false` rule refuses on-demand VMs only, and each rule
 * counts only the nodes of its provisioning model. Driven through `@google-cloud/container`.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ClusterManagerClient, protos } from '@google-cloud/container';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { localContainerClient } from '../../infra/local/gke/client';
import { type GkeServer, startGkeServer } from '../../infra/local/gke/index';
import { ManualClock } from '../../shared/runtime/clock';

type INodePool = protos.google.container.v1.INodePool;
type IOperation = protos.google.container.v1.IOperation;

const PHASE_MS = 1_000;
const ZONE = 'us-central1-a';

function l4Pool(name: string, spot: boolean, initialNodeCount: number): INodePool {
  return {
    name,
    initialNodeCount,
    locations: [ZONE],
    config: { machineType: 'g2-standard-8', spot, labels: { 'inferplane.dev/pool': 'triton-l4-spot' } },
  };
}

describe('local GKE server: Spot and on-demand capacity', () => {
  let clock: ManualClock;
  let server: GkeServer;
  let client: ClusterManagerClient;

  async function create(pool: INodePool): Promise<IOperation> {
    const [op] = await client.createNodePool({ parent: server.clusterName, nodePool: pool });
    clock.advance(2 * PHASE_MS);
    const [finished] = await client.getOperation({
      name: `projects/local-project/locations/us-central1/operations/${op.name}`,
    });
    return finished;
  }
  const live = (name: string) => server.nodePools().find((p) => p.name === name)?.nodeCountPerZone[ZONE];

  beforeEach(async () => {
    clock = new ManualClock();
    server = await startGkeServer({
      dir: mkdtempSync(join(tmpdir(), 'gke-spot-')),
      clock,
      operationPhaseMs: PHASE_MS,
    });
    client = localContainerClient(server.url);
  });
  afterEach(async () => {
    await client.close();
    await server.close();
  });

  it.each([
    // rule, pool created, its nodes asked, nodes it gets, short
    ['a Spot stockout refuses a Spot pool', { spot: true, stockout: true }, true, 2, 0],
    ['a Spot stockout leaves an on-demand pool whole', { spot: true, stockout: true }, false, 2, 2],
    ['an on-demand limit leaves a Spot pool whole', { spot: false, available: 1 }, true, 3, 3],
    ['an on-demand limit refuses on-demand VMs above it', { spot: false, available: 1 }, false, 3, 1],
    ['a rule without spot limits both (Spot)', { available: 1 }, true, 3, 1],
    ['a rule without spot limits both (on-demand)', { available: 1 }, false, 3, 1],
  ] as const)('%s', async (_name, rule, spot, asked, got) => {
    server.capacity.set({ zone: ZONE, machineType: 'g2-standard-8', ...rule });

    const op = await create(l4Pool('p', spot, asked));

    expect(live('p')).toBe(got);
    if (got < asked) expect(op.error?.message).toContain('GCE_STOCKOUT');
    else expect(op.error ?? null).toBeNull();
  });

  it('counts only the nodes of its provisioning model against a rule', async () => {
    // Two Spot nodes may run; an on-demand pool's nodes do not use them up.
    server.capacity.set({ zone: ZONE, machineType: 'g2-standard-8', spot: true, available: 2 });
    await create(l4Pool('od', false, 3));
    await create(l4Pool('spot', true, 3));
    expect(live('od')).toBe(3);
    expect(live('spot')).toBe(2);
  });

  it('keeps a Spot rule and an on-demand rule of one zone side by side, and refuses a non-boolean spot', async () => {
    server.capacity.set({ zone: ZONE, spot: true, stockout: true });
    server.capacity.set({ zone: ZONE, spot: false, available: 4 });
    server.capacity.set({ zone: ZONE, available: 9 });
    expect(server.capacity.list()).toHaveLength(3);
    const res = await fetch(`${server.url}/__capacity`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ zone: ZONE, spot: 'yes', stockout: true }),
    });
    expect(res.status).toBe(400);
    expect(await res.text()).toContain('spot must be a boolean');
  });
});
