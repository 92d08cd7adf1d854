/**
 * Alignment and cross-series reduction as `timeSeries.list` and alert conditions apply them.
 * Windows end at the interval's end time and step back by the alignment period: a point at
 * `t` covers `(t - period, t]`, for every `t > startTime`.
 */
import { invalidField } from './errors';
import type { Series } from './store';
import {
  type Aligner,
  type Distribution,
  type MetricKind,
  numericValue,
  type Point,
  type Reducer,
  type TypedValue,
  typedValue,
  type ValueType,
} from './types';

export interface Aggregation {
  alignmentPeriodMs?: number;
  perSeriesAligner?: Aligner;
  crossSeriesReducer?: Reducer;
  groupByFields?: string[];
}

/** A series as returned: its points are newest first. */
export interface ResultSeries {
  metric: Series['metric'];
  resource: Series['resource'];
  metricKind: MetricKind;
  valueType: ValueType;
  userLabels: Record<string, string>;
  points: Point[];
}

const NUMERIC: ValueType[] = ['INT64', 'DOUBLE', 'MONEY'];

const SUPPORTED_ALIGNERS: Aligner[] = [
  'ALIGN_NONE',
  'ALIGN_DELTA',
  'ALIGN_RATE',
  'ALIGN_NEXT_OLDER',
  'ALIGN_MIN',
  'ALIGN_MAX',
  'ALIGN_MEAN',
  'ALIGN_COUNT',
  'ALIGN_SUM',
];
const SUPPORTED_REDUCERS: Reducer[] = [
  'REDUCE_NONE',
  'REDUCE_SUM',
  'REDUCE_MEAN',
  'REDUCE_MIN',
  'REDUCE_MAX',
  'REDUCE_COUNT',
];

/** Which (kind, value type) each aligner accepts, per the Aggregation.Aligner documentation. */
function alignerAccepts(aligner: Aligner, kind: MetricKind, vt: ValueType): boolean {
  const numeric = NUMERIC.includes(vt);
  switch (aligner) {
    case 'ALIGN_NONE':
      return true;
    case 'ALIGN_DELTA':
      return (kind === 'DELTA' || kind === 'CUMULATIVE') && (numeric || vt === 'DISTRIBUTION');
    case 'ALIGN_RATE':
      return (kind === 'DELTA' || kind === 'CUMULATIVE') && numeric;
    case 'ALIGN_NEXT_OLDER':
      return vt !== 'STRING';
    case 'ALIGN_MIN':
    case 'ALIGN_MAX':
      return kind === 'GAUGE' && numeric;
    case 'ALIGN_MEAN':
      return (kind === 'GAUGE' || kind === 'DELTA') && numeric;
    case 'ALIGN_COUNT':
      return (kind === 'GAUGE' || kind === 'DELTA') && (numeric || vt === 'BOOL');
    case 'ALIGN_SUM':
      return (kind === 'GAUGE' || kind === 'DELTA') && numeric;
    default:
      return false;
  }
}

/** Checks an aggregation before it is applied (400s with the API's wording). */
export function validateAggregation(agg: Aggregation, field = 'aggregation'): void {
  const aligner = agg.perSeriesAligner ?? 'ALIGN_NONE';
  const reducer = agg.crossSeriesReducer ?? 'REDUCE_NONE';
  if (!SUPPORTED_ALIGNERS.includes(aligner)) {
    throw invalidField(
      `${field}.perSeriesAligner`,
      'This aligner is not supported by the local server.',
      aligner,
    );
  }
  if (!SUPPORTED_REDUCERS.includes(reducer)) {
    throw invalidField(
      `${field}.crossSeriesReducer`,
      'This reducer is not supported by the local server.',
      reducer,
    );
  }
  if (aligner !== 'ALIGN_NONE') {
    if (agg.alignmentPeriodMs === undefined) {
      throw invalidField(
        `${field}.alignmentPeriod`,
        'The alignment period must be specified when a per-series aligner is specified.',
      );
    }
    if (agg.alignmentPeriodMs < 60_000) {
      throw invalidField(
        `${field}.alignmentPeriod`,
        'The alignment period must be at least 60 seconds.',
        `${agg.alignmentPeriodMs / 1000}s`,
      );
    }
  }
  if (reducer !== 'REDUCE_NONE' && aligner === 'ALIGN_NONE') {
    throw invalidField(
      `${field}.perSeriesAligner`,
      'A per-series aligner must be specified when a cross-series reducer is specified.',
      'ALIGN_NONE',
    );
  }
}

