/**
 * Debian's kubectl against the local apiserver: server-side printed tables (get, -o wide, -o
 * json, get -w), describe, apply --server-side, scale, rollout status and wait. Skipped, saying
 * so, when no kubectl is installed.
 */
import { execFile, spawn } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type KubernetesServer,
  startKubernetesServer,
  writeKubeconfig,
} from '../../infra/local/kubernetes/index';
import { eventually } from './kubernetes-support';

const run = promisify(execFile);

function findKubectl(): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const path = join(dir, 'kubectl');
    try {
      accessSync(path, constants.X_OK);
      return path;
    } catch {
      // not here
    }
  }
  return undefined;
}

const KUBECTL = findKubectl();
if (!KUBECTL) console.warn('kubectl not found on PATH: skipping the kubectl tests');

const NS = 'kubectl-test';

function deploymentYaml(name: string, replicas: number): string {
  return `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${name}
  namespace: ${NS}
  labels: {app: ${name}}
spec:
  replicas: ${replicas}
  selector:
    matchLabels: {app: ${name}}
  template:
    metadata:
      labels: {app: ${name}}
    spec:
      containers:
      - name: triton
        image: nvcr.io/nvidia/tritonserver:24.08-py3
`;
}

const STACK = `apiVersion: v1
kind: Namespace
metadata:
  name: ${NS}
---
${deploymentYaml('web', 2)}---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: ${NS}
spec:
  selector: {app: web}
  ports:
  - port: 8000
---
apiVersion: v1
kind: Secret
metadata:
  name: creds
  namespace: ${NS}
stringData: {a: "1", b: "2"}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: web
  namespace: ${NS}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  minReplicas: 1
  maxReplicas: 4
  metrics:
  - type: Resource
    resource:
      name: cpu
      target: {type: Utilization, averageUtilization: 70}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: web
  namespace: ${NS}
spec:
  podSelector:
    matchLabels: {app: web}
  policyTypes: [Ingress]
`;

