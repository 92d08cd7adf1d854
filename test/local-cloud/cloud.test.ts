import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { get as httpsGet } from 'node:https';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalCloud, startLocalCloud } from '../../infra/local/cloud';
import { localContainerClient } from '../../infra/local/gke/client';
import { localStorageClient } from '../../infra/local/storage/client';

/** GET over HTTPS trusting the local apiserver's CA (global fetch cannot take a CA). */
function httpsStatus(url: string, ca: string): Promise<number | undefined> {
  return new Promise((resolve, reject) => {
    httpsGet(url, { ca }, (res) => {
      res.resume();
      resolve(res.statusCode);
    }).on('error', reject);
  });
}

describe('the local cloud in one process', () => {
  let cloud: LocalCloud;

  beforeAll(async () => {
    cloud = await startLocalCloud({ operationPhaseMs: 0 });
  });
  afterAll(async () => {
    await cloud?.close();
  });

  it('serves every API on its own loopback port, reachable with the official clients', async () => {
    // Act
    const storage = localStorageClient(cloud.endpoints.storage);
    await storage.createBucket('probe-bucket');
    const [exists] = await storage.bucket('probe-bucket').exists();
    const container = localContainerClient(cloud.endpoints.gke);
    const [cluster] = await container.getCluster({ name: cloud.endpoints.cluster });
    const k8s = await httpsStatus(
      `${cloud.endpoints.kubernetes}/api/v1/namespaces/default`,
      cloud.kubernetes.caCertificatePem,
    );
    const podUrl = cloud.endpoints.triton.replace('{pool}', 'triton-l4').replace('{pod}', 'triton-l4-abc-0');
    const triton = await fetch(`${podUrl}/v2/health/live`);

    // Assess
    expect(exists).toBe(true);
    expect(cluster.name).toBe('inference');
    expect(k8s).toBe(200);
    expect(triton.status).toBe(200);
    expect(cloud.triton.pod('triton-l4', 'triton-l4-abc-0')?.repository).toBe(
      'gs://local-triton-repo/models/triton-l4',
    );
    expect(cloud.triton.pods('triton-l4')).toEqual(['triton-l4-abc-0']);
    await container.close();
  });
});

describe('npm run local-cloud', () => {
  it('starts every server in the foreground and prints one JSON line of endpoints', async () => {
    // Prepare
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', 'infra/local/main.ts', '--cluster', 'serving'],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    try {
      // Act
      let out = '';
      while (!out.includes('\n')) {
        const [chunk] = (await once(child.stdout, 'data')) as [Buffer];
        out += chunk.toString('utf8');
      }
      const endpoints = JSON.parse(out.split('\n')[0]!) as Record<string, string>;

      // Assess
      expect(Object.keys(endpoints).sort()).toEqual(['cluster', 'gke', 'kubernetes', 'storage', 'triton']);
      expect(endpoints.cluster).toBe('projects/local-project/locations/us-central1/clusters/serving');
      const pod = endpoints.triton!.replace('{pool}', 'p1').replace('{pod}', 'p1-abc-0');
      expect((await fetch(`${pod}/v2/health/ready`)).status).toBe(200);
    } finally {
      child.kill('SIGTERM');
      await once(child, 'exit');
    }
  });
});

describe('the Triton fleet restricts the repository API as the Deployment does', () => {
  let cloud: LocalCloud;
  beforeAll(async () => {
    cloud = await startLocalCloud({ operationPhaseMs: 0 });
  });
  afterAll(async () => {
    await cloud?.close();
  });

  it('refuses repository calls without the admin header, and serves health to anyone', async () => {
    await localStorageClient(cloud.endpoints.storage).createBucket('local-triton-repo');
    const base = cloud.endpoints.triton.replace('{pool}', 'triton-l4').replace('{pod}', 'triton-l4-abc-0');
    const refused = await fetch(`${base}/v2/repository/index`, { method: 'POST', body: '{}' });
    const allowed = await fetch(`${base}/v2/repository/index`, {
      method: 'POST',
      body: '{}',
      headers: { 'inferplane-admin-key': 'any-key' },
    });
    expect(refused.status).toBe(403);
    expect(await refused.json()).toEqual({
      error: "This API is restricted, expecting header 'inferplane-admin-key'",
    });
    expect(allowed.status).toBe(200);
    expect((await fetch(`${base}/v2/health/ready`)).status).toBe(200);
  });
});
