/**
 * Contract tests for the local Cloud Monitoring MetricService, driven through the official
 * `@google-cloud/monitoring` MetricServiceClient in REST fallback mode (enums travel as integers
 * and come back as names; INT64 values as strings). Time is a ManualClock.
 */
import type { protos } from '@google-cloud/monitoring';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type LocalMonitoringClients, localMonitoringClients } from '../../infra/local/monitoring/client';
import { type MonitoringServer, startMonitoringServer } from '../../infra/local/monitoring/index';
import { ManualClock } from '../../shared/runtime/clock';

type ITimeSeries = protos.google.monitoring.v3.ITimeSeries;

const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);
const P = 'projects/local-project';
const ts = (ms: number) => ({ seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1e6 });
const sec = (t: { seconds?: unknown } | null | undefined) => Number(t?.seconds ?? 0);

interface ApiError {
  code?: unknown;
  message?: unknown;
}

async function failure(call: Promise<unknown>): Promise<ApiError> {
  try {
    await call;
  } catch (err) {
    return err as ApiError;
  }
  throw new Error('expected the call to fail');
}

function gauge(
  type: string,
  labels: Record<string, string>,
  value: number,
  endMs: number,
  pod = 'triton-0',
): ITimeSeries {
  return {
    metric: { type, labels },
    resource: {
      type: 'k8s_container',
      labels: {
        project_id: 'local-project',
        location: 'us-central1',
        cluster_name: 'inference',
        namespace_name: 'triton',
        pod_name: pod,
        container_name: 'triton',
      },
    },
    metricKind: 'GAUGE',
    valueType: 'DOUBLE',
    points: [{ interval: { endTime: ts(endMs) }, value: { doubleValue: value } }],
  };
}

function counter(
  type: string,
  labels: Record<string, string>,
  value: number,
  startMs: number,
  endMs: number,
  pod: string,
): ITimeSeries {
  return {
    metric: { type, labels },
    resource: {
      type: 'k8s_pod',
      labels: {
        project_id: 'local-project',
        location: 'us-central1',
        cluster_name: 'inference',
        namespace_name: 'triton',
        pod_name: pod,
      },
    },
    metricKind: 'CUMULATIVE',
    valueType: 'INT64',
    points: [{ interval: { startTime: ts(startMs), endTime: ts(endMs) }, value: { int64Value: value } }],
  };
}

