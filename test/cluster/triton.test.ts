import { describe, expect, it } from 'vitest';
import {
  buildApiKeySecret,
  buildTritonDeployment,
  buildTritonHpa,
  buildTritonNetworkPolicy,
  buildTritonPdb,
  buildTritonPodMonitoring,
  buildTritonService,
  GPU_DUTY_CYCLE_METRIC,
  KEY_IDS_ANNOTATION,
  type ModelPolicy,
  poolScalingFromModels,
  QUEUE_TIME_METRIC,
  type TritonInstanceInput,
  toQuantity,
} from '../../shared/cluster/triton';
import { resolveGpuClass } from '../../shared/gpu/catalog';
import { ConfigurationError } from '../../shared/runtime/errors';

function instance(overrides: Partial<TritonInstanceInput> = {}): TritonInstanceInput {
  return {
    cluster: {
      name: 'inference',
      namespace: 'triton',
      repositoryBucket: 'acme-models',
      tritonImage: 'nvcr.io/nvidia/tritonserver:25.10-py3',
    },
    pool: 'triton-l4',
    gpuClass: resolveGpuClass('l4'),
    repositoryPrefix: 'pools/triton-l4',
    ...overrides,
  };
}

function container(input = instance()) {
  const c = buildTritonDeployment(input).spec?.template.spec?.containers[0];
  if (!c) throw new Error('no container');
  return c;
}

const commonLabels = {
  'app.kubernetes.io/name': 'triton',
  'app.kubernetes.io/instance': 'triton-l4',
  'app.kubernetes.io/managed-by': 'inferplane',
};

describe('buildTritonDeployment', () => {
  it('identifies and labels the instance', () => {
    // Act
    const d = buildTritonDeployment(instance());

    // Assess
    expect(d.apiVersion).toBe('apps/v1');
    expect(d.kind).toBe('Deployment');
    expect(d.metadata).toMatchObject({ name: 'triton-l4', namespace: 'triton', labels: commonLabels });
    expect(d.spec?.template.metadata?.labels).toMatchObject(commonLabels);
    expect(d.spec?.selector.matchLabels).toEqual({
      'app.kubernetes.io/name': 'triton',
      'app.kubernetes.io/instance': 'triton-l4',
    });
  });

  it('starts Triton in explicit mode on the pool repository with a restricted repository API', () => {
    // Act
    const c = container();

    // Assess
    expect(c.image).toBe('nvcr.io/nvidia/tritonserver:25.10-py3');
    expect(c.args).toEqual(
      expect.arrayContaining([
        '--model-repository=gs://acme-models/pools/triton-l4',
        '--model-control-mode=explicit',
        '--load-model=*',
        // One model that fails to load must not hold the pod (and every other model) unready.
        '--strict-readiness=false',
        '--http-port=8000',
        '--grpc-port=8001',
        '--metrics-port=8002',
        '--http-restricted-api=model-repository:inferplane-admin-key=$(TRITON_ADMIN_KEY)',
        '--grpc-restricted-protocol=model-repository:inferplane-admin-key=$(TRITON_ADMIN_KEY)',
      ]),
    );
    expect(c.command).toBeUndefined();
    expect(c.args?.[0]).toBe('tritonserver');
    expect(c.args).toContain('--disable-auto-complete-config');
    expect(c.args).not.toContain('--strict-model-config=false');
    expect(c.env).toContainEqual({
      name: 'TRITON_ADMIN_KEY',
      valueFrom: { secretKeyRef: { name: 'triton-l4-admin', key: 'admin-key' } },
    });
    expect(c.ports?.map((p) => [p.name, p.containerPort])).toEqual([
      ['http', 8000],
      ['grpc', 8001],
      ['metrics', 8002],
    ]);
  });

  it('probes liveness and readiness on the v2 health endpoints with a generous startup probe', () => {
    // Act
    const c = container(instance({ startupBudgetSeconds: 900 }));

    // Assess
    expect(c.livenessProbe?.httpGet).toEqual({ path: '/v2/health/live', port: 'http' });
    expect(c.readinessProbe?.httpGet).toEqual({ path: '/v2/health/ready', port: 'http' });
    expect(c.startupProbe?.httpGet?.path).toBe('/v2/health/ready');
    const startupSeconds = (c.startupProbe?.periodSeconds ?? 0) * (c.startupProbe?.failureThreshold ?? 0);
    expect(startupSeconds).toBeGreaterThanOrEqual(900);
  });

  it('locks the container down', () => {
    // Act
    const d = buildTritonDeployment(instance());
    const c = container();

    // Assess
    expect(c.securityContext).toEqual({
      runAsNonRoot: true,
      runAsUser: 1000,
      runAsGroup: 1000,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
    });
    expect(c.volumeMounts).toContainEqual({ name: 'tmp', mountPath: '/tmp' });
    expect(d.spec?.template.spec?.volumes).toContainEqual(
      expect.objectContaining({ name: 'tmp', emptyDir: expect.any(Object) }),
    );
    expect(d.spec?.template.spec?.serviceAccountName).toBe('triton');
  });

  it.each([
    ['l4', 'g2-standard-4', undefined, '1'],
    ['l4', 'g2-standard-48', undefined, '4'],
    ['h100-80gb', 'a3-highgpu-8g', 2, '2'],
  ])('%s on %s (gpusPerPod %s) requests and limits %s GPU(s)', (cls, machineType, gpusPerPod, gpus) => {
    // Act
    const c = container(
      instance({ gpuClass: resolveGpuClass(cls), machineType, ...(gpusPerPod ? { gpusPerPod } : {}) }),
    );

    // Assess
    expect(c.resources?.requests?.['nvidia.com/gpu']).toBe(gpus);
    expect(c.resources?.limits?.['nvidia.com/gpu']).toBe(gpus);
  });

  it('tolerates the GPU taint and selects the pool nodes', () => {
    // Act
    const spec = buildTritonDeployment(
      instance({ gpuClass: resolveGpuClass('a100-80gb'), pool: 'triton-a100-80gb' }),
    ).spec?.template.spec;

    // Assess
    expect(spec?.tolerations).toEqual([
      { key: 'nvidia.com/gpu', operator: 'Equal', value: 'present', effect: 'NoSchedule' },
    ]);
    expect(spec?.nodeSelector).toEqual({
      'cloud.google.com/gke-accelerator': 'nvidia-a100-80gb',
      'inferplane.dev/pool': 'triton-a100-80gb',
    });
  });

  it('lets Triton auto-complete configs only when asked', () => {
    expect(container(instance({ autoCompleteConfig: true })).args).not.toContain(
      '--disable-auto-complete-config',
    );
  });

  it('leaves replicas to the HPA unless an explicit scale is asked for', () => {
    expect(buildTritonDeployment(instance()).spec).not.toHaveProperty('replicas');
    expect(buildTritonDeployment(instance({ replicas: 0 })).spec?.replicas).toBe(0);
  });

  it('rejects more GPUs per pod than the machine has', () => {
    expect(() => buildTritonDeployment(instance({ gpusPerPod: 2 }))).toThrow(ConfigurationError);
  });
});

