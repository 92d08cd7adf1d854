/**
 * Managed-Prometheus-style collection in the local Cloud Monitoring server: the text-format
 * parser, PodMonitoring resolution against plain Pod JSON, and scraping a fake exposition (a
 * local HTTP handler) into `prometheus.googleapis.com/...` series read back through the official
 * MetricServiceClient.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type LocalMonitoringClients, localMonitoringClients } from '../../infra/local/monitoring/client';
import {
  type MonitoringServer,
  type PodLike,
  type PodMonitoringLike,
  parsePrometheusText,
  scrapeTargetsFromPodMonitorings,
  startMonitoringServer,
} from '../../infra/local/monitoring/index';
import { PromParseError } from '../../infra/local/monitoring/promtext';
import { ManualClock } from '../../shared/runtime/clock';

const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);
const P = 'projects/local-project';
const ts = (ms: number) => ({ seconds: Math.floor(ms / 1000), nanos: 0 });

describe('Prometheus text format parser', () => {
  it('reads HELP, TYPE, labels with escapes, special values and timestamps', () => {
    const families = parsePrometheusText(
      [
        '# HELP nv_inference_count Number of inferences \\\\ performed\\nper model',
        '# TYPE nv_inference_count counter',
        'nv_inference_count{model="resnet",version="1"} 42',
        'nv_inference_count{model="a \\"quoted\\" \\\\ back\\nslash",version="2",} 7 1767268800000',
        '# a plain comment',
        '# TYPE nv_gpu_utilization gauge',
        'nv_gpu_utilization{gpu_uuid="GPU-1"} NaN',
        'nv_gpu_utilization{gpu_uuid="GPU-2"} +Inf',
        'nv_gpu_utilization{gpu_uuid="GPU-3"} -Inf',
        'nv_gpu_utilization{gpu_uuid="GPU-4"} 1.5e-1',
        'untyped_thing 3',
        '',
      ].join('\n'),
    );
    expect(families.map((f) => [f.name, f.type])).toEqual([
      ['nv_inference_count', 'counter'],
      ['nv_gpu_utilization', 'gauge'],
      ['untyped_thing', 'untyped'],
    ]);
    const [count, gpu] = families;
    expect(count?.help).toBe('Number of inferences \\ performed\nper model');
    expect(count?.samples[1]).toEqual({
      name: 'nv_inference_count',
      labels: { model: 'a "quoted" \\ back\nslash', version: '2' },
      value: 7,
      timestampMs: 1767268800000,
    });
    const values = gpu?.samples.map((s) => s.value) ?? [];
    expect(Number.isNaN(values[0])).toBe(true);
    expect(values.slice(1)).toEqual([Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 0.15]);
  });

  it('groups histogram and summary samples under their family', () => {
    const families = parsePrometheusText(
      [
        '# TYPE lat histogram',
        'lat_bucket{le="0.1"} 1',
        'lat_bucket{le="+Inf"} 3',
        'lat_sum 0.9',
        'lat_count 3',
        '# TYPE q summary',
        'q{quantile="0.5"} 2',
        'q_sum 10',
        'q_count 4',
      ].join('\n'),
    );
    expect(families.map((f) => [f.name, f.type, f.samples.length])).toEqual([
      ['lat', 'histogram', 4],
      ['q', 'summary', 3],
    ]);
  });

  const bad: [string, string][] = [
    ['an unterminated label value', 'm{a="x} 1'],
    ['a bad escape', 'm{a="\\t"} 1'],
    ['a missing value', 'm{a="x"}'],
    ['a non-numeric value', 'm 1,5'],
    ['an unknown TYPE', '# TYPE m countr'],
    ['a duplicate label', 'm{a="1",a="2"} 1'],
  ];
  it.each(bad)('refuses %s, naming the line', (_name, text) => {
    expect(() => parsePrometheusText(`# ok\n${text}`)).toThrow(PromParseError);
    expect(() => parsePrometheusText(`# ok\n${text}`)).toThrow(/line 2/);
  });
});

function pod(
  name: string,
  extra: { phase?: string; ready?: boolean; namespace?: string; app?: string } = {},
): PodLike {
  return {
    metadata: {
      name,
      namespace: extra.namespace ?? 'triton',
      labels: { app: extra.app ?? 'triton', pool: 'l4' },
    },
    spec: {
      containers: [
        {
          name: 'triton',
          ports: [
            { name: 'http', containerPort: 8000 },
            { name: 'metrics', containerPort: 8002 },
          ],
        },
      ],
    },
    status: {
      phase: extra.phase ?? 'Running',
      podIP: '10.0.0.1',
      conditions: [{ type: 'Ready', status: extra.ready === false ? 'False' : 'True' }],
    },
  };
}

const podMonitoring = (interval?: string, port: string | number = 'metrics'): PodMonitoringLike => ({
  metadata: { name: 'triton', namespace: 'triton' },
  spec: {
    selector: { matchLabels: { app: 'triton' } },
    endpoints: [{ port, ...(interval ? { interval } : {}) }],
    targetLabels: { fromPod: [{ from: 'pool', to: 'pool' }] },
  },
});

describe('scrapeTargetsFromPodMonitorings', () => {
  it('targets Running and Ready pods of the namespace that match the selector', async () => {
    const pods = [
      pod('triton-0'),
      pod('triton-1', { ready: false }),
      pod('triton-2', { phase: 'Pending' }),
      pod('triton-3', { namespace: 'other' }),
      pod('web-0', { app: 'web' }),
      pod('triton-4'),
    ];
    const fetched: string[] = [];
    const targets = scrapeTargetsFromPodMonitorings([podMonitoring('30s')], pods, async (p, port, path) => {
      fetched.push(`${p.metadata?.name}:${port}${path}`);
      return '';
    });
    expect(targets.map((t) => [t.namespace, t.job, t.instance, t.intervalMs, t.labels])).toEqual([
      ['triton', 'triton', 'triton-0:metrics', 30_000, { pool: 'l4' }],
      ['triton', 'triton', 'triton-4:metrics', 30_000, { pool: 'l4' }],
    ]);
    await Promise.all(targets.map((t) => t.fetch()));
    expect(fetched).toEqual(['triton-0:8002/metrics', 'triton-4:8002/metrics']);
  });

  it('defaults the interval to GMP’s 60 s and takes numeric ports as they are', () => {
    const [t] = scrapeTargetsFromPodMonitorings(
      [podMonitoring(undefined, 8002)],
      [pod('triton-0')],
      async () => '',
    );
    expect(t?.intervalMs).toBe(60_000);
    expect(t?.instance).toBe('triton-0:8002');
  });
});

describe('scraping into prometheus.googleapis.com series', () => {
  let clock: ManualClock;
  let server: MonitoringServer;
  let clients: LocalMonitoringClients;
  let exposition: Server;
  let text: Record<string, string>;
  let pods: PodLike[];

  beforeEach(async () => {
    clock = new ManualClock(T0);
    text = {};
    pods = [pod('triton-0'), pod('triton-1')];
    exposition = createServer((req, res) => {
      const body = text[req.url ?? ''];
      res.writeHead(body === undefined ? 404 : 200, { 'content-type': 'text/plain; version=0.0.4' });
      res.end(body ?? 'not found');
    });
    await new Promise<void>((r) => exposition.listen(0, '127.0.0.1', r));
    const port = (exposition.address() as AddressInfo).port;
    server = await startMonitoringServer({
      clock,
      evaluationIntervalMs: 0,
      scrapePollMs: 0,
      cluster: 'inference',
      location: 'us-central1',
      targets: () =>
        scrapeTargetsFromPodMonitorings([podMonitoring('30s')], pods, async (p, _port, path) => {
          const res = await fetch(`http://127.0.0.1:${port}/${p.metadata?.name}${path}`);
          if (!res.ok) throw new Error(`scrape answered ${res.status}`);
          return res.text();
        }),
    });
    clients = localMonitoringClients(server.url);
  });

  afterEach(async () => {
    await clients.close();
    await server.close();
    await new Promise<void>((r) => exposition.close(() => r()));
  });

  /** `scale` multiplies the histogram's and the summary's counts (0 = a fresh process). */
  const exposeFor = (podName: string, successCount: number, util: number, scale = 1) => {
    text[`/${podName}/metrics`] = [
      '# HELP nv_inference_request_success Number of successful inference requests',
      '# TYPE nv_inference_request_success counter',
      `nv_inference_request_success{model="resnet",version="1"} ${successCount}`,
      '# TYPE nv_gpu_utilization gauge',
      `nv_gpu_utilization{gpu_uuid="GPU-${podName}"} ${util}`,
      '# TYPE nv_request_latency histogram',
      `nv_request_latency_bucket{model="resnet",le="0.01"} ${2 * scale}`,
      `nv_request_latency_bucket{model="resnet",le="0.1"} ${5 * scale}`,
      `nv_request_latency_bucket{model="resnet",le="+Inf"} ${6 * scale}`,
      `nv_request_latency_sum{model="resnet"} ${1.2 * scale}`,
      `nv_request_latency_count{model="resnet"} ${6 * scale}`,
      '# TYPE rpc_duration summary',
      'rpc_duration{quantile="0.99"} 0.5',
      `rpc_duration_sum ${12 * scale}`,
      `rpc_duration_count ${40 * scale}`,
      'build_info{instance="inner",version="2.50"} 1',
      '',
    ].join('\n');
  };

  type Interval = { startTime?: ReturnType<typeof ts>; endTime: ReturnType<typeof ts> };
  const list = async (type: string, extra = '', interval: Interval = { endTime: ts(clock.nowMs()) }) => {
    const [series] = await clients.metrics.listTimeSeries(
      { name: P, filter: `metric.type = "${type}"${extra}`, interval },
      { autoPaginate: false },
    );
    return series;
  };

  it('stores counters and gauges on a prometheus_target resource with the target labels', async () => {
    exposeFor('triton-0', 100, 0.5);
    exposeFor('triton-1', 50, 0.25);
    const results = await server.scrape();
    expect(results.map((r) => [r.target, r.ok])).toEqual([
      ['triton/triton/triton-0:metrics', true],
      ['triton/triton/triton-1:metrics', true],
    ]);
    // As GMP does, a counter's first sample is its reset point: nothing is written for it yet.
    expect(await list('prometheus.googleapis.com/nv_inference_request_success/counter')).toEqual([]);
    clock.advance(30_000);
    exposeFor('triton-0', 130, 0.5);
    exposeFor('triton-1', 70, 0.25);
    await server.scrape();
    const counters = await list('prometheus.googleapis.com/nv_inference_request_success/counter');
    expect(counters).toHaveLength(2);
    const c0 = counters.find((s) => s.resource?.labels?.instance === 'triton-0:metrics');
    expect(c0?.resource).toEqual({
      type: 'prometheus_target',
      labels: {
        project_id: 'local-project',
        location: 'us-central1',
        cluster: 'inference',
        namespace: 'triton',
        job: 'triton',
        instance: 'triton-0:metrics',
      },
    });
    expect(c0?.metric?.labels).toEqual({ model: 'resnet', version: '1', pool: 'l4' });
    expect(c0?.metricKind).toBe('CUMULATIVE');
    expect(c0?.valueType).toBe('DOUBLE');
    // The increase since the reset point, which is the start time.
    expect(c0?.points?.[0]?.value?.doubleValue).toBe(30);
    expect(Number(c0?.points?.[0]?.interval?.startTime?.seconds)).toBe(T0 / 1000);

    const gauges = await list(
      'prometheus.googleapis.com/nv_gpu_utilization/gauge',
      ' AND resource.labels.instance = "triton-1:metrics"',
    );
    expect(gauges[0]?.metricKind).toBe('GAUGE');
    expect(gauges[0]?.points?.[0]?.value?.doubleValue).toBe(0.25);
    expect(gauges[0]?.metric?.labels).toEqual({ gpu_uuid: 'GPU-triton-1', pool: 'l4' });
  });

  it('reads a counter rate through ALIGN_RATE across two scrapes', async () => {
    exposeFor('triton-0', 100, 0.5);
    exposeFor('triton-1', 100, 0.5);
    await server.scrape();
    clock.advance(30_000);
    exposeFor('triton-0', 160, 0.5);
    exposeFor('triton-1', 130, 0.5);
    await server.scrape();
    const [series] = await clients.metrics.listTimeSeries(
      {
        name: P,
        filter: 'metric.type = "prometheus.googleapis.com/nv_inference_request_success/counter"',
        interval: { startTime: ts(clock.nowMs() - 60_000), endTime: ts(clock.nowMs()) },
        aggregation: {
          alignmentPeriod: { seconds: 60 },
          perSeriesAligner: 'ALIGN_RATE',
          crossSeriesReducer: 'REDUCE_SUM',
          groupByFields: ['resource.labels.namespace'],
        },
      },
      { autoPaginate: false },
    );
    // (60 + 30) requests over the 60 s window (the first scrape is the counters' reset point).
    expect(series[0]?.points?.[0]?.value?.doubleValue).toBe(1.5);
    expect(series[0]?.resource?.labels).toEqual({ namespace: 'triton' });
  });

  it('stores a histogram as a DISTRIBUTION, a summary as its GMP series, untyped as unknown', async () => {
    pods = [pod('triton-0')];
    exposeFor('triton-0', 1, 0.5, 0);
    await server.scrape();
    clock.advance(30_000);
    exposeFor('triton-0', 1, 0.5, 1);
    await server.scrape();
    const [h] = await list('prometheus.googleapis.com/nv_request_latency/histogram');
    expect(h?.metricKind).toBe('CUMULATIVE');
    expect(h?.valueType).toBe('DISTRIBUTION');
    expect(h?.metric?.labels).toEqual({ model: 'resnet', pool: 'l4' });
    const d = h?.points?.[0]?.value?.distributionValue;
    expect(d?.count).toBe('6');
    expect(d?.mean).toBeCloseTo(0.2);
    expect(d?.bucketOptions?.explicitBuckets?.bounds).toEqual([0.01, 0.1]);
    expect(d?.bucketCounts).toEqual(['2', '3', '1']);

    const [q] = await list('prometheus.googleapis.com/rpc_duration/summary');
    expect([q?.metricKind, q?.metric?.labels?.quantile, q?.points?.[0]?.value?.doubleValue]).toEqual([
      'GAUGE',
      '0.99',
      0.5,
    ]);
    const [sum] = await list('prometheus.googleapis.com/rpc_duration_sum/summary');
    expect([sum?.metricKind, sum?.points?.[0]?.value?.doubleValue]).toEqual(['CUMULATIVE', 12]);
    const [count] = await list('prometheus.googleapis.com/rpc_duration_count/summary');
    expect([count?.metricKind, count?.points?.[0]?.value?.doubleValue]).toEqual(['CUMULATIVE', 40]);

    const [unknown] = await list('prometheus.googleapis.com/build_info/unknown');
    expect(unknown?.metricKind).toBe('GAUGE');
    // A sample label that clashes with a resource label is kept as exported_<name>.
    expect(unknown?.metric?.labels).toEqual({ exported_instance: 'inner', version: '2.50', pool: 'l4' });
    expect(unknown?.resource?.labels?.instance).toBe('triton-0:metrics');
    const [unknownCounter] = await list('prometheus.googleapis.com/build_info/unknown:counter');
    expect(unknownCounter?.metricKind).toBe('CUMULATIVE');
  });

  it('scrapes each target on its PodMonitoring interval', async () => {
    exposeFor('triton-0', 1, 0.5);
    exposeFor('triton-1', 1, 0.5);
    expect(await server.scrapeDue()).toHaveLength(2);
    clock.advance(10_000);
    expect(await server.scrapeDue()).toHaveLength(0);
    clock.advance(20_000);
    expect(await server.scrapeDue()).toHaveLength(2);
    const series = await list(
      'prometheus.googleapis.com/nv_gpu_utilization/gauge',
      ' AND resource.labels.instance = "triton-0:metrics"',
      { startTime: ts(T0 - 1000), endTime: ts(clock.nowMs()) },
    );
    expect(series[0]?.points).toHaveLength(2);
  });

  it('reports a failing target and keeps scraping the others', async () => {
    exposeFor('triton-0', 1, 0.5);
    text['/triton-1/metrics'] = 'broken{ 1';
    const results = await server.scrape();
    expect(results.find((r) => r.target.endsWith('triton-0:metrics'))?.ok).toBe(true);
    const failed = results.find((r) => r.target.endsWith('triton-1:metrics'));
    expect(failed?.ok).toBe(false);
    expect(failed?.error).toContain('line 1');
  });

  it('a global interval override replaces the PodMonitoring intervals', async () => {
    const fast = await startMonitoringServer({
      clock,
      evaluationIntervalMs: 0,
      scrapePollMs: 0,
      scrapeIntervalMs: 5_000,
      targets: () => [
        { namespace: 'n', job: 'j', instance: 'i:1', intervalMs: 60_000, fetch: async () => 'm 1\n' },
      ],
    });
    try {
      expect(await fast.scrapeDue()).toHaveLength(1);
      clock.advance(5_000);
      expect(await fast.scrapeDue()).toHaveLength(1);
    } finally {
      await fast.close();
    }
  });
});

