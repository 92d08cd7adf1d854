/**
 * INFERPLANE_DRY_RUN: deployModel plans the whole change (node pool, Triton stack, publish, load),
 * logs it, and writes nothing anywhere.
 */

import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalCloud, startLocalCloud } from '../../infra/local/cloud';
import { localStorageClient } from '../../infra/local/storage/client';
import { deployModelFunction } from '../../shared/deploy/function';
import { invoke } from '../../shared/runtime/function';
import { localDeployHarness } from '../support/deploy-harness';

const INCOMING = 'dry-incoming';
const REPO = 'dry-repo';

describe('deployModel with INFERPLANE_DRY_RUN=true', () => {
  let cloud: LocalCloud;

  beforeAll(async () => {
    cloud = await startLocalCloud({ operationPhaseMs: 0, repositoryBucket: REPO });
  });
  afterAll(async () => {
    await cloud?.close();
  });

  it('prints the plan and touches nothing: no node pool, no object, no repository file, no registry', async () => {
    // Prepare
    const storage = localStorageClient(cloud.endpoints.storage);
    const { deps, entries, publisher } = await localDeployHarness(
      cloud,
      { incoming: INCOMING, repository: REPO },
      { INFERPLANE_DRY_RUN: 'true' },
    );
    await storage
      .bucket(INCOMING)
      .upload(path.join(import.meta.dirname, '..', 'fixtures', 'onnx', 'add-dynamic-batch.onnx'), {
        destination: 'add/1/model.onnx',
      });
    const [meta] = await storage.bucket(INCOMING).file('add/1/model.onnx').getMetadata();
    const kubeBefore = cloud.kubernetes.objects().length;

    // Act
    const outcome = await invoke(deployModelFunction, deps, {
      id: 'dry-1',
      specversion: '1.0',
      source: `//storage.googleapis.com/projects/_/buckets/${INCOMING}`,
      type: 'google.cloud.storage.object.v1.finalized',
      subject: 'objects/add/1/model.onnx',
      data: meta,
    });

    // Assess
    expect(outcome).toMatchObject({ status: 'skipped', message: 'dry run: nothing applied' });
    const plan = (outcome as { details?: { plan?: string } }).details?.plan ?? '';
    for (const action of ['createNodePool', 'applyObject', 'copyStorageObject', 'writeStorageObject'])
      expect(plan).toContain(action);
    // No pod exists yet: what this delivery would run stops at the repository, and says why.
    expect(plan).not.toContain('loadModel');
    expect(plan).toContain('no ready Triton pod on triton-l4 yet: the loads follow on a redelivery');
    expect(cloud.gke.snapshot().nodePools).toEqual([]);
    expect(cloud.kubernetes.objects().length).toBe(kubeBefore);
    const [repoFiles] = await storage.bucket(REPO).getFiles();
    expect(repoFiles.map((f) => f.name)).toEqual([]);
    expect(publisher.events).toEqual([]);
    expect(entries.some((e) => e.message === 'deployment planned')).toBe(true);
  });
});