/**
 * Applies one aggregation to the selected series over `(startMs, endMs]`. Raw series (no
 * aligner) keep the points inside the interval. Series without a point in range are left out.
 * `minPeriodMs` lets in-process callers align on windows shorter than the API's 60 s.
 */
export function aggregate(
  series: Series[],
  agg: Aggregation,
  startMs: number,
  endMs: number,
  field = 'aggregation',
): ResultSeries[] {
  const aligner = agg.perSeriesAligner ?? 'ALIGN_NONE';
  const reducer = agg.crossSeriesReducer ?? 'REDUCE_NONE';
  const aligned: ResultSeries[] = [];
  for (const s of series) {
    if (aligner === 'ALIGN_NONE') {
      const points = s.points.filter((p) => inRange(p.endMs, startMs, endMs)).reverse();
      if (points.length > 0) aligned.push({ ...s, points });
      continue;
    }
    if (!alignerAccepts(aligner, s.metricKind, s.valueType)) {
      throw invalidField(
        `${field}.perSeriesAligner`,
        `The aligner cannot be applied to metrics with kind ${s.metricKind} and value type ${s.valueType}.`,
        aligner,
      );
    }
    const a = alignSeries(s, aligner, agg.alignmentPeriodMs ?? 60_000, startMs, endMs);
    if (a.points.length > 0) aligned.push(a);
  }
  if (reducer === 'REDUCE_NONE') return aligned;
  return reduce(aligned, reducer, agg.groupByFields ?? [], field);
}

function inRange(t: number, startMs: number, endMs: number): boolean {
  return startMs === endMs ? t === endMs : t > startMs && t <= endMs;
}

function alignedKind(aligner: Aligner, s: Series): { kind: MetricKind; vt: ValueType } {
  switch (aligner) {
    case 'ALIGN_RATE':
    case 'ALIGN_MEAN':
      return { kind: 'GAUGE', vt: 'DOUBLE' };
    case 'ALIGN_COUNT':
      return { kind: 'GAUGE', vt: 'INT64' };
    case 'ALIGN_DELTA':
      return { kind: 'DELTA', vt: s.valueType };
    case 'ALIGN_NEXT_OLDER':
      return { kind: s.metricKind, vt: s.valueType };
    default:
      return { kind: 'GAUGE', vt: s.valueType };
  }
}

function alignSeries(
  s: Series,
  aligner: Aligner,
  periodMs: number,
  startMs: number,
  endMs: number,
): ResultSeries {
  const { kind, vt } = alignedKind(aligner, s);
  const out: Point[] = [];
  for (let t = endMs; t > startMs || (t === endMs && startMs === endMs); t -= periodMs) {
    const value = alignWindow(s, aligner, t - periodMs, t, vt);
    if (value !== undefined) {
      out.push({ ...(kind === 'GAUGE' ? {} : { startMs: t - periodMs }), endMs: t, value });
    }
    if (startMs === endMs) break;
  }
  return {
    metric: s.metric,
    resource: s.resource,
    metricKind: kind,
    valueType: vt,
    userLabels: s.userLabels,
    points: out,
  };
}