describe('buildTritonService', () => {
  it.each([
    [undefined, 'ClusterIP', undefined],
    ['InternalLoadBalancer' as const, 'LoadBalancer', 'Internal'],
  ])('exposure %s -> %s', (exposure, type, annotation) => {
    // Act
    const svc = buildTritonService(instance(), exposure ? { exposure } : {});

    // Assess
    expect(svc.spec?.type).toBe(type);
    expect(svc.metadata.annotations?.['networking.gke.io/load-balancer-type']).toBe(annotation);
    expect(svc.spec?.ports?.map((p) => p.port)).toEqual([8000, 8001]);
    expect(svc.spec?.selector).toEqual({
      'app.kubernetes.io/name': 'triton',
      'app.kubernetes.io/instance': 'triton-l4',
    });
  });
});

describe('buildTritonHpa', () => {
  it.each([
    ['queue-time' as const, 50_000, QUEUE_TIME_METRIC, '50000', 'resource.labels.job'],
    ['gpu-duty-cycle' as const, 85, GPU_DUTY_CYCLE_METRIC, '85', 'resource.labels.container_name'],
  ])('%s -> External %s AverageValue %s', (metric, target, name, value, poolSelector) => {
    // Act
    const hpa = buildTritonHpa(instance(), { replicas: { min: 1, max: 5 }, autoscaling: { metric, target } });

    // Assess
    expect(hpa.apiVersion).toBe('autoscaling/v2');
    const [m] = hpa.spec?.metrics ?? [];
    expect(m?.type).toBe('External');
    expect(m?.external?.metric.name).toBe(name);
    expect(m?.external?.target).toEqual({ type: 'AverageValue', averageValue: value });
    expect(m?.external?.metric.selector?.matchLabels?.[poolSelector]).toBe('triton-l4');
  });

  it('uses policy bounds and scales up at once, down after 300 s', () => {
    // Act
    const hpa = buildTritonHpa(instance(), {
      replicas: { min: 2, max: 8 },
      autoscaling: { metric: 'gpu-duty-cycle', target: 85 },
    });

    // Assess
    expect(hpa.spec).toMatchObject({
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'triton-l4' },
      minReplicas: 2,
      maxReplicas: 8,
    });
    expect(hpa.spec?.behavior?.scaleUp?.stabilizationWindowSeconds).toBe(0);
    expect(hpa.spec?.behavior?.scaleUp?.policies?.map((p) => p.type).sort()).toEqual(['Percent', 'Pods']);
    expect(hpa.spec?.behavior?.scaleDown?.stabilizationWindowSeconds).toBe(300);
  });

  it('keeps minReplicas >= 1 when the policy minimum is 0', () => {
    const hpa = buildTritonHpa(instance(), {
      replicas: { min: 0, max: 3 },
      autoscaling: { metric: 'queue-time', target: 1 },
    });
    expect(hpa.spec?.minReplicas).toBe(1);
  });

  it.each([[{ min: 3, max: 2 }], [{ min: 0, max: 0 }], [{ min: -1, max: 2 }]])(
    'rejects replicas %j',
    (replicas) => {
      expect(() =>
        buildTritonHpa(instance(), { replicas, autoscaling: { metric: 'queue-time', target: 1 } }),
      ).toThrow(ConfigurationError);
    },
  );

  it.each([
    [85, '85'],
    [0.5, '500m'],
    [12.25, '12250m'],
  ])('toQuantity(%d) = %s', (n, q) => {
    expect(toQuantity(n)).toBe(q);
  });
});