describe('timers (real clock)', () => {
  /** Bounded polling for a condition; never asserts on elapsed time. */
  async function eventually<T>(probe: () => T | undefined, what: string): Promise<T> {
    for (let i = 0; i < 400; i++) {
      const v = probe();
      if (v !== undefined) return v;
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error(`gave up waiting for ${what}`);
  }

  it('scrapes on the poll timer and evaluates policies on the evaluation timer', async () => {
    const published: string[] = [];
    let gauge = 1;
    const server = await startMonitoringServer({
      scrapePollMs: 20,
      scrapeIntervalMs: 50,
      evaluationIntervalMs: 20,
      targets: () => [
        {
          namespace: 'n',
          job: 'j',
          instance: 'i:1',
          fetch: async () => `# TYPE busy gauge\nbusy ${gauge}\n`,
        },
      ],
      publish: async (_topic, data) => {
        published.push(JSON.parse(data.toString()).incident.state);
      },
    });
    try {
      const type = 'prometheus.googleapis.com/busy/gauge';
      await eventually(
        () => (server.query({ filter: `metric.type = "${type}"` })[0]?.points.length ?? 0) >= 2 || undefined,
        'two scrapes',
      );
      const ch = server.alerts.createChannel('local-project', {
        type: 'pubsub',
        labels: { topic: 'projects/local-project/topics/t' },
      });
      server.alerts.createPolicy('local-project', {
        displayName: 'busy',
        conditions: [
          {
            displayName: 'busy > 5',
            conditionPrometheusQueryLanguage: { query: 'busy > 5', evaluationInterval: '1s' },
          },
        ],
        notificationChannels: [ch.name],
      });
      gauge = 10;
      expect(await eventually(() => published[0], 'the incident to open')).toBe('open');
    } finally {
      await server.close();
    }
  });
});
