/**
 * The local HPA controller against the local apiserver: HPAs and Deployments are created and read
 * with the unmodified `@kubernetes/client-node`, metric values come from an in-memory External
 * metric source, and a manual clock moves stabilization windows and policy periods without
 * waiting. Each test calls `sync()` as the controller's 15 s loop would.
 */
import {
  AppsV1Api,
  AutoscalingV2Api,
  type KubeConfig,
  type V2HorizontalPodAutoscaler,
  type V2HorizontalPodAutoscalerCondition,
  type V2HPAScalingRules,
  type V2MetricSpec,
} from '@kubernetes/client-node';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  type ExternalMetricSource,
  formatMilli,
  type HpaController,
  parseQuantity,
  startHpaController,
} from '../../infra/local/kubernetes/hpa-controller';
import {
  type KubernetesServer,
  localKubeConfig,
  startKubernetesServer,
} from '../../infra/local/kubernetes/index';
import { ManualClock } from '../../shared/runtime/clock';

const NS = 'default';
const SYNC_MS = 15_000;
const QUEUE = 'custom.googleapis.com|triton|queue';

class InMemoryMetrics implements ExternalMetricSource {
  readonly values = new Map<string, number[]>();
  readonly asked: { namespace: string; metricName: string; selector?: unknown }[] = [];

  async external(args: {
    namespace: string;
    metricName: string;
    selector?: { matchLabels?: Record<string, string> };
  }): Promise<number[] | undefined> {
    this.asked.push(args);
    return this.values.get(args.metricName);
  }
}

function externalMetric(
  target: { averageValue?: string; value?: string },
  name = QUEUE,
  matchLabels: Record<string, string> = { 'resource.labels.pool': 'l4' },
): V2MetricSpec {
  return {
    type: 'External',
    external: {
      metric: { name, selector: { matchLabels } },
      target: { type: target.averageValue ? 'AverageValue' : 'Value', ...target },
    },
  };
}

function hpa(
  name: string,
  opts: {
    min?: number;
    max?: number;
    metrics?: V2MetricSpec[];
    scaleUp?: V2HPAScalingRules;
    scaleDown?: V2HPAScalingRules;
  } = {},
): V2HorizontalPodAutoscaler {
  const behavior =
    opts.scaleUp || opts.scaleDown
      ? {
          ...(opts.scaleUp ? { scaleUp: opts.scaleUp } : {}),
          ...(opts.scaleDown ? { scaleDown: opts.scaleDown } : {}),
        }
      : undefined;
  return {
    apiVersion: 'autoscaling/v2',
    kind: 'HorizontalPodAutoscaler',
    metadata: { name, namespace: NS },
    spec: {
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name },
      minReplicas: opts.min ?? 1,
      maxReplicas: opts.max ?? 10,
      metrics: opts.metrics ?? [externalMetric({ averageValue: '10' })],
      ...(behavior ? { behavior } : {}),
    },
  };
}

