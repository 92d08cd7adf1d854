/**
 * The sandbox's rendered policy: the example pointed at the local cloud, with the demo model
 * reachable by the alert rule and the schedule; the example itself unchanged for the benchmarks.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  SANDBOX_COOLDOWN_SECONDS,
  SANDBOX_DEMO_MODEL,
  SANDBOX_DOWNTIME,
  writeLocalPolicy,
} from '../../scripts/control-plane';
import { loadPolicy } from '../../shared/policy';

const BUCKETS = { incomingBucket: 'sandbox-in', repositoryBucket: 'sandbox-repo' };
let dir: string;

async function rendered(sandbox: boolean) {
  const file = path.join(dir, `${sandbox}.yaml`);
  await writeLocalPolicy(file, BUCKETS, { sandbox });
  return loadPolicy(await readFile(file, 'utf8'), file);
}

describe('writeLocalPolicy', () => {
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'inferplane-policy-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('sandbox: queue-high targets the demo model with a short cooldown; one UTC night for it', async () => {
    // Act
    const policy = await rendered(true);

    // Assess
    expect(policy.cluster).toMatchObject({ incomingBucket: 'sandbox-in', repositoryBucket: 'sandbox-repo' });
    const rule = policy.alertRules.find((r) => r.name === 'queue-high');
    expect(rule).toMatchObject({
      match: { policyName: 'triton-queue-high', userLabels: { action: 'scale-out' } },
      cooldownSeconds: SANDBOX_COOLDOWN_SECONDS,
      target: { models: [SANDBOX_DEMO_MODEL] },
    });
    expect(policy.alertRules.map((r) => r.name)).toEqual(['queue-high', 'gpu-idle']);
    expect(policy.schedules).toHaveLength(1);
    expect(policy.schedules[0]).toMatchObject({
      name: 'sandbox-nights',
      target: { models: [SANDBOX_DEMO_MODEL] },
      downtime: [SANDBOX_DOWNTIME],
      downtimeReplicas: 0,
    });
  });

  it('without the option: the example as it is, its cluster section aside', async () => {
    // Act
    const policy = await rendered(false);

    // Assess
    expect(policy.alertRules.find((r) => r.name === 'queue-high')).toMatchObject({ cooldownSeconds: 300 });
    expect(policy.alertRules.find((r) => r.name === 'queue-high')?.target).toBeUndefined();
    expect(policy.schedules.map((s) => s.name)).toEqual(['nights-and-weekends']);
  });
});