function alignWindow(
  s: Series,
  aligner: Aligner,
  fromMs: number,
  toMs: number,
  vt: ValueType,
): TypedValue | undefined {
  const inWindow = s.points.filter((p) => p.endMs > fromMs && p.endMs <= toMs);
  const periodSec = (toMs - fromMs) / 1000;
  if (aligner === 'ALIGN_NEXT_OLDER') {
    const last = inWindow.at(-1);
    return last?.value;
  }
  if (aligner === 'ALIGN_DELTA' || aligner === 'ALIGN_RATE') {
    const delta = s.metricKind === 'CUMULATIVE' ? cumulativeDelta(s, inWindow, fromMs) : deltaSum(inWindow);
    if (delta === undefined) return undefined;
    if (aligner === 'ALIGN_RATE') return { doubleValue: numericValue(delta) / periodSec };
    return delta;
  }
  if (inWindow.length === 0) return undefined;
  const values = inWindow.map((p) => numericValue(p.value));
  switch (aligner) {
    case 'ALIGN_MIN':
      return typedValue(vt, Math.min(...values));
    case 'ALIGN_MAX':
      return typedValue(vt, Math.max(...values));
    case 'ALIGN_MEAN':
      return { doubleValue: values.reduce((a, b) => a + b, 0) / values.length };
    case 'ALIGN_SUM':
      return typedValue(
        vt,
        values.reduce((a, b) => a + b, 0),
      );
    case 'ALIGN_COUNT':
      return { int64Value: String(values.length) };
    default:
      return undefined;
  }
}

function deltaSum(points: Point[]): TypedValue | undefined {
  if (points.length === 0) return undefined;
  const first = points[0] as Point;
  if ('distributionValue' in first.value) {
    return points.slice(1).reduce<TypedValue>((acc, p) => mergeDistribution(acc, p.value, 1), first.value);
  }
  const sum = points.reduce((a, p) => a + numericValue(p.value), 0);
  return 'int64Value' in first.value ? { int64Value: String(sum) } : { doubleValue: sum };
}

/**
 * The increase of a cumulative series over a window: last point in the window minus the last
 * point before it. A reset (new start time, or a value going down) counts from zero. Without a
 * point before the window, the window's first point is the baseline unless the series started
 * inside the window.
 */
function cumulativeDelta(s: Series, inWindow: Point[], fromMs: number): TypedValue | undefined {
  const last = inWindow.at(-1);
  if (!last) return undefined;
  const before = s.points.filter((p) => p.endMs <= fromMs).at(-1);
  let base: Point | undefined = before;
  if (!base) {
    if (last.startMs !== undefined && last.startMs >= fromMs) return last.value;
    base = inWindow.length >= 2 ? inWindow[0] : undefined;
    if (!base) return undefined;
  }
  const reset = last.startMs !== undefined && base.startMs !== undefined && last.startMs > base.startMs;
  if ('distributionValue' in last.value) {
    if (reset) return last.value;
    return mergeDistribution(last.value, base.value, -1);
  }
  const lv = numericValue(last.value);
  const bv = numericValue(base.value);
  const d = reset || lv < bv ? lv : lv - bv;
  return 'int64Value' in last.value ? { int64Value: String(d) } : { doubleValue: d };
}

/** a + sign*b on count and sum (and bucket counts when the bounds agree). */
function mergeDistribution(a: TypedValue, b: TypedValue, sign: 1 | -1): TypedValue {
  if (!('distributionValue' in a) || !('distributionValue' in b)) return a;
  const da = a.distributionValue;
  const db = b.distributionValue;
  const count = Number(da.count) + sign * Number(db.count);
  const sum = Number(da.count) * da.mean + sign * Number(db.count) * db.mean;
  const sameBounds =
    JSON.stringify(da.bucketOptions ?? null) === JSON.stringify(db.bucketOptions ?? null) &&
    (da.bucketCounts?.length ?? 0) === (db.bucketCounts?.length ?? 0);
  const out: Distribution = {
    count: String(Math.max(0, count)),
    mean: count > 0 ? sum / count : 0,
    ...(da.bucketOptions ? { bucketOptions: da.bucketOptions } : {}),
    ...(da.bucketCounts && sameBounds
      ? {
          bucketCounts: da.bucketCounts.map((c, i) =>
            String(Math.max(0, Number(c) + sign * Number(db.bucketCounts?.[i] ?? 0))),
          ),
        }
      : {}),
  };
  return { distributionValue: out };
}