describe('local HPA controller', () => {
  let clock: ManualClock;
  let server: KubernetesServer;
  let kc: KubeConfig;
  let apps: AppsV1Api;
  let autoscaling: AutoscalingV2Api;
  let metrics: InMemoryMetrics;
  let controller: HpaController;

  async function deploy(name: string, replicas: number, spec: Parameters<typeof hpa>[1] = {}): Promise<void> {
    await apps.createNamespacedDeployment({
      namespace: NS,
      body: {
        metadata: { name, namespace: NS },
        spec: {
          replicas,
          selector: { matchLabels: { app: name } },
          template: {
            metadata: { labels: { app: name } },
            spec: { containers: [{ name: 'triton', image: 'nvcr.io/nvidia/tritonserver:24.08-py3' }] },
          },
        },
      },
    });
    await autoscaling.createNamespacedHorizontalPodAutoscaler({ namespace: NS, body: hpa(name, spec) });
  }

  /** One controller sync, `SYNC_MS` after the previous one. */
  async function tick(ms = SYNC_MS): Promise<void> {
    clock.advance(ms);
    await controller.sync();
  }

  async function replicas(name: string): Promise<number | undefined> {
    return (await apps.readNamespacedDeployment({ name, namespace: NS })).spec?.replicas;
  }

  async function status(name: string) {
    return (await autoscaling.readNamespacedHorizontalPodAutoscaler({ name, namespace: NS })).status;
  }

  function condition(
    conditions: V2HorizontalPodAutoscalerCondition[] | undefined,
    type: string,
  ): { status?: string; reason?: string; message?: string } | undefined {
    const c = conditions?.find((x) => x.type === type);
    return c ? { status: c.status, reason: c.reason, message: c.message } : undefined;
  }

  beforeEach(async () => {
    clock = new ManualClock();
    server = await startKubernetesServer({ clock });
    kc = localKubeConfig(server);
    apps = kc.makeApiClient(AppsV1Api);
    autoscaling = kc.makeApiClient(AutoscalingV2Api);
    metrics = new InMemoryMetrics();
    controller = startHpaController({ kubernetes: server, metrics, clock, syncPeriodMs: 0 });
  });

  afterEach(async () => {
    await controller.stop();
    await server.close();
  });

  it('scales up on a high metric and reports status, metrics and conditions', async () => {
    // Prepare
    await deploy('triton-l4', 2);
    metrics.values.set(QUEUE, [12, 12]);

    // Act
    await tick();
    const s = await status('triton-l4');
    const deployment = await apps.readNamespacedDeployment({ name: 'triton-l4', namespace: NS });

    // Assess
    expect(deployment.spec?.replicas).toBe(3);
    expect(deployment.metadata?.managedFields).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ manager: 'horizontal-pod-autoscaler', subresource: 'scale' }),
      ]),
    );
    expect(s?.currentReplicas).toBe(2);
    expect(s?.desiredReplicas).toBe(3);
    expect(s?.observedGeneration).toBe(1);
    expect(s?.lastScaleTime).toEqual(new Date(clock.nowMs()));
    expect(s?.currentMetrics).toEqual([
      {
        type: 'External',
        external: {
          metric: { name: QUEUE, selector: { matchLabels: { 'resource.labels.pool': 'l4' } } },
          current: { averageValue: '12' },
        },
      },
    ]);
    expect(s?.conditions?.map((c) => c.type)).toEqual(['AbleToScale', 'ScalingActive', 'ScalingLimited']);
    expect(condition(s?.conditions, 'AbleToScale')).toEqual({
      status: 'True',
      reason: 'SucceededRescale',
      message: 'the HPA controller was able to update the target scale to 3',
    });
    expect(condition(s?.conditions, 'ScalingActive')).toEqual({
      status: 'True',
      reason: 'ValidMetricFound',
      message: `the HPA was able to successfully calculate a replica count from external metric ${QUEUE}(&LabelSelector{MatchLabels:map[string]string{resource.labels.pool: l4,},MatchExpressions:[]LabelSelectorRequirement{},})`,
    });
    expect(condition(s?.conditions, 'ScalingLimited')).toEqual({
      status: 'False',
      reason: 'DesiredWithinRange',
      message: 'the desired count is within the acceptable range',
    });
    expect(metrics.asked).toEqual([
      { namespace: NS, metricName: QUEUE, selector: { matchLabels: { 'resource.labels.pool': 'l4' } } },
    ]);
  });

  it.each([
    ['AverageValue just above target', { averageValue: '10' }, [10.5, 10.5], 2],
    ['AverageValue just below target', { averageValue: '10' }, [9.5, 9.5], 2],
    ['Value within 10%', { value: '100' }, [104], 2],
    ['AverageValue beyond the band', { averageValue: '10' }, [12, 12], 3],
    ['Value beyond the band: ceil(current * value / target)', { value: '100' }, [130], 3],
  ])('applies the tolerance band: %s', async (_, target, values, expected) => {
    // Prepare
    await deploy('triton-l4', 2, { metrics: [externalMetric(target)] });
    metrics.values.set(QUEUE, values);

    // Act
    await tick();
    const s = await status('triton-l4');

    // Assess
    expect(await replicas('triton-l4')).toBe(expected);
    expect(s?.desiredReplicas).toBe(expected);
    expect(s?.lastScaleTime === undefined).toBe(expected === 2);
  });

  it('takes the highest proposal over several metrics', async () => {
    // Prepare
    await deploy('triton-l4', 2, {
      metrics: [externalMetric({ averageValue: '10' }), externalMetric({ value: '50' }, 'latency')],
    });
    metrics.values.set(QUEUE, [12, 12]); // proposes 3
    metrics.values.set('latency', [100]); // proposes ceil(2 * 2) = 4

    // Act
    await tick();
    const s = await status('triton-l4');

    // Assess
    expect(await replicas('triton-l4')).toBe(4);
    expect(condition(s?.conditions, 'ScalingActive')?.message).toContain('external metric latency(');
    expect(s?.currentMetrics?.[1]?.external?.current).toEqual({ value: '100' });
  });

  it.each([
    ['no behavior (the controller-wide 300 s window)', undefined, 300],
    ['a 60 s scaleDown window', { stabilizationWindowSeconds: 60 }, 60],
  ])(
    'holds a scale-down for the stabilization window, then applies it: %s',
    async (_, scaleDown, windowSeconds) => {
      // Prepare
      await deploy('triton-l4', 4, scaleDown ? { scaleDown } : {});
      metrics.values.set(QUEUE, [40, 0, 0, 0]);
      await tick(); // recommendation 4 at the first sight; no change
      metrics.values.set(QUEUE, [5]);

      // Act
      await tick();
      const held = await status('triton-l4');
      const heldReplicas = await replicas('triton-l4');
      await tick(windowSeconds * 1000 - SYNC_MS - 1);
      const stillHeld = await replicas('triton-l4');
      await tick(SYNC_MS + 2);
      const after = await status('triton-l4');

      // Assess
      expect(heldReplicas).toBe(4);
      expect(held?.desiredReplicas).toBe(4);
      expect(condition(held?.conditions, 'AbleToScale')).toEqual({
        status: 'True',
        reason: 'ScaleDownStabilized',
        message:
          'recent recommendations were higher than current one, applying the highest recent recommendation',
      });
      expect(stillHeld).toBe(4);
      expect(await replicas('triton-l4')).toBe(1);
      expect(after?.desiredReplicas).toBe(1);
      expect(condition(after?.conditions, 'AbleToScale')?.reason).toBe('SucceededRescale');
    },
  );

  it.each([
    ['Pods 1 per 60 s', { policies: [{ type: 'Pods', value: 1, periodSeconds: 60 }] }, 1, [2, 2, 3]],
    ['Percent 50 per 60 s', { policies: [{ type: 'Percent', value: 50, periodSeconds: 60 }] }, 4, [6, 6, 9]],
    [
      'Max of Pods 1 and Percent 100',
      {
        policies: [
          { type: 'Pods', value: 1, periodSeconds: 60 },
          { type: 'Percent', value: 100, periodSeconds: 60 },
        ],
      },
      2,
      [4, 4, 8],
    ],
    [
      'Min of Pods 1 and Percent 100',
      {
        selectPolicy: 'Min',
        policies: [
          { type: 'Pods', value: 1, periodSeconds: 60 },
          { type: 'Percent', value: 100, periodSeconds: 60 },
        ],
      },
      2,
      [3, 3, 4],
    ],
    ['Disabled', { selectPolicy: 'Disabled' }, 2, [2, 2, 2]],
  ])('limits each scale-up step by the policies: %s', async (_, scaleUp, start, steps) => {
    // Prepare
    await deploy('triton-l4', start, { max: 20, scaleUp: scaleUp as V2HPAScalingRules });
    metrics.values.set(QUEUE, [200]); // asks for 20

    // Act: a sync, one 15 s later (same period), and one after the period has passed
    await tick();
    const first = await replicas('triton-l4');
    const limited = await status('triton-l4');
    await tick();
    const second = await replicas('triton-l4');
    await tick(61_000);
    const third = await replicas('triton-l4');

    // Assess
    expect([first, second, third]).toEqual(steps);
    expect(condition(limited?.conditions, 'ScalingLimited')).toEqual({
      status: 'True',
      reason: 'ScaleUpLimit',
      message: 'the desired replica count is increasing faster than the maximum scale rate',
    });
  });

  it('limits a scale-down step by a Pods policy', async () => {
    // Prepare
    await deploy('triton-l4', 6, {
      scaleDown: { stabilizationWindowSeconds: 0, policies: [{ type: 'Pods', value: 2, periodSeconds: 30 }] },
    });
    metrics.values.set(QUEUE, [1]);

    // Act
    await tick();
    const first = await replicas('triton-l4');
    const s = await status('triton-l4');
    await tick(31_000);

    // Assess
    expect(first).toBe(4);
    expect(condition(s?.conditions, 'ScalingLimited')).toEqual({
      status: 'True',
      reason: 'ScaleDownLimit',
      message: 'the desired replica count is decreasing faster than the maximum scale rate',
    });
    expect(await replicas('triton-l4')).toBe(2);
  });

  it('applies the legacy scale-up limit max(2 x current, 4) when behavior is absent', async () => {
    // Prepare
    await deploy('triton-l4', 1, { max: 20 });
    metrics.values.set(QUEUE, [200]);

    // Act
    await tick();
    const first = await replicas('triton-l4');
    await tick();

    // Assess
    expect(first).toBe(4);
    expect(await replicas('triton-l4')).toBe(8);
  });

  it.each([
    [
      'above maxReplicas',
      { min: 1, max: 5 },
      4,
      [200],
      5,
      'TooManyReplicas',
      'the desired replica count is more than the maximum replica count',
    ],
    [
      'below minReplicas',
      { min: 2, max: 10, scaleDown: { stabilizationWindowSeconds: 0 } },
      4,
      [1],
      2,
      'TooFewReplicas',
      'the desired replica count is less than the minimum replica count',
    ],
    [
      'within the bounds',
      { min: 1, max: 10 },
      3,
      [50],
      5,
      'DesiredWithinRange',
      'the desired count is within the acceptable range',
    ],
  ])(
    'clamps %s with the ScalingLimited reason',
    async (_, spec, start, values, expected, reason, message) => {
      // Prepare
      await deploy('triton-l4', start, spec);
      metrics.values.set(QUEUE, values);

      // Act
      await tick();
      const s = await status('triton-l4');

      // Assess
      expect(await replicas('triton-l4')).toBe(expected);
      expect(condition(s?.conditions, 'ScalingLimited')).toEqual({
        status: reason === 'DesiredWithinRange' ? 'False' : 'True',
        reason,
        message,
      });
    },
  );

  it('brings a target outside the bounds back inside without reading metrics', async () => {
    // Prepare
    await deploy('triton-l4', 8, { min: 1, max: 5 });

    // Act
    await tick();

    // Assess
    expect(await replicas('triton-l4')).toBe(5);
    expect(metrics.asked).toEqual([]);
  });

  it('stops acting while the target has 0 replicas and resumes once they are restored', async () => {
    // Prepare
    await deploy('triton-l4', 0, { min: 1 });
    metrics.values.set(QUEUE, [100]);

    // Act
    await tick();
    await tick();
    const disabled = await status('triton-l4');
    const atZero = await replicas('triton-l4');
    const askedAtZero = metrics.asked.length;
    await apps.replaceNamespacedDeploymentScale({
      name: 'triton-l4',
      namespace: NS,
      body: { metadata: { name: 'triton-l4', namespace: NS }, spec: { replicas: 1 } },
    });
    await tick();
    const resumed = await status('triton-l4');

    // Assess
    expect(atZero).toBe(0);
    expect(disabled?.currentReplicas).toBe(0);
    expect(disabled?.desiredReplicas).toBe(0);
    expect(disabled?.currentMetrics).toBeUndefined();
    expect(condition(disabled?.conditions, 'ScalingActive')).toEqual({
      status: 'False',
      reason: 'ScalingDisabled',
      message: 'scaling is disabled since the replica count of the target is zero',
    });
    expect(askedAtZero).toBe(0);
    expect(condition(resumed?.conditions, 'ScalingActive')?.reason).toBe('ValidMetricFound');
    expect(await replicas('triton-l4')).toBe(4);
  });

  it.each([
    [
      'an External metric with no series',
      [externalMetric({ averageValue: '10' })],
      'FailedGetExternalMetric',
      `the HPA was unable to compute the replica count: unable to get external metric default/${QUEUE}/&LabelSelector{MatchLabels:map[string]string{resource.labels.pool: l4,},MatchExpressions:[]LabelSelectorRequirement{},}: no metrics returned from external metrics API`,
    ],
    [
      'a Resource metric (no resource metrics API here)',
      [
        {
          type: 'Resource',
          resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 80 } },
        },
      ],
      'FailedGetResourceMetric',
      'the HPA was unable to compute the replica count: failed to get cpu utilization: unable to get metrics for resource cpu: unable to fetch metrics from resource metrics API: the server could not find the requested resource (get pods.metrics.k8s.io)',
    ],
    [
      'a Pods metric (no custom metrics API here)',
      [
        {
          type: 'Pods',
          pods: { metric: { name: 'qps' }, target: { type: 'AverageValue', averageValue: '1' } },
        },
      ],
      'FailedGetPodsMetric',
      'the HPA was unable to compute the replica count: unable to get metric qps: unable to fetch metrics from custom metrics API: no custom metrics API (custom.metrics.k8s.io) registered',
    ],
  ])('keeps replicas when it cannot read %s', async (_, specMetrics, reason, message) => {
    // Prepare
    await deploy('triton-l4', 3, { metrics: specMetrics as V2MetricSpec[] });

    // Act
    await tick();
    const s = await status('triton-l4');

    // Assess
    expect(await replicas('triton-l4')).toBe(3);
    expect(s?.currentReplicas).toBe(3);
    expect(s?.lastScaleTime).toBeUndefined();
    expect(condition(s?.conditions, 'AbleToScale')?.reason).toBe('SucceededGetScale');
    expect(condition(s?.conditions, 'ScalingActive')).toEqual({ status: 'False', reason, message });
  });

  it('scales up on the metrics it has when another is missing, but never down', async () => {
    // Prepare
    await deploy('triton-l4', 3, {
      metrics: [externalMetric({ averageValue: '10' }), externalMetric({ averageValue: '10' }, 'missing')],
    });

    // Act
    metrics.values.set(QUEUE, [60]);
    await tick();
    const up = await replicas('triton-l4');
    metrics.values.set(QUEUE, [1]);
    await tick(400_000);

    // Assess
    expect(up).toBe(6);
    expect(await replicas('triton-l4')).toBe(6);
    expect(condition((await status('triton-l4'))?.conditions, 'ScalingActive')?.reason).toBe(
      'FailedGetExternalMetric',
    );
  });

  it('reports a missing scale target with AbleToScale=False', async () => {
    // Prepare
    await autoscaling.createNamespacedHorizontalPodAutoscaler({ namespace: NS, body: hpa('nothing') });

    // Act
    await tick();
    const s = await status('nothing');

    // Assess
    expect(condition(s?.conditions, 'AbleToScale')).toEqual({
      status: 'False',
      reason: 'FailedGetScale',
      message: `the HPA controller was unable to get the target's current scale: deployments.apps "nothing" not found`,
    });
  });

  it('does not write a status that did not change', async () => {
    // Prepare
    await deploy('triton-l4', 2);
    metrics.values.set(QUEUE, [20]);
    await tick();
    const before = (
      await autoscaling.readNamespacedHorizontalPodAutoscaler({ name: 'triton-l4', namespace: NS })
    ).metadata?.resourceVersion;

    // Act
    await tick();
    const after = (
      await autoscaling.readNamespacedHorizontalPodAutoscaler({ name: 'triton-l4', namespace: NS })
    ).metadata?.resourceVersion;

    // Assess
    expect(after).toBe(before);
  });

  it('syncs on its own every sync period', async () => {
    // Prepare
    await controller.stop();
    controller = startHpaController({ kubernetes: server, metrics, syncPeriodMs: 10 });
    await deploy('triton-l4', 1);
    metrics.values.set(QUEUE, [30]);

    // Assess: bounded wait for the condition, nothing asserted on time
    await vi.waitFor(async () => expect(await replicas('triton-l4')).toBe(3), {
      timeout: 10_000,
      interval: 20,
    });
  });

  it.each([
    ['500m', 0.5],
    ['2', 2],
    ['1.5k', 1500],
    ['1Ki', 1024],
    ['1e3', 1000],
    ['abc', undefined],
  ])('parses the quantity %s', (text, expected) => {
    expect(parseQuantity(text)).toBe(expected);
  });

  it.each([
    [12_000, '12'],
    [1_500, '1500m'],
    [2_000_000, '2k'],
    [0, '0'],
  ])('formats %i milli-units as %s', (n, expected) => {
    expect(formatMilli(n)).toBe(expected);
  });
});
