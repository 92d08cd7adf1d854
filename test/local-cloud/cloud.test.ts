import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { get as httpsGet } from 'node:https';
import { AppsV1Api, CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalCloud, startLocalCloud } from '../../infra/local/cloud';
import { localContainerClient } from '../../infra/local/gke/client';
import { localKubeConfig } from '../../infra/local/kubernetes';
import { localStorageClient } from '../../infra/local/storage/client';

/**
 * Runs a one-replica Triton Deployment for `pool` whose admin key comes from a Secret through
 * `$(TRITON_ADMIN_KEY)`, as the product's Deployment does; resolves with the pod's name once its
 * Triton is ready.
 */
async function runTritonPool(cloud: LocalCloud, pool: string, key: string): Promise<string> {
  const kc = localKubeConfig(cloud.kubernetes);
  const core = kc.makeApiClient(CoreV1Api);
  const apps = kc.makeApiClient(AppsV1Api);
  await core.createNamespacedSecret({
    namespace: 'default',
    body: { metadata: { name: `${pool}-admin` }, stringData: { 'admin-key': key } },
  });
  const labels = { 'app.kubernetes.io/name': 'triton', 'app.kubernetes.io/instance': pool };
  await apps.createNamespacedDeployment({
    namespace: 'default',
    body: {
      metadata: { name: pool, labels },
      spec: {
        replicas: 1,
        selector: { matchLabels: labels },
        template: {
          metadata: { labels },
          spec: {
            containers: [
              {
                name: pool,
                image: 'nvcr.io/nvidia/tritonserver:25.01-py3',
                args: [
                  'tritonserver',
                  `--model-repository=gs://local-triton-repo/models/${pool}`,
                  '--model-control-mode=explicit',
                  '--load-model=*',
                  '--exit-on-error=false',
                  '--strict-readiness=false',
                  '--http-restricted-api=model-repository:inferplane-admin-key=$(TRITON_ADMIN_KEY)',
                ],
                env: [
                  {
                    name: 'TRITON_ADMIN_KEY',
                    valueFrom: { secretKeyRef: { name: `${pool}-admin`, key: 'admin-key' } },
                  },
                ],
              },
            ],
          },
        },
      },
    },
  });
  const [pod] = cloud.kubernetes
    .pods('default')
    .filter((p) => p.metadata.labels?.['app.kubernetes.io/instance'] === pool);
  for (let i = 0; i < 200 && !cloud.triton.isReady(pod!.metadata.uid); i++) {
    await new Promise((r) => setTimeout(r, 25));
  }
  expect(cloud.triton.isReady(pod!.metadata.uid)).toBe(true);
  return pod!.metadata.name;
}

/** GET over HTTPS trusting the local apiserver's CA (global fetch cannot take a CA). */
function httpsStatus(url: string, ca: string, token?: string): Promise<number | undefined> {
  return new Promise((resolve, reject) => {
    httpsGet(url, { ca, headers: token ? { authorization: `Bearer ${token}` } : {} }, (res) => {
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
      cloud.kubernetesAuth.token,
    );
    const anonymous = await httpsStatus(
      `${cloud.endpoints.kubernetes}/api/v1/namespaces/default`,
      cloud.kubernetes.caCertificatePem,
    );
    const podName = await runTritonPool(cloud, 'triton-l4', 'key-1');
    const podUrl = cloud.endpoints.triton.replace('{pool}', 'triton-l4').replace('{pod}', podName);
    const triton = await fetch(`${podUrl}/v2/health/live`);

    // Assess
    expect(exists).toBe(true);
    expect(cluster.name).toBe('inference');
    expect(k8s).toBe(200);
    // As GKE's apiserver: no bearer token, no answer but 401.
    expect(anonymous).toBe(401);
    expect(triton.status).toBe(200);
    expect(cloud.triton.pod('triton-l4', podName)?.repository).toBe(
      'gs://local-triton-repo/models/triton-l4',
    );
    expect(cloud.triton.pods('triton-l4')).toEqual([podName]);
    await container.close();
  });
});

describe('the local GKE API describes the local apiserver, as GKE does', () => {
  let cloud: LocalCloud;

  beforeAll(async () => {
    cloud = await startLocalCloud({ operationPhaseMs: 0 });
  });
  afterAll(async () => {
    await cloud?.close();
  });

  it('reports endpoint (host:port) and masterAuth.clusterCaCertificate; a client built from them alone connects', async () => {
    // Prepare
    const container = localContainerClient(cloud.endpoints.gke);

    // Act
    const [cluster] = await container.getCluster({ name: cloud.endpoints.cluster });
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [
        {
          name: 'gke',
          server: `https://${cluster.endpoint}`,
          caData: cluster.masterAuth?.clusterCaCertificate ?? '',
          skipTLSVerify: false,
        },
      ],
      users: [{ name: 'gke', token: cloud.kubernetesAuth.token }],
      contexts: [{ name: 'gke', cluster: 'gke', user: 'gke' }],
      currentContext: 'gke',
    });
    const namespaces = await kc.makeApiClient(CoreV1Api).listNamespace();
    await container.close();

    // Assess
    expect(cluster.endpoint).toBe(cloud.kubernetes.endpoint);
    expect(cluster.endpoint).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(cluster.masterAuth?.clusterCaCertificate).toBe(cloud.kubernetesCaCertificate);
    expect(Buffer.from(cloud.kubernetesCaCertificate, 'base64').toString('utf8')).toContain(
      '-----BEGIN CERTIFICATE-----',
    );
    expect(cloud.kubernetesAuth).toEqual({
      endpoint: cloud.kubernetes.endpoint,
      caCertificate: cloud.kubernetesCaCertificate,
      token: expect.any(String),
    });
    expect(namespaces.items.map((n) => n.metadata?.name)).toContain('default');
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
      expect(Object.keys(endpoints).sort()).toEqual([
        'cluster',
        'gke',
        'kubernetes',
        'monitoring',
        'storage',
        'triton',
      ]);
      expect(endpoints.cluster).toBe('projects/local-project/locations/us-central1/clusters/serving');
      // No Deployment runs yet: the pool's Service has no ready pod behind it.
      const service = endpoints.triton!.replace('/pods/{pod}', '').replace('{pool}', 'p1');
      expect((await fetch(`${service}/v2/health/ready`)).status).toBe(503);
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

  it('refuses repository calls without the admin key from the Secret, and serves health to anyone', async () => {
    await localStorageClient(cloud.endpoints.storage).createBucket('local-triton-repo');
    const podName = await runTritonPool(cloud, 'triton-l4', 'the-secret-key');
    const base = cloud.endpoints.triton.replace('{pool}', 'triton-l4').replace('{pod}', podName);
    const refused = await fetch(`${base}/v2/repository/index`, { method: 'POST', body: '{}' });
    const wrong = await fetch(`${base}/v2/repository/index`, {
      method: 'POST',
      body: '{}',
      headers: { 'inferplane-admin-key': 'any-key' },
    });
    const allowed = await fetch(`${base}/v2/repository/index`, {
      method: 'POST',
      body: '{}',
      headers: { 'inferplane-admin-key': 'the-secret-key' },
    });
    expect(refused.status).toBe(403);
    expect(wrong.status).toBe(403);
    expect(await refused.json()).toEqual({
      error: "This API is restricted, expecting header 'inferplane-admin-key'",
    });
    expect(allowed.status).toBe(200);
    expect((await fetch(`${base}/v2/health/ready`)).status).toBe(200);
  });
});