/** `metric.labels.k` / `metric.label.k` / `resource.labels.k` / `metric.type` / `resource.type`. */
function groupValue(s: ResultSeries, field: string): string | undefined {
  const m = /^(metric|resource)\.(type|labels?\.(.+))$/.exec(field);
  if (!m) return undefined;
  const part = m[1] === 'metric' ? s.metric : s.resource;
  return m[2] === 'type' ? part.type : part.labels[m[3] as string];
}

function reduce(series: ResultSeries[], reducer: Reducer, groupBy: string[], field: string): ResultSeries[] {
  for (const g of groupBy) {
    if (
      !/^(metric|resource)\.(type|labels?\..+)$/.test(g) &&
      !/^metadata\.(user|system)_labels\..+$/.test(g)
    ) {
      throw invalidField(`${field}.groupByFields`, 'Unsupported group-by field.', g);
    }
  }
  const groups = new Map<string, ResultSeries[]>();
  for (const s of series) {
    const key = JSON.stringify(groupBy.map((g) => groupValue(s, g) ?? ''));
    const list = groups.get(key) ?? [];
    list.push(s);
    groups.set(key, list);
  }
  const out: ResultSeries[] = [];
  for (const members of groups.values()) {
    const first = members[0] as ResultSeries;
    const metricLabels: Record<string, string> = {};
    const resourceLabels: Record<string, string> = {};
    for (const g of groupBy) {
      const m = /^(metric|resource)\.labels?\.(.+)$/.exec(g);
      const v = groupValue(first, g);
      if (!m || v === undefined) continue;
      if (m[1] === 'metric') metricLabels[m[2] as string] = v;
      else resourceLabels[m[2] as string] = v;
    }
    const byTime = new Map<number, number[]>();
    for (const s of members) {
      for (const p of s.points) {
        const list = byTime.get(p.endMs) ?? [];
        list.push(numericValue(p.value));
        byTime.set(p.endMs, list);
      }
    }
    const vt: ValueType =
      reducer === 'REDUCE_COUNT' ? 'INT64' : reducer === 'REDUCE_MEAN' ? 'DOUBLE' : first.valueType;
    if (vt === 'DISTRIBUTION' || vt === 'STRING') {
      throw invalidField(
        `${field}.crossSeriesReducer`,
        `The reducer cannot be applied to metrics with value type ${first.valueType} in the local server.`,
        reducer,
      );
    }
    const times = [...byTime.keys()].sort((a, b) => b - a);
    const points: Point[] = times.map((t) => {
      const values = byTime.get(t) ?? [];
      const startMs = first.points.find((p) => p.endMs === t)?.startMs;
      return {
        ...(startMs === undefined || first.metricKind === 'GAUGE' ? {} : { startMs }),
        endMs: t,
        value: typedValue(vt, reduceValues(reducer, values)),
      };
    });
    out.push({
      metric: { type: first.metric.type, labels: metricLabels },
      resource: { type: first.resource.type, labels: resourceLabels },
      metricKind: first.metricKind,
      valueType: vt,
      userLabels: {},
      points,
    });
  }
  return out;
}

function reduceValues(reducer: Reducer, values: number[]): number {
  switch (reducer) {
    case 'REDUCE_SUM':
      return values.reduce((a, b) => a + b, 0);
    case 'REDUCE_MEAN':
      return values.reduce((a, b) => a + b, 0) / values.length;
    case 'REDUCE_MIN':
      return Math.min(...values);
    case 'REDUCE_MAX':
      return Math.max(...values);
    case 'REDUCE_COUNT':
      return values.length;
    default:
      return Number.NaN;
  }
}