describe('poolScalingFromModels', () => {
  const model = (patch: Partial<ModelPolicy>): ModelPolicy => ({
    gpuClass: 'l4',
    maxBatchSize: 8,
    instanceCount: 1,
    replicas: { min: 1, max: 2 },
    autoscaling: { metric: 'gpu-duty-cycle', target: 85 },
    ...patch,
  });

  it('covers the most demanding model and prefers queue time with the lowest target', () => {
    // Act
    const scaling = poolScalingFromModels([
      model({ replicas: { min: 2, max: 3 } }),
      model({ replicas: { min: 1, max: 6 }, autoscaling: { metric: 'queue-time', target: 40_000 } }),
      model({ autoscaling: { metric: 'queue-time', target: 20_000 } }),
    ]);

    // Assess
    expect(scaling).toEqual({
      replicas: { min: 2, max: 6 },
      autoscaling: { metric: 'queue-time', target: 20_000 },
    });
  });
});

describe('buildTritonPdb', () => {
  it('allows one voluntary disruption at a time and evicts unhealthy pods', () => {
    const pdb = buildTritonPdb(instance());
    expect(pdb.spec).toEqual({
      maxUnavailable: 1,
      selector: {
        matchLabels: { 'app.kubernetes.io/name': 'triton', 'app.kubernetes.io/instance': 'triton-l4' },
      },
      unhealthyPodEvictionPolicy: 'AlwaysAllow',
    });
  });
});

describe('buildTritonNetworkPolicy', () => {
  it('opens 8000/8001 to allowed namespaces and CIDRs and 8002 to monitoring only', () => {
    // Act
    const np = buildTritonNetworkPolicy(instance(), {
      allowedNamespaces: ['apps', 'inferplane'],
      allowedCidrs: ['10.8.0.0/28'],
    });

    // Assess
    expect(np.spec.policyTypes).toEqual(['Ingress']);
    const [serving, metrics] = np.spec.ingress;
    expect(serving?.ports.map((p) => p.port)).toEqual([8000, 8001]);
    expect(serving?.from).toEqual([
      {
        namespaceSelector: {
          matchExpressions: [
            { key: 'kubernetes.io/metadata.name', operator: 'In', values: ['apps', 'inferplane'] },
          ],
        },
      },
      { ipBlock: { cidr: '10.8.0.0/28' } },
    ]);
    expect(metrics?.ports.map((p) => p.port)).toEqual([8002]);
    expect(metrics?.from).toEqual([
      { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'gmp-system' } } },
    ]);
  });

  it('never emits a peer-less rule (which would allow everyone) when nothing is allowed', () => {
    // Act
    const np = buildTritonNetworkPolicy(instance());

    // Assess
    expect(np.spec.ingress).toHaveLength(1);
    expect(np.spec.ingress.every((rule) => rule.from.length > 0)).toBe(true);
    expect(np.spec.ingress[0]?.ports.map((p) => p.port)).toEqual([8002]);
  });
});

describe('buildTritonPodMonitoring', () => {
  it('scrapes the metrics port of this instance', () => {
    const pm = buildTritonPodMonitoring(instance());
    expect(pm.apiVersion).toBe('monitoring.googleapis.com/v1');
    expect(pm.metadata.name).toBe('triton-l4');
    expect(pm.spec.endpoints).toEqual([{ port: 'metrics', path: '/metrics', interval: '15s' }]);
  });
});

describe('buildApiKeySecret', () => {
  it('stores values base64 under their ids and names only the ids elsewhere', () => {
    // Act
    const secret = buildApiKeySecret(
      'client-keys',
      { beta: 's3cr3t-b', alpha: 's3cr3t-a' },
      { namespace: 'triton' },
    );

    // Assess
    expect(secret.type).toBe('Opaque');
    expect(secret.data).toEqual({
      alpha: Buffer.from('s3cr3t-a').toString('base64'),
      beta: Buffer.from('s3cr3t-b').toString('base64'),
    });
    expect(secret.metadata.annotations?.[KEY_IDS_ANNOTATION]).toBe('alpha,beta');
    expect(secret.metadata.labels?.['app.kubernetes.io/managed-by']).toBe('inferplane');
    const { data: _data, ...rest } = secret;
    expect(JSON.stringify(rest)).not.toMatch(/s3cr3t/);
  });

  it.each([
    [{ 'bad id': 'x' }, 'INVALID_KEY_ID'],
    [{ ok: '' }, 'INVALID_KEY'],
  ])('rejects %j', (keys, reason) => {
    try {
      buildApiKeySecret('k', keys, { namespace: 'triton' });
      expect.unreachable();
    } catch (err) {
      expect((err as ConfigurationError).reason).toBe(reason);
    }
  });
});