describe.skipIf(!KUBECTL)('kubectl against the local apiserver', () => {
  let server: KubernetesServer;
  let dir: string;
  let kubeconfig: string;

  async function kubectl(...args: string[]): Promise<string> {
    const { stdout } = await run(
      KUBECTL!,
      ['--kubeconfig', kubeconfig, '--cache-dir', join(dir, 'cache'), ...args],
      {
        timeout: 60_000,
      },
    );
    return stdout;
  }

  /** The whitespace-separated header cells of a printed table. */
  function header(out: string): string[] {
    return (out.split('\n')[0] ?? '').trim().split(/\s{2,}/);
  }

  function row(out: string, name: string): string[] {
    const line = out.split('\n').find((l) => l.startsWith(`${name} `));
    return (line ?? '').trim().split(/\s{2,}/);
  }

  beforeAll(async () => {
    server = await startKubernetesServer({ port: 0 });
    dir = mkdtempSync(join(tmpdir(), 'kubectl-'));
    kubeconfig = join(dir, 'config');
    writeKubeconfig(kubeconfig, server, { namespace: NS });
    writeFileSync(join(dir, 'stack.yaml'), STACK);
    await kubectl('apply', '--server-side', '-f', join(dir, 'stack.yaml'));
  });

  afterAll(async () => {
    await server?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('apply --server-side creates the stack, owned by the kubectl field manager', async () => {
    // Act
    const again = await kubectl('apply', '--server-side', '-f', join(dir, 'stack.yaml'));

    // Assess
    expect(again).toContain('deployment.apps/web serverside-applied');
    expect(again).toContain('horizontalpodautoscaler.autoscaling/web serverside-applied');
    const web = server.objects('Deployment').find((d) => d.metadata.name === 'web');
    expect(web?.metadata.managedFields?.map((m) => [m.manager, m.operation])).toContainEqual([
      'kubectl',
      'Apply',
    ]);
  });

  it.each([
    ['deployments', ['NAME', 'READY', 'UP-TO-DATE', 'AVAILABLE', 'AGE'], 'web', ['web', '2/2', '2', '2']],
    ['pods', ['NAME', 'READY', 'STATUS', 'RESTARTS', 'AGE'], 'web-', undefined],
    [
      'hpa',
      ['NAME', 'REFERENCE', 'TARGETS', 'MINPODS', 'MAXPODS', 'REPLICAS', 'AGE'],
      'web',
      ['web', 'Deployment/web', 'cpu: <unknown>/70%', '1', '4', '0'],
    ],
    [
      'services',
      ['NAME', 'TYPE', 'CLUSTER-IP', 'EXTERNAL-IP', 'PORT(S)', 'AGE'],
      'web',
      ['web', 'ClusterIP'],
    ],
    ['secrets', ['NAME', 'TYPE', 'DATA', 'AGE'], 'creds', ['creds', 'Opaque', '2']],
    ['networkpolicies', ['NAME', 'POD-SELECTOR', 'AGE'], 'web', ['web', 'app=web']],
    ['namespaces', ['NAME', 'STATUS', 'AGE'], NS, [NS, 'Active']],
  ])('get %s prints the real columns', async (resource, columns, name, cells) => {
    // Act
    const out = await kubectl('get', resource);

    // Assess
    expect(header(out)).toEqual(columns);
    const r = out.split('\n').find((l) => l.startsWith(name));
    expect(r).toBeDefined();
    if (cells) expect(row(out, name).slice(0, cells.length)).toEqual(cells);
  });

  it('get -o wide adds the wide columns', async () => {
    // Act
    const deployments = await kubectl('get', 'deployments', '-o', 'wide');
    const pods = await kubectl('get', 'pods', '-o', 'wide');

    // Assess
    expect(header(deployments)).toEqual([
      'NAME',
      'READY',
      'UP-TO-DATE',
      'AVAILABLE',
      'AGE',
      'CONTAINERS',
      'IMAGES',
      'SELECTOR',
    ]);
    expect(row(deployments, 'web').slice(5)).toEqual([
      'triton',
      'nvcr.io/nvidia/tritonserver:24.08-py3',
      'app=web',
    ]);
    expect(header(pods).slice(0, 7)).toEqual(['NAME', 'READY', 'STATUS', 'RESTARTS', 'AGE', 'IP', 'NODE']);
    const pod = server.pods(NS)[0]!;
    expect(row(pods, pod.metadata.name)[5]).toBe((pod.status as { podIP: string }).podIP);
  });

  it('get -o json gives the objects', async () => {
    // Act
    const out = JSON.parse(await kubectl('get', 'deployment', 'web', '-o', 'json')) as {
      kind: string;
      metadata: { name: string };
      spec: { replicas: number };
    };

    // Assess
    expect(out.kind).toBe('Deployment');
    expect(out.metadata.name).toBe('web');
  });

  it.each([
    [
      'deployment',
      'web',
      [
        /Name:\s+web\n/,
        /Replicas:\s+2 desired \| 2 updated \| 2 total \| 2 available/,
        /StrategyType:\s+RollingUpdate/,
      ],
    ],
    [
      'hpa',
      'web',
      [/Name:\s+web\n/, /Reference:\s+Deployment\/web/, /Min replicas:\s+1/, /Max replicas:\s+4/],
    ],
  ])('describe %s', async (kind, name, patterns) => {
    // Act
    const out = await kubectl('describe', kind, name);

    // Assess
    for (const p of patterns) expect(out).toMatch(p);
  });

  it('describe pod', async () => {
    // Prepare
    const pod = server.pods(NS)[0]!.metadata.name;

    // Act
    const out = await kubectl('describe', 'pod', pod);

    // Assess
    expect(out).toMatch(new RegExp(`Name:\\s+${pod}\\n`));
    expect(out).toMatch(/Status:\s+Running/);
    expect(out).toMatch(/Image:\s+nvcr\.io\/nvidia\/tritonserver:24\.08-py3/);
  });

  it('scale, then rollout status and wait see the Deployment become available', async () => {
    // Act
    const scaled = await kubectl('scale', 'deployment', 'web', '--replicas=3');
    const rollout = await kubectl('rollout', 'status', 'deployment/web', '--timeout=30s');
    const waited = await kubectl('wait', '--for=condition=Available', 'deployment/web', '--timeout=30s');

    // Assess
    expect(scaled).toContain('deployment.apps/web scaled');
    expect(rollout).toContain('deployment "web" successfully rolled out');
    expect(waited).toContain('deployment.apps/web condition met');
    expect(server.pods(NS)).toHaveLength(3);
  });

  it('get -w prints the table, then a row per change', async () => {
    // Prepare
    let out = '';
    const watcher = spawn(KUBECTL!, [
      '--kubeconfig',
      kubeconfig,
      '--cache-dir',
      join(dir, 'cache'),
      'get',
      'deployments',
      '-w',
    ]);
    watcher.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString('utf8');
    });
    await eventually('the first table', () => (out.includes('web') ? true : undefined), 400);

    // Act
    await kubectl('scale', 'deployment', 'web', '--replicas=1');
    await eventually('the changed row', () => (/\nweb\s+1\/1\s+1\s+1\s/.test(out) ? true : undefined), 400);
    watcher.kill();

    // Assess
    const lines = out.trim().split('\n');
    expect(header(out)).toEqual(['NAME', 'READY', 'UP-TO-DATE', 'AVAILABLE', 'AGE']);
    expect(lines.filter((l) => l.startsWith('NAME'))).toHaveLength(1);
    expect(lines.at(-1)).toMatch(/^web\s+1\/1\s+1\s+1\s/);
  });
});