describe('local Cloud Monitoring MetricService through the official client', () => {
  let clock: ManualClock;
  let server: MonitoringServer;
  let clients: LocalMonitoringClients;

  beforeEach(async () => {
    clock = new ManualClock(T0);
    server = await startMonitoringServer({ clock, evaluationIntervalMs: 0, scrapePollMs: 0 });
    clients = localMonitoringClients(server.url);
  });

  afterEach(async () => {
    await clients.close();
    await server.close();
  });

  const list = async (req: protos.google.monitoring.v3.IListTimeSeriesRequest) => {
    const [series] = await clients.metrics.listTimeSeries({ name: P, ...req }, { autoPaginate: false });
    return series;
  };

  it('writes gauge points and lists them newest first inside the interval', async () => {
    const type = 'custom.googleapis.com/inferplane/queue_depth';
    for (let i = 0; i < 5; i++) {
      clock.advance(10_000);
      await clients.metrics.createTimeSeries({
        name: P,
        timeSeries: [gauge(type, { model: 'resnet' }, i, clock.nowMs())],
      });
    }
    // (T0+10s, T0+40s]: the points written at +20s, +30s and +40s.
    const series = await list({
      filter: `metric.type = "${type}"`,
      interval: { startTime: ts(T0 + 10_000), endTime: ts(T0 + 40_000) },
    });
    expect(series).toHaveLength(1);
    const [s] = series;
    expect(s?.metric).toEqual({ type, labels: { model: 'resnet' } });
    expect(s?.resource?.type).toBe('k8s_container');
    expect(s?.metricKind).toBe('GAUGE');
    expect(s?.valueType).toBe('DOUBLE');
    expect(s?.points?.map((p) => p.value?.doubleValue)).toEqual([3, 2, 1]);
    expect(s?.points?.map((p) => sec(p.interval?.endTime))).toEqual([
      T0 / 1000 + 40,
      T0 / 1000 + 30,
      T0 / 1000 + 20,
    ]);
  });

  it('answers 400 INVALID_ARGUMENT when the interval is missing, as the real API does', async () => {
    const err = await failure(list({ filter: 'metric.type = "custom.googleapis.com/x"' }));
    expect(err.code).toBe(3);
    expect(String(err.message)).toContain('Request was missing field interval.endTime.');
  });

  it('refuses a filter without a metric type and an unparsable filter', async () => {
    const interval = { startTime: ts(T0 - 60_000), endTime: ts(T0) };
    const noType = await failure(list({ filter: 'resource.type = "k8s_container"', interval }));
    expect(noType.code).toBe(3);
    expect(String(noType.message)).toContain('Field filter had an invalid value');
    const bad = await failure(list({ filter: 'metric.type = (', interval }));
    expect(bad.code).toBe(3);
  });

  describe('filters', () => {
    const type = 'custom.googleapis.com/inferplane/latency';
    const models = ['resnet50', 'resnet101', 'bert-base', 'llama'];

    beforeEach(async () => {
      await clients.metrics.createTimeSeries({
        name: P,
        timeSeries: models.map((m, i) =>
          gauge(type, { model: m, tier: i % 2 === 0 ? 'gold' : 'bronze' }, i, T0, `triton-${i}`),
        ),
      });
      // Another metric that no filter below should return.
      await clients.metrics.createTimeSeries({
        name: P,
        timeSeries: [gauge(`${type}_other`, { model: 'resnet50' }, 9, T0)],
      });
    });

    const cases: [string, string, string[]][] = [
      ['equality on a metric label', `metric.labels.model = "llama"`, ['llama']],
      ['metric.label alias', `metric.label.model = "llama"`, ['llama']],
      ['inequality', `metric.labels.model != "llama"`, ['bert-base', 'resnet101', 'resnet50']],
      ['starts_with', `metric.labels.model = starts_with("resnet")`, ['resnet101', 'resnet50']],
      ['ends_with on a resource label', `resource.labels.pod_name = ends_with("-3")`, ['llama']],
      ['has_substring', `metric.labels.model = has_substring("net1")`, ['resnet101']],
      ['has (:) operator', `metric.labels.model : "ber"`, ['bert-base']],
      ['one_of', `metric.labels.model = one_of("llama", "bert-base")`, ['bert-base', 'llama']],
      [
        'regex full match',
        `metric.labels.model = monitoring.regex.full_match("resnet[0-9]+")`,
        ['resnet101', 'resnet50'],
      ],
      ['regex must match fully', `metric.labels.model = monitoring.regex.full_match("resnet")`, []],
      ['NOT', `NOT metric.labels.tier = "gold"`, ['llama', 'resnet101']],
      [
        'OR with parentheses',
        `(metric.labels.model = "llama" OR metric.labels.model = "bert-base") AND metric.labels.tier = "gold"`,
        ['bert-base'],
      ],
      [
        'resource type',
        `resource.type = "k8s_container" AND resource.labels.namespace_name = "triton"`,
        models.slice().sort(),
      ],
      [
        'implicit AND',
        `metric.labels.tier = "bronze" metric.labels.model = starts_with("res")`,
        ['resnet101'],
      ],
    ];
    it.each(cases)('%s', async (_name, clause, expected) => {
      const series = await list({
        filter: `metric.type = "${type}" AND ${clause}`,
        interval: { startTime: ts(T0 - 60_000), endTime: ts(T0) },
      });
      expect(series.map((s) => s.metric?.labels?.model).sort()).toEqual(expected);
    });
  });

  describe('aggregation', () => {
    const type = 'custom.googleapis.com/inferplane/requests';
    // Two pods serving resnet (10/s and 20/s) and one serving bert (5/s), a point every 15 s.
    const rates: [string, string, number][] = [
      ['pod-a', 'resnet', 10],
      ['pod-b', 'resnet', 20],
      ['pod-c', 'bert', 5],
    ];

    beforeEach(async () => {
      for (let i = 1; i <= 8; i++) {
        clock.set(T0 + i * 15_000);
        await clients.metrics.createTimeSeries({
          name: P,
          timeSeries: rates.map(([pod, model, r]) =>
            counter(type, { model }, r * i * 15, T0, clock.nowMs(), pod),
          ),
        });
      }
    });

    const window = () => ({ startTime: ts(T0 + 60_000), endTime: ts(T0 + 120_000) });

    it('ALIGN_RATE turns each counter into its per-second rate', async () => {
      const series = await list({
        filter: `metric.type = "${type}"`,
        interval: window(),
        aggregation: { alignmentPeriod: { seconds: 60 }, perSeriesAligner: 'ALIGN_RATE' },
      });
      const byPod = new Map(series.map((s) => [s.resource?.labels?.pod_name ?? '', s]));
      expect(byPod.get('pod-a')?.metricKind).toBe('GAUGE');
      expect(byPod.get('pod-a')?.valueType).toBe('DOUBLE');
      expect(byPod.get('pod-a')?.points?.map((p) => p.value?.doubleValue)).toEqual([10]);
      expect(byPod.get('pod-b')?.points?.[0]?.value?.doubleValue).toBe(20);
      expect(byPod.get('pod-c')?.points?.[0]?.value?.doubleValue).toBe(5);
    });

    it('REDUCE_SUM grouped by a metric label sums the rates per model', async () => {
      const series = await list({
        filter: `metric.type = "${type}"`,
        interval: window(),
        aggregation: {
          alignmentPeriod: { seconds: 60 },
          perSeriesAligner: 'ALIGN_RATE',
          crossSeriesReducer: 'REDUCE_SUM',
          groupByFields: ['metric.labels.model'],
        },
      });
      const byModel = Object.fromEntries(
        series.map((s) => [s.metric?.labels?.model, s.points?.[0]?.value?.doubleValue]),
      );
      expect(byModel).toEqual({ resnet: 30, bert: 5 });
      // Only the group-by labels survive a reduction.
      expect(series[0]?.resource?.labels).toEqual({});
    });

    const reducers: [string, Record<string, number>][] = [
      ['REDUCE_MEAN', { resnet: 15, bert: 5 }],
      ['REDUCE_MAX', { resnet: 20, bert: 5 }],
      ['REDUCE_MIN', { resnet: 10, bert: 5 }],
      ['REDUCE_COUNT', { resnet: 2, bert: 1 }],
    ];
    it.each(reducers)('%s across pods', async (reducer, expected) => {
      const series = await list({
        filter: `metric.type = "${type}"`,
        interval: window(),
        aggregation: {
          alignmentPeriod: { seconds: 60 },
          perSeriesAligner: 'ALIGN_RATE',
          crossSeriesReducer: reducer as 'REDUCE_SUM',
          groupByFields: ['metric.label.model'],
        },
      });
      const byModel = Object.fromEntries(
        series.map((s) => [
          s.metric?.labels?.model,
          Number(s.points?.[0]?.value?.doubleValue ?? s.points?.[0]?.value?.int64Value),
        ]),
      );
      expect(byModel).toEqual(expected);
    });

    it('ALIGN_DELTA gives the increase per window as a DELTA series, two windows newest first', async () => {
      const series = await list({
        filter: `metric.type = "${type}" AND resource.labels.pod_name = "pod-a"`,
        interval: { startTime: ts(T0), endTime: ts(T0 + 120_000) },
        aggregation: { alignmentPeriod: { seconds: 60 }, perSeriesAligner: 'ALIGN_DELTA' },
      });
      expect(series[0]?.metricKind).toBe('DELTA');
      expect(series[0]?.valueType).toBe('INT64');
      expect(series[0]?.points?.map((p) => p.value?.int64Value)).toEqual(['600', '600']);
      expect(sec(series[0]?.points?.[0]?.interval?.startTime)).toBe(T0 / 1000 + 60);
    });

    it('accepts aligner and reducer names on the wire as well as numbers', async () => {
      const q = new URLSearchParams({
        filter: `metric.type = "${type}"`,
        'interval.startTime': new Date(T0 + 60_000).toISOString(),
        'interval.endTime': new Date(T0 + 120_000).toISOString(),
        'aggregation.alignmentPeriod': '60s',
        'aggregation.perSeriesAligner': 'ALIGN_RATE',
        'aggregation.crossSeriesReducer': 'REDUCE_SUM',
        view: 'FULL',
        $prettyPrint: '0',
      });
      const res = await fetch(`${server.url}/v3/${P}/timeSeries?${q}`);
      expect(res.status).toBe(200);
      const body = (await res.json()) as { timeSeries: { points: { value: { doubleValue: number } }[] }[] };
      expect(body.timeSeries[0]?.points[0]?.value.doubleValue).toBe(35);
    });

    it('refuses an aligner that does not fit the metric kind, with the API wording', async () => {
      await clients.metrics.createTimeSeries({
        name: P,
        timeSeries: [gauge('custom.googleapis.com/g', {}, 1, clock.nowMs())],
      });
      const err = await failure(
        list({
          filter: 'metric.type = "custom.googleapis.com/g"',
          interval: window(),
          aggregation: { alignmentPeriod: { seconds: 60 }, perSeriesAligner: 'ALIGN_RATE' },
        }),
      );
      expect(err.code).toBe(3);
      expect(String(err.message)).toContain(
        'The aligner cannot be applied to metrics with kind GAUGE and value type DOUBLE.',
      );
    });

    it('requires an alignment period with an aligner and an aligner with a reducer', async () => {
      const noPeriod = await failure(
        list({
          filter: `metric.type = "${type}"`,
          interval: window(),
          aggregation: { perSeriesAligner: 'ALIGN_RATE' },
        }),
      );
      expect(noPeriod.code).toBe(3);
      expect(String(noPeriod.message)).toContain('aggregation.alignmentPeriod');
      const noAligner = await failure(
        list({
          filter: `metric.type = "${type}"`,
          interval: window(),
          aggregation: { crossSeriesReducer: 'REDUCE_SUM' },
        }),
      );
      expect(noAligner.code).toBe(3);
      expect(String(noAligner.message)).toContain('aggregation.perSeriesAligner');
    });

    it('view HEADERS returns the series without points', async () => {
      const series = await list({ filter: `metric.type = "${type}"`, interval: window(), view: 'HEADERS' });
      expect(series).toHaveLength(3);
      expect(series.every((s) => (s.points ?? []).length === 0)).toBe(true);
    });

    it('pages with pageSize and pageToken, and the client follows the pages', async () => {
      const [first, , response] = await clients.metrics.listTimeSeries(
        { name: P, filter: `metric.type = "${type}"`, interval: window(), view: 'HEADERS', pageSize: 2 },
        { autoPaginate: false },
      );
      expect(first).toHaveLength(2);
      expect(response?.nextPageToken).toBeTruthy();
      const [second] = await clients.metrics.listTimeSeries(
        {
          name: P,
          filter: `metric.type = "${type}"`,
          interval: window(),
          view: 'HEADERS',
          pageSize: 2,
          pageToken: response?.nextPageToken ?? '',
        },
        { autoPaginate: false },
      );
      expect(second).toHaveLength(1);
      const [all] = await clients.metrics.listTimeSeries({
        name: P,
        filter: `metric.type = "${type}"`,
        interval: window(),
        view: 'HEADERS',
        pageSize: 1,
      });
      expect(all.map((s) => s.resource?.labels?.pod_name).sort()).toEqual(['pod-a', 'pod-b', 'pod-c']);
    });
  });

  describe('timeSeries.create rules', () => {
    const type = 'custom.googleapis.com/inferplane/rules';

    const violations: [string, () => ITimeSeries[], string][] = [
      [
        'more than 200 series',
        () => Array.from({ length: 201 }, (_, i) => gauge(type, { i: String(i) }, 1, T0)),
        'A maximum of 200 TimeSeries can be written in a single request',
      ],
      [
        'two points in one series',
        () => {
          const s = gauge(type, {}, 1, T0);
          s.points?.push({ interval: { endTime: ts(T0 - 1000) }, value: { doubleValue: 2 } });
          return [s];
        },
        'Only one point can be written per TimeSeries per request.',
      ],
      [
        'the same series twice',
        () => [gauge(type, {}, 1, T0), gauge(type, {}, 2, T0)],
        'Duplicate TimeSeries encountered. Only one point can be written per TimeSeries per request.',
      ],
      [
        'a GAUGE point with a start time',
        () => {
          const s = gauge(type, {}, 1, T0);
          const p = s.points?.[0];
          if (p?.interval) p.interval.startTime = ts(T0 - 5000);
          return [s];
        },
        `The start time must be equal to the end time (${new Date(T0).toISOString()}) for the gauge metric '${type}'.`,
      ],
      [
        'a CUMULATIVE point without a start time',
        () => {
          const s = counter(`${type}_total`, {}, 1, T0, T0, 'p');
          const p = s.points?.[0];
          if (p?.interval) p.interval.startTime = null;
          return [s];
        },
        'The start time must be before the end time',
      ],
      [
        'a point older than 25 hours',
        () => [gauge(type, {}, 1, T0 - 26 * 3600_000)],
        'Data points cannot be written more than 25h in the past.',
      ],
      [
        'a metric type that cannot be written',
        () => [gauge('compute.googleapis.com/instance/cpu/utilization', {}, 1, T0)],
        'Metrics of this type cannot be written.',
      ],
    ];
    it.each(violations)('refuses %s with a clear 400', async (_name, build, wording) => {
      const err = await failure(clients.metrics.createTimeSeries({ name: P, timeSeries: build() }));
      expect(err.code).toBe(3);
      expect(String(err.message)).toContain(wording);
    });

    it('refuses a point that is not newer than the series last point', async () => {
      await clients.metrics.createTimeSeries({ name: P, timeSeries: [gauge(type, {}, 1, T0)] });
      const err = await failure(
        clients.metrics.createTimeSeries({ name: P, timeSeries: [gauge(type, {}, 2, T0)] }),
      );
      expect(err.code).toBe(3);
      expect(String(err.message)).toContain(
        'One or more TimeSeries could not be written: Points must be written in order. One or more of the points specified had an older end time than the most recent point.: timeSeries[0]',
      );
      clock.advance(1000);
      await clients.metrics.createTimeSeries({ name: P, timeSeries: [gauge(type, {}, 2, clock.nowMs())] });
    });

    it('refuses a metric kind or value type other than the descriptor', async () => {
      await clients.metrics.createTimeSeries({ name: P, timeSeries: [gauge(type, {}, 1, T0)] });
      clock.advance(1000);
      const kind = await failure(
        clients.metrics.createTimeSeries({
          name: P,
          timeSeries: [counter(type, {}, 1, T0, clock.nowMs(), 'triton-0')],
        }),
      );
      expect(kind.code).toBe(3);
      expect(String(kind.message)).toContain(
        `Metric kind for metric ${type} must be GAUGE, but is CUMULATIVE.`,
      );
      const wrongValue = gauge(type, {}, 1, clock.nowMs());
      wrongValue.valueType = 'INT64';
      wrongValue.points = [{ interval: { endTime: ts(clock.nowMs()) }, value: { int64Value: 3 } }];
      const vt = await failure(clients.metrics.createTimeSeries({ name: P, timeSeries: [wrongValue] }));
      expect(vt.code).toBe(3);
      expect(String(vt.message)).toContain(`Value type for metric ${type} must be DOUBLE, but is INT64.`);
    });

    it('writes the valid series of a request that has an invalid one', async () => {
      const bad = gauge(type, { n: 'bad' }, 1, T0);
      bad.points = [];
      const err = await failure(
        clients.metrics.createTimeSeries({ name: P, timeSeries: [gauge(type, { n: 'good' }, 1, T0), bad] }),
      );
      expect(String(err.message)).toContain('timeSeries[1]');
      const series = await list({ filter: `metric.type = "${type}"`, interval: { endTime: ts(T0) } });
      expect(series.map((s) => s.metric?.labels?.n)).toEqual(['good']);
    });

    it('accepts a valid write and auto-creates the descriptor of a custom and a workload metric', async () => {
      await clients.metrics.createTimeSeries({
        name: P,
        timeSeries: [
          gauge(type, { model: 'a' }, 1, T0),
          counter('workload.googleapis.com/inferplane/loads', { model: 'a' }, 4, T0 - 1000, T0, 'p'),
        ],
      });
      const [d] = await clients.metrics.getMetricDescriptor({ name: `${P}/metricDescriptors/${type}` });
      expect(d).toMatchObject({
        name: `${P}/metricDescriptors/${type}`,
        type,
        metricKind: 'GAUGE',
        valueType: 'DOUBLE',
        description: 'Auto-created custom metric.',
      });
      expect(d.labels?.map((l) => l.key)).toEqual(['model']);
      const [w] = await clients.metrics.getMetricDescriptor({
        name: `${P}/metricDescriptors/workload.googleapis.com/inferplane/loads`,
      });
      expect(w).toMatchObject({ metricKind: 'CUMULATIVE', valueType: 'INT64' });
      const [series] = await clients.metrics.listTimeSeries({
        name: P,
        filter: 'metric.type = "workload.googleapis.com/inferplane/loads"',
        interval: { endTime: ts(T0) },
      });
      expect(series[0]?.points?.[0]?.value?.int64Value).toBe('4');
      expect(sec(series[0]?.points?.[0]?.interval?.startTime)).toBe(T0 / 1000 - 1);
    });

    it('stores BOOL and DISTRIBUTION values', async () => {
      await clients.metrics.createTimeSeries({
        name: P,
        timeSeries: [
          {
            ...gauge(`${type}/up`, {}, 0, T0),
            valueType: 'BOOL',
            points: [{ interval: { endTime: ts(T0) }, value: { boolValue: true } }],
          },
          {
            ...gauge(`${type}/latency`, {}, 0, T0),
            valueType: 'DISTRIBUTION',
            points: [
              { interval: { endTime: ts(T0) }, value: { distributionValue: { count: 4, mean: 2.5 } } },
            ],
          },
        ],
      });
      const [up] = await list({ filter: `metric.type = "${type}/up"`, interval: { endTime: ts(T0) } });
      expect(up?.points?.[0]?.value?.boolValue).toBe(true);
      const [lat] = await list({ filter: `metric.type = "${type}/latency"`, interval: { endTime: ts(T0) } });
      expect(lat?.valueType).toBe('DISTRIBUTION');
      expect(lat?.points?.[0]?.value?.distributionValue).toMatchObject({ count: '4', mean: 2.5 });
    });
  });

  describe('metric descriptors', () => {
    const type = 'custom.googleapis.com/inferplane/gpu/duty';

    it('creates, gets (type with slashes), lists with a filter and deletes', async () => {
      const [created] = await clients.metrics.createMetricDescriptor({
        name: P,
        metricDescriptor: {
          type,
          metricKind: 'GAUGE',
          valueType: 'DOUBLE',
          unit: '1',
          description: 'GPU duty cycle',
          displayName: 'GPU duty',
          labels: [{ key: 'pool', valueType: 'STRING', description: 'node pool' }],
        },
      });
      expect(created.name).toBe(`${P}/metricDescriptors/${type}`);
      await clients.metrics.createMetricDescriptor({
        name: P,
        metricDescriptor: {
          type: 'workload.googleapis.com/other',
          metricKind: 'CUMULATIVE',
          valueType: 'INT64',
        },
      });
      const [got] = await clients.metrics.getMetricDescriptor({ name: `${P}/metricDescriptors/${type}` });
      expect(got).toMatchObject({
        type,
        metricKind: 'GAUGE',
        valueType: 'DOUBLE',
        unit: '1',
        displayName: 'GPU duty',
      });
      expect(got.labels).toEqual([expect.objectContaining({ key: 'pool', description: 'node pool' })]);

      const [listed] = await clients.metrics.listMetricDescriptors({
        name: P,
        filter: 'metric.type = starts_with("custom.googleapis.com/inferplane/")',
      });
      expect(listed.map((d) => d.type)).toEqual([type]);

      // A descriptor's labels are the only labels its series may carry.
      const err = await failure(
        clients.metrics.createTimeSeries({
          name: P,
          timeSeries: [gauge(type, { pool: 'l4', other: 'x' }, 1, T0)],
        }),
      );
      expect(String(err.message)).toContain('Unrecognized metric label.');

      await clients.metrics.deleteMetricDescriptor({ name: `${P}/metricDescriptors/${type}` });
      const gone = await failure(
        clients.metrics.getMetricDescriptor({ name: `${P}/metricDescriptors/${type}` }),
      );
      expect(gone.code).toBe(5);
      expect(String(gone.message)).toContain(`Could not find descriptor for metric '${type}'.`);
    });

    it('refuses a descriptor without a metric kind', async () => {
      const err = await failure(
        clients.metrics.createMetricDescriptor({ name: P, metricDescriptor: { type, valueType: 'DOUBLE' } }),
      );
      expect(err.code).toBe(3);
      expect(String(err.message)).toContain('metricDescriptor.metricKind');
    });
  });

  describe('in-process helpers', () => {
    it('writePoint, query and latestValue read what the API serves', async () => {
      const type = 'custom.googleapis.com/inferplane/pending';
      for (const [i, v] of [3, 5, 8].entries()) {
        clock.set(T0 + i * 20_000);
        server.writePoint({
          metricType: type,
          metricLabels: { model: 'a' },
          resourceType: 'k8s_pod',
          resourceLabels: { pod_name: 'p1' },
          value: v,
        });
        server.writePoint({
          metricType: type,
          metricLabels: { model: 'b' },
          resourceType: 'k8s_pod',
          resourceLabels: { pod_name: 'p2' },
          value: v * 10,
        });
      }
      expect(server.latestValue({ metricType: type, metricLabels: { model: 'a' } })).toBe(8);
      expect(server.latestValue({ metricType: type })).toBe(88);
      expect(server.latestValue({ metricType: type, reducer: 'REDUCE_MAX' })).toBe(80);
      expect(server.latestValue({ metricType: type, metricLabels: { model: 'zzz' } })).toBeUndefined();
      const series = server.query({ filter: `metric.type = "${type}" AND metric.labels.model = "a"` });
      expect(series[0]?.points.map((p) => p.value)).toEqual([
        { doubleValue: 8 },
        { doubleValue: 5 },
        { doubleValue: 3 },
      ]);
      const [viaApi] = await list({
        filter: `metric.type = "${type}" AND metric.labels.model = "b"`,
        interval: { startTime: ts(T0 - 1), endTime: ts(clock.nowMs()) },
      });
      expect(viaApi?.points?.map((p) => p.value?.doubleValue)).toEqual([80, 50, 30]);
    });
  });
});
