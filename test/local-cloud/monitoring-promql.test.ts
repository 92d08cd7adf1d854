/**
 * The PromQL subset the local Monitoring server evaluates for alert conditions, over series
 * written in-process with GMP names (`prometheus.googleapis.com/<name>/<kind>` on
 * `prometheus_target`), and fault injection answered in Google's error shape.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { localMonitoringClients } from '../../infra/local/monitoring/client';
import { type MonitoringServer, startMonitoringServer } from '../../infra/local/monitoring/index';
import { evaluatePromQL } from '../../infra/local/monitoring/promql';
import { ManualClock } from '../../shared/runtime/clock';

const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);
const labelKey = (l: Record<string, string>) => JSON.stringify(Object.entries(l).sort());

describe('PromQL subset', () => {
  let clock: ManualClock;
  let server: MonitoringServer;

  const target = (pod: string, namespace = 'triton') => ({
    project_id: 'local-project',
    location: 'us-central1',
    cluster: 'inference',
    namespace,
    job: 'triton',
    instance: `${pod}:8002`,
  });

  beforeEach(async () => {
    clock = new ManualClock(T0);
    server = await startMonitoringServer({ clock, evaluationIntervalMs: 0, scrapePollMs: 0 });
    // Counters over 60 s: pod a 10/s (resnet), pod b 30/s (resnet), pod c 4/s (bert, other namespace).
    const counters: [string, string, string, number][] = [
      ['a', 'resnet', 'triton', 10],
      ['b', 'resnet', 'triton', 30],
      ['c', 'bert', 'batch', 4],
    ];
    for (let i = 0; i <= 4; i++) {
      clock.set(T0 + i * 15_000);
      for (const [pod, model, ns, rate] of counters) {
        server.writePoint({
          metricType: 'prometheus.googleapis.com/nv_inference_count/counter',
          metricKind: 'CUMULATIVE',
          startMs: T0 - 1,
          resourceType: 'prometheus_target',
          resourceLabels: target(pod, ns),
          metricLabels: { model },
          value: rate * i * 15,
        });
      }
    }
    const gauges: [string, number][] = [
      ['a', 0.2],
      ['b', 0.9],
      ['c', 0.5],
    ];
    for (const [pod, v] of gauges) {
      server.writePoint({
        metricType: 'prometheus.googleapis.com/nv_gpu_utilization/gauge',
        resourceType: 'prometheus_target',
        resourceLabels: target(pod, pod === 'c' ? 'batch' : 'triton'),
        metricLabels: {},
        value: v,
      });
    }
  });

  afterEach(async () => {
    await server.close();
  });

  const run = (q: string) =>
    evaluatePromQL(q, { store: server.store, project: 'local-project', atMs: clock.nowMs() })
      .map((s) => ({ labels: s.labels, value: Math.round(s.value * 1000) / 1000 }))
      .sort((x, y) => labelKey(x.labels).localeCompare(labelKey(y.labels)));

  const cases: [string, string, { labels: Record<string, string>; value: number }[]][] = [
    [
      'sum by of a rate',
      'sum by (model) (rate(nv_inference_count[1m]))',
      [
        { labels: { model: 'bert' }, value: 4 },
        { labels: { model: 'resnet' }, value: 40 },
      ],
    ],
    [
      'by after the argument',
      'sum(rate(nv_inference_count[1m])) by (namespace)',
      [
        { labels: { namespace: 'batch' }, value: 4 },
        { labels: { namespace: 'triton' }, value: 40 },
      ],
    ],
    [
      'avg with a matcher',
      'avg(rate(nv_inference_count{namespace="triton"}[1m]))',
      [{ labels: {}, value: 20 }],
    ],
    [
      'max with a regex matcher',
      'max(nv_gpu_utilization{instance=~"(a|c):8002"})',
      [{ labels: {}, value: 0.5 }],
    ],
    ['min with !=', 'min(nv_gpu_utilization{namespace!="batch"})', [{ labels: {}, value: 0.2 }]],
    ['count', 'count(nv_gpu_utilization)', [{ labels: {}, value: 3 }]],
    [
      'increase over the range',
      'sum(increase(nv_inference_count{instance="a:8002"}[1m]))',
      [{ labels: {}, value: 600 }],
    ],
    [
      'clamp_min and a ratio of aggregates',
      'sum(rate(nv_inference_count{model="bert"}[1m])) / sum(clamp_min(rate(nv_inference_count{model="resnet"}[1m]), 25))',
      [{ labels: {}, value: 0.073 }],
    ],
    [
      'a comparison filters the vector',
      'nv_gpu_utilization > 0.4',
      [
        { labels: { ...target('b'), __name__: 'nv_gpu_utilization' }, value: 0.9 },
        { labels: { ...target('c', 'batch'), __name__: 'nv_gpu_utilization' }, value: 0.5 },
      ],
    ],
    [
      'bool keeps every series',
      'sum by (namespace) (nv_gpu_utilization) > bool 1',
      [
        { labels: { namespace: 'batch' }, value: 0 },
        { labels: { namespace: 'triton' }, value: 1 },
      ],
    ],
    [
      'one-to-one vector division',
      'sum by (model) (rate(nv_inference_count[1m])) / sum by (model) (rate(nv_inference_count[1m]))',
      [
        { labels: { model: 'bert' }, value: 1 },
        { labels: { model: 'resnet' }, value: 1 },
      ],
    ],
    ['scalar arithmetic', 'sum(nv_gpu_utilization) * 100 - 10', [{ labels: {}, value: 150 }]],
    ['an unknown metric is an empty vector', 'sum(rate(nope[1m])) > 0', []],
  ];
  it.each(cases)('%s', (_name, query, expected) => {
    expect(run(query)).toEqual(expected);
  });

  const invalid: [string, string][] = [
    ['an unclosed call', 'rate(nv_inference_count[1m]'],
    ['an unsupported function', 'histogram_quantile(0.9, x)'],
    ['rate of an instant vector', 'rate(nv_inference_count)'],
    ['a bare range vector', 'nv_inference_count[1m]'],
  ];
  it.each(invalid)('refuses %s with INVALID_ARGUMENT', (_name, query) => {
    expect(() => run(query)).toThrow(/Invalid PromQL query/);
  });
});

describe('fault injection', () => {
  let server: MonitoringServer;

  beforeEach(async () => {
    server = await startMonitoringServer({ evaluationIntervalMs: 0, scrapePollMs: 0 });
  });

  afterEach(async () => {
    await server.close();
  });

  it('answers injected failures in Google’s error shape, which the client decodes', async () => {
    const clients = localMonitoringClients(server.url);
    try {
      server.faults.set({
        failNext: 1,
        failStatus: 503,
        match: 'POST /v3/projects/local-project/timeSeries',
      });
      const now = Date.now();
      const write = () =>
        clients.metrics.createTimeSeries({
          name: 'projects/local-project',
          timeSeries: [
            {
              metric: { type: 'custom.googleapis.com/f' },
              resource: { type: 'global', labels: {} },
              points: [
                { interval: { endTime: { seconds: Math.floor(now / 1000) } }, value: { doubleValue: 1 } },
              ],
            },
          ],
        });
      const err = await write().then(
        () => undefined,
        (e: { code?: unknown; message?: unknown }) => e,
      );
      expect(err?.code).toBe(14);
      expect(String(err?.message)).toContain('injected fault');
      expect(server.faults.injected).toBe(1);
      await write();
      const res = await fetch(`${server.url}/__faults`, {
        method: 'POST',
        body: JSON.stringify({ failNext: 1, failStatus: 429 }),
      });
      expect(res.status).toBe(200);
      const injected = await fetch(`${server.url}/v3/projects/local-project/metricDescriptors`);
      expect(injected.status).toBe(429);
      expect(await injected.json()).toEqual({
        error: { code: 429, message: 'injected fault', status: 'RESOURCE_EXHAUSTED' },
      });
    } finally {
      await clients.close();
    }
  });
});
